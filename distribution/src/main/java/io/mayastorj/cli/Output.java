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
                out.println(JsonFormat.printer().alwaysPrintFieldsWithNoPresence().print(message));
            } catch (InvalidProtocolBufferException e) {
                throw new IllegalStateException(e);
            }
        } else {
            text.run();
        }
    }
}
