package io.mayastorj.itests;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterTestExecutionCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Removes each test class's {@link Scratch} directories after it (registered for every class by
 * JUnit's extension auto-detection: META-INF/services and junit-platform.properties).
 */
public final class ScratchCleanup implements BeforeAllCallback, AfterTestExecutionCallback, AfterAllCallback {

    /** Whether a test of the class running on this thread failed (classes may run side by side). */
    private static final ThreadLocal<Boolean> FAILED = ThreadLocal.withInitial(() -> false);

    @Override
    public void beforeAll(ExtensionContext context) {
        FAILED.set(false);
        Scratch.own();
    }

    @Override
    public void afterTestExecution(ExtensionContext context) {
        if (context.getExecutionException().isPresent()) {
            FAILED.set(true);
        }
    }

    @Override
    public void afterAll(ExtensionContext context) {
        boolean any = FAILED.get() || context.getExecutionException().isPresent();
        FAILED.remove();
        Scratch.cleanUp(context.getDisplayName(), any);
    }
}
