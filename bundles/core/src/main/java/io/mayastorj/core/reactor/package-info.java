/**
 * Reactors: the node's few I/O threads. Each owns a selector, a task queue and timers; work moves
 * between threads through queues, not locks. {@link Listener} is a transport's TCP listener on them.
 */
@Export
@Version("1.1.0")
package io.mayastorj.core.reactor;

import org.osgi.annotation.bundle.Export;
import org.osgi.annotation.versioning.Version;
