package io.mayastorj.launcher;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.logging.ErrorManager;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Felix SCR's own messages, which it prints on standard output and error when no OSGi log service
 * is there ({@code ERROR : bundle … : Error during instantiation …} and the whole stack trace),
 * turned into one line of the node's log each ({@code ERROR [scr] bundle …}), the stack trace kept
 * for {@code --log-level debug}. A port already taken made a node print some 500 lines of traces
 * around the one line that said so. Every other line passes through unchanged.
 */
final class ScrOutput extends OutputStream {

    private static final Logger LOG = Logger.getLogger("mayastor.scr");
    private static final Pattern HEADER = Pattern.compile("^(ERROR|WARN|WARNING|INFO|DEBUG) *: (bundle .*)$");
    private static final Pattern TRACE = Pattern.compile(
            "^(\\s+at .*|Caused by: .*|\\s+\\.\\.\\. \\d+ more|\\s+Suppressed: .*|[\\w$.]+(Exception|Error|Throwable)(: .*)?)$");

    private final PrintStream through;
    private final ByteArrayOutputStream line = new ByteArrayOutputStream(256);
    /** The SCR message whose stack trace is being read, or null. */
    private LogRecord pending;
    private StringBuilder trace;
    /** A record of this stream's is being logged on this thread (the lock is held). */
    private boolean logging;

    private ScrOutput(PrintStream through) {
        this.through = through;
    }

    /** Standard output and error filtered, for the life of the process. */
    static void install() {
        // the log's console handler binds the standard error it finds when it is made; made later, it
        // would write into the filtered stream, taking its locks in the order opposite to an SCR line
        // being logged (stream, then handler): a node deadlocked so on start-up, once in some forty
        // starts with its nvmf port taken on a busy machine. Made now (getHandlers makes them), it writes
        // to the real one, and so do a handler's own failures (a record it cannot format)
        PrintStream err = System.err;
        for (Handler handler : Logger.getLogger("").getHandlers()) {
            handler.setErrorManager(new ErrorManager() {
                private boolean reported;

                @Override
                public synchronized void error(String message, Exception e, int code) {
                    if (!reported) { // once, as the JDK's own does
                        reported = true;
                        err.println("logging failed (" + code + "): " + message + (e == null ? "" : ": " + e));
                    }
                }
            });
        }
        System.setOut(new PrintStream(new ScrOutput(System.out), true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(new ScrOutput(System.err), true, StandardCharsets.UTF_8));
    }

    @Override
    public synchronized void write(int b) {
        if (logging) { // the log's own console output, while this stream logs a line (reentrant): as it is
            through.write(b);
            return;
        }
        if (b == '\n') {
            String text = line.toString(StandardCharsets.UTF_8);
            line.reset();
            line(text.endsWith("\r") ? text.substring(0, text.length() - 1) : text);
        } else {
            line.write(b);
        }
    }

    @Override
    public synchronized void write(byte[] b, int off, int len) {
        if (logging) {
            through.write(b, off, len);
            return;
        }
        for (int i = off; i < off + len; i++) {
            write(b[i]);
        }
    }

    @Override
    public synchronized void flush() {
        if (pending == null && line.size() > 0 && !HEADER.matcher(line.toString(StandardCharsets.UTF_8)).matches()) {
            // a prompt or a partial line that is not SCR's: out now
            through.print(line.toString(StandardCharsets.UTF_8));
            line.reset();
        }
        through.flush();
    }

    private void line(String text) {
        if (pending != null) {
            if (TRACE.matcher(text).matches()) {
                trace.append(text).append('\n');
                return;
            }
            publish();
            if (text.isEmpty()) {
                return; // SCR ends a trace with an empty line
            }
        }
        Matcher m = HEADER.matcher(text);
        if (m.matches()) {
            pending = new LogRecord(level(m.group(1)), m.group(2));
            pending.setLoggerName(LOG.getName());
            trace = new StringBuilder();
            log(pending); // at once: a stack trace may follow, or nothing for a long while
            return;
        }
        through.println(text);
    }

    /** The stack trace that followed an SCR message is over: to the log at debug. */
    private void publish() {
        pending = null;
        if (trace.length() > 0 && LOG.isLoggable(Level.FINE)) {
            LogRecord record = new LogRecord(Level.FINE, "the stack trace of that:\n" + trace.toString().stripTrailing());
            record.setLoggerName(LOG.getName());
            log(record);
        }
    }

    private void log(LogRecord record) {
        logging = true;
        try {
            LOG.log(record);
        } finally {
            logging = false;
        }
    }

    private static Level level(String name) {
        return switch (name) {
            case "ERROR" -> Level.SEVERE;
            case "WARN", "WARNING" -> Level.WARNING;
            case "INFO" -> Level.INFO;
            default -> Level.FINE;
        };
    }
}
