package io.mayastorj.core.internal.shell;

import org.apache.felix.service.command.Converter;
import org.osgi.framework.Bundle;
import org.osgi.framework.BundleContext;
import org.osgi.service.component.annotations.Activate;
import org.osgi.service.component.annotations.Component;

/**
 * Lets shell commands take a bundle by id or symbolic name ({@code inspect capability service 2},
 * {@code headers io.mayastorj.core}, {@code update 5}). Gogo's JLine bundle brings such a converter,
 * but it is installed only with the interactive console; without this one, Felix's own commands
 * could not name a bundle on a headless node.
 */
@Component(service = Converter.class)
public final class BundleConverter implements Converter {

    private final BundleContext context;

    @Activate
    public BundleConverter(BundleContext context) {
        this.context = context;
    }

    @Override
    public Object convert(Class<?> desired, Object in) {
        if (desired == Bundle.class) {
            return bundle(in);
        }
        if (desired == Bundle[].class && !(in instanceof Object[])) {
            Bundle bundle = bundle(in);
            return bundle == null ? null : new Bundle[] {bundle};
        }
        return null;
    }

    private Bundle bundle(Object in) {
        if (in instanceof Number n) {
            return context.getBundle(n.longValue());
        }
        String text = String.valueOf(in).strip();
        if (text.matches("[0-9]+")) {
            return context.getBundle(Long.parseLong(text));
        }
        for (Bundle b : context.getBundles()) {
            if (text.equals(b.getSymbolicName())) {
                return b;
            }
        }
        return null;
    }

    @Override
    public CharSequence format(Object target, int level, Converter escape) {
        return null; // the default formatting is fine
    }
}
