package io.mayastorj.launcher;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.util.Dictionary;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.framework.ServiceReference;
import org.osgi.util.tracker.ServiceTracker;

/**
 * Config Admin as the launcher reaches it. The launcher and the bundles see Config Admin's API
 * through different class loaders, so it is called reflectively, with JDK types only.
 */
final class Configurations implements AutoCloseable {

    private final ServiceTracker<Object, Object> tracker;
    private final Object admin;
    private final Method get;
    private final Method update;
    private final Method delete;

    private Configurations(ServiceTracker<Object, Object> tracker, Object admin, ServiceReference<Object> ref) throws ReflectiveOperationException {
        this.tracker = tracker;
        this.admin = admin;
        Class<?> adminType = ref.getBundle().loadClass("org.osgi.service.cm.ConfigurationAdmin");
        Class<?> configType = ref.getBundle().loadClass("org.osgi.service.cm.Configuration");
        this.get = adminType.getMethod("getConfiguration", String.class, String.class);
        this.update = configType.getMethod("update", Dictionary.class);
        this.delete = configType.getMethod("delete");
    }

    /** Starts Config Admin's bundle (installed, not yet started) and waits for its service. */
    static Configurations start(BundleContext context) throws Exception {
        ServiceTracker<Object, Object> tracker = new ServiceTracker<>(context,
                context.createFilter("(objectClass=org.osgi.service.cm.ConfigurationAdmin)"), null);
        tracker.open(true);
        try {
            Bundle cm = null;
            for (Bundle b : context.getBundles()) {
                if ("org.apache.felix.configadmin".equals(b.getSymbolicName())) {
                    cm = b;
                }
            }
            if (cm == null) {
                throw new IllegalStateException("the distribution lacks org.apache.felix.configadmin");
            }
            cm.start();
            Object admin = tracker.waitForService(10_000);
            if (admin == null) {
                throw new IllegalStateException("Config Admin did not start");
            }
            return new Configurations(tracker, admin, tracker.getServiceReference());
        } catch (Exception | Error e) {
            tracker.close();
            throw e;
        }
    }

    /** Sets the configuration of {@code pid} (bound to whichever bundle asks for it first). */
    void update(String pid, Dictionary<String, Object> properties) throws Exception {
        call(update, get.invoke(admin, pid, "?"), properties);
    }

    /** Removes the configuration of {@code pid}: its component goes back to its defaults. */
    void delete(String pid) throws Exception {
        call(delete, get.invoke(admin, pid, "?"));
    }

    private static void call(Method m, Object target, Object... args) throws Exception {
        try {
            m.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause() instanceof Exception cause ? cause : e;
        }
    }

    @Override
    public void close() {
        tracker.close();
    }
}
