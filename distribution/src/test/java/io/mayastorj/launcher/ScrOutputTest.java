package io.mayastorj.launcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ScrOutputTest {

    /**
     * SCR printing its error lines while another thread logs: a node started with its nvmf port
     * taken deadlocked so, its log's console handler made after the filter and writing into it (the
     * stream's lock, then the handler's, against the handler's, then the stream's). In a JVM of its
     * own, whose logging is first used after the filter is installed, as in the node.
     */
    @Test
    void scrLinesAndLogRecordsFromTwoThreadsAtOnceDoNotDeadlock(@TempDir Path dir) throws Exception {
        Path config = dir.resolve("logging.properties");
        Files.writeString(config, "handlers = java.util.logging.ConsoleHandler\n.level = INFO\n");
        Path java = Path.of(System.getProperty("java.home"), "bin", "java");
        Process p = new ProcessBuilder(java.toString(), "-cp", "target/classes" + File.pathSeparator + "target/test-classes",
                "-Djava.util.logging.config.file=" + config, Race.class.getName())
                .redirectErrorStream(true).redirectOutput(dir.resolve("out").toFile()).start();
        boolean ended = p.waitFor(30, TimeUnit.SECONDS);
        if (!ended) {
            p.destroyForcibly();
        }
        List<String> out = Files.readAllLines(dir.resolve("out"), StandardCharsets.UTF_8);
        assertTrue(ended, "the child JVM did not end: deadlocked\n" + String.join("\n", out.subList(Math.max(0, out.size() - 20),
                out.size())));
        assertEquals(0, p.exitValue(), String.join("\n", out.subList(Math.max(0, out.size() - 20), out.size())));
        assertTrue(out.contains("raced"), "the child's last word");
        assertTrue(out.stream().anyMatch(l -> l.contains("SEVERE: bundle b (1) : cannot start")), "SCR's line, logged");
        assertTrue(out.stream().noneMatch(l -> l.startsWith("\tat ")), "no stack trace at INFO");
    }

    /** The child: the filter installed, then one thread prints SCR's lines while another logs, for a second. */
    static final class Race {
        public static void main(String[] args) throws Exception {
            ScrOutput.install();
            Logger log = Logger.getLogger("mayastor.race");
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(1);
            Thread scr = new Thread(() -> {
                while (System.nanoTime() < end) {
                    System.err.println("ERROR : bundle b (1) : cannot start");
                    System.err.println("java.io.IOException: Address already in use");
                    System.err.println("\tat b.B.start(B.java:1)");
                    System.err.println();
                }
            });
            Thread node = new Thread(() -> {
                while (System.nanoTime() < end) {
                    log.info("a record");
                }
            });
            scr.start();
            node.start();
            scr.join();
            node.join();
            System.out.println("raced");
        }
    }
}
