/**
 * The block-device (bdev) SPI: {@link io.mayastorj.core.bdev.BlockDevice}, the factories that open
 * bdevs from URIs, and the registry that names them. I/O is asynchronous, on pooled native buffers,
 * and completes through an {@link io.mayastorj.core.bdev.IoCompletion} callback.
 */
@Export
@Version("1.9.0")
package io.mayastorj.core.bdev;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
