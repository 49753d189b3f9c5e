package io.mayastorj.cli;

import java.io.Serial;

/** A command line that cannot be run as given; the message says what is wrong. Exit code 2. */
final class UsageException extends RuntimeException {
    @Serial
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
        super(message);
    }
}
