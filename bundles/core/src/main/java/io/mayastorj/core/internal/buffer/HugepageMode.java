package io.mayastorj.core.internal.buffer;

import io.mayastorj.core.error.MayastorException;
import java.util.Locale;

/** Whether the buffer pool lies on hugepages. */
public enum HugepageMode {
    /** Hugepages when the node has enough, else ordinary memory with one warning. */
    AUTO,
    /** Hugepages or the node does not start. */
    ON,
    /** Ordinary memory. */
    OFF;

    public static HugepageMode parse(String text) {
        try {
            return valueOf(text.strip().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException | NullPointerException e) {
            throw MayastorException.invalidArgument("hugepages=%s: expected auto, on or off", text);
        }
    }
}
