/**
 * Lock-free building blocks for I/O paths that allocate nothing: {@link
 * io.mayastorj.core.concurrent.FreeList} for pools of preallocated objects and {@link
 * io.mayastorj.core.concurrent.MpscRing} for handing work to one thread.
 */
@Export
@Version("1.0.0")
package io.mayastorj.core.concurrent;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
