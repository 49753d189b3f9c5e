package io.mayastorj.core.internal.nativeio;

import java.io.FileDescriptor;
import java.io.IOException;
import java.lang.reflect.Constructor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.nio.channels.SelectableChannel;
import java.nio.channels.spi.SelectorProvider;
import java.util.Optional;

/**
 * A raw file descriptor (an eventfd) as a channel a reactor's {@link java.nio.channels.Selector}
 * can watch, so that a reactor sleeps in one place for its sockets and its I/O rings alike.
 *
 * <p>The JDK has no public way to select on a descriptor it did not open. Its pipe's read end is a
 * selectable channel over any descriptor, so this builds one around the eventfd. That needs
 * {@code --add-opens java.base/sun.nio.ch=ALL-UNNAMED}, which every launcher of the node passes;
 * without it {@link #unavailable()} says why and the callers fall back (uring to aio).
 */
public final class SelectableFd {

    private static final Constructor<?> SOURCE_CHANNEL;
    private static final Method NEW_FD;
    private static final String UNAVAILABLE;

    static {
        Constructor<?> constructor = null;
        Method newFd = null;
        String why = null;
        try {
            // The boot loader directly: a bundle's class loader does not delegate sun.* to it.
            Class<?> source = Class.forName("sun.nio.ch.SourceChannelImpl", false, null);
            constructor = source.getDeclaredConstructor(SelectorProvider.class, FileDescriptor.class);
            constructor.setAccessible(true);
            newFd = Class.forName("sun.nio.ch.IOUtil", false, null).getDeclaredMethod("newFD", int.class);
            newFd.setAccessible(true);
        } catch (ReflectiveOperationException | RuntimeException e) {
            // InaccessibleObjectException (a RuntimeException) when the JVM was started without the flag
            why = "the JVM does not open java.base/sun.nio.ch to the node (start it with "
                    + "--add-opens java.base/sun.nio.ch=ALL-UNNAMED): " + e.getMessage();
            constructor = null;
            newFd = null;
        }
        SOURCE_CHANNEL = constructor;
        NEW_FD = newFd;
        UNAVAILABLE = why;
    }

    private SelectableFd() {
    }

    /** Why descriptors cannot be selected on in this JVM, or empty when they can. */
    public static Optional<String> unavailable() {
        return Optional.ofNullable(UNAVAILABLE);
    }

    /**
     * A selectable channel over {@code fd}. The channel owns the descriptor from now on: closing
     * the channel closes it.
     */
    public static SelectableChannel wrap(int fd) throws IOException {
        if (UNAVAILABLE != null) {
            throw new IOException(UNAVAILABLE);
        }
        try {
            Object descriptor = NEW_FD.invoke(null, fd);
            return (SelectableChannel) SOURCE_CHANNEL.newInstance(SelectorProvider.provider(), descriptor);
        } catch (InvocationTargetException e) {
            throw new IOException("cannot make descriptor " + fd + " selectable: " + e.getCause(), e.getCause());
        } catch (ReflectiveOperationException e) {
            throw new IOException("cannot make descriptor " + fd + " selectable: " + e, e);
        }
    }
}
