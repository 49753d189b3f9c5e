package io.mayastorj.cli;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.MessageOrBuilder;
import com.google.protobuf.util.JsonFormat;
import java.io.PrintStream;

/** Where a ctl command prints: a readable text, or the node's answer as JSON with --json. */
final class Output {

    final PrintStream out;
    final PrintStream err;
    final boolean json;

    Output(PrintStream out, PrintStream err, boolean json) {
        this.out = out;
        this.err = err;
        this.json = json;
    }

    void print(MessageOrBuilder message, Runnable text) {
        if (json) {
            try {
                out.println(json(JsonFormat.printer().alwaysPrintFieldsWithNoPresence().print(message)));
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException(e);
            }
        } else {
            text.run();
        }
    }

    /**
     * protobuf's JSON as a script expects it: its printer escapes {@code = < > & '} as if the JSON
     * were going into HTML ({@code "malloc:///m0?size_mb\u003d64"}); those escapes become the
     * characters again. Escapes are read pairwise, so an escaped backslash followed by {@code u003d}
     * stays as it was.
     */
    static String json(String printed) {
        StringBuilder b = new StringBuilder(printed.length());
        for (int i = 0; i < printed.length(); i++) {
            char c = printed.charAt(i);
            if (c != '\\' || i + 1 >= printed.length()) {
                b.append(c);
                continue;
            }
            if (printed.charAt(i + 1) == 'u' && i + 6 <= printed.length()) {
                String hex = printed.substring(i + 2, i + 6);
                switch (hex) {
                    case "003d", "003c", "003e", "0026", "0027" -> {
                        b.append((char) Integer.parseInt(hex, 16));
                        i += 5;
                        continue;
                    }
                    default -> { }
                }
            }
            b.append(c).append(printed.charAt(i + 1));
            i++;
        }
        return b.toString();
    }
}
