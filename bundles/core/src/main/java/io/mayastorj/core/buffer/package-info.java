/**
 * Pooled native I/O buffers ({@link io.mayastorj.core.buffer.DmaBuffer}), on 2 MiB hugepages when the
 * node has them.
 */
@Export
@Version("1.1.0")
package io.mayastorj.core.buffer;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
