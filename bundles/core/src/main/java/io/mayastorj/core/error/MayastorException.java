package io.mayastorj.core.error;

import java.io.Serial;
import java.util.Locale;

/**
 * A failed request, with a kind a caller can act on and a message a person understands. Messages
 * name the object and say what to do where that is clear, e.g. "bdev m0 is in use by pool p0".
 */
public class MayastorException extends RuntimeException {
    @Serial
    private static final long serialVersionUID = 1L;

    private final ErrorKind kind;

    public MayastorException(ErrorKind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public MayastorException(ErrorKind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public ErrorKind kind() {
        return kind;
    }

    public static MayastorException invalidArgument(String format, Object... args) {
        return new MayastorException(ErrorKind.INVALID_ARGUMENT, format(format, args));
    }

    public static MayastorException notFound(String format, Object... args) {
        return new MayastorException(ErrorKind.NOT_FOUND, format(format, args));
    }

    public static MayastorException alreadyExists(String format, Object... args) {
        return new MayastorException(ErrorKind.ALREADY_EXISTS, format(format, args));
    }

    public static MayastorException resourceExhausted(String format, Object... args) {
        return new MayastorException(ErrorKind.RESOURCE_EXHAUSTED, format(format, args));
    }

    public static MayastorException failedPrecondition(String format, Object... args) {
        return new MayastorException(ErrorKind.FAILED_PRECONDITION, format(format, args));
    }

    public static MayastorException unavailable(String format, Object... args) {
        return new MayastorException(ErrorKind.UNAVAILABLE, format(format, args));
    }

    public static MayastorException aborted(String format, Object... args) {
        return new MayastorException(ErrorKind.ABORTED, format(format, args));
    }

    public static MayastorException outOfRange(String format, Object... args) {
        return new MayastorException(ErrorKind.OUT_OF_RANGE, format(format, args));
    }

    public static MayastorException deadlineExceeded(String format, Object... args) {
        return new MayastorException(ErrorKind.DEADLINE_EXCEEDED, format(format, args));
    }

    public static MayastorException internal(String format, Object... args) {
        return new MayastorException(ErrorKind.INTERNAL, format(format, args));
    }

    private static String format(String format, Object... args) {
        return args.length == 0 ? format : String.format(Locale.ROOT, format, args);
    }

    @Override
    public String toString() {
        return kind + ": " + getMessage();
    }
}
