/**
 * Plain-text tables and sizes for shell and CLI output.
 */
@Export
@Version("1.2.0")
package io.mayastorj.core.text;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
