/**
 * Errors that callers act on: a {@link io.mayastorj.core.error.MayastorException} carries an
 * {@link io.mayastorj.core.error.ErrorKind} that the gRPC layer maps one to one onto a status code.
 */
@Export
@Version("1.2.0")
package io.mayastorj.core.error;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
