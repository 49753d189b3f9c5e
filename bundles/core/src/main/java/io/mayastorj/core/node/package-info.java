/**
 * The node's identity and settings as other bundles see them.
 */
@Export
@Version("1.2.0")
package io.mayastorj.core.node;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
