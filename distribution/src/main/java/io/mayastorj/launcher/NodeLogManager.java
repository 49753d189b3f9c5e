package io.mayastorj.launcher;

import java.util.logging.LogManager;

/**
 * Keeps logging alive while the node shuts down. The JDK's LogManager closes every handler from its
 * own shutdown hook, which races with the node's hook: the lines that say what the node did while
 * stopping would be lost. This manager ignores that one reset; console handlers flush on every
 * record, so nothing is lost by skipping it.
 */
public final class NodeLogManager extends LogManager {

    @Override
    public void reset() {
        if (Thread.currentThread().getClass().getName().equals("java.util.logging.LogManager$Cleaner")) {
            return;
        }
        super.reset();
    }
}
