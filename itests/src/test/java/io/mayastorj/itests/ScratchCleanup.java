package io.mayastorj.itests;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterTestExecutionCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Removes each test class's {@link Scratch} directories after it (registered for every class by
 * JUnit's extension auto-detection: META-INF/services and junit-platform.properties).
 */
public final class ScratchCleanup implements AfterTestExecutionCallback, AfterAllCallback {

    private static volatile boolean failed;

    @Override
    public void afterTestExecution(ExtensionContext context) {
        if (context.getExecutionException().isPresent()) {
            failed = true;
        }
    }

    @Override
    public void afterAll(ExtensionContext context) {
        boolean any = failed || context.getExecutionException().isPresent();
        failed = false;
        Scratch.cleanUp(context.getDisplayName(), any);
    }
}
