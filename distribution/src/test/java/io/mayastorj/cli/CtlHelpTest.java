package io.mayastorj.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code mayastor ctl --help} against what ctl dispatches, both ways: every "resource verb" the help
 * lists is dispatched (the dispatcher does not answer "unknown command"), and every verb the
 * dispatcher takes is in the help. The verbs to try come from the help and from the {@code case}
 * labels of the ctl sources, so a verb added to a switch and not to the help fails here.
 */
class CtlHelpTest {

    private static final Set<String> RESOURCES = Set.of("node", "bdev", "pool", "replica", "nexus", "volume");
    private static final Pattern HELP_PAIR = Pattern.compile("(?m)(?:^  |\\| )(node|bdev|pool|replica|nexus|volume) ([a-z][a-z-]*)");
    private static final Pattern CASE = Pattern.compile("case (\"[^\"]+\"(?:, \"[^\"]+\")*) ->");

    @Test
    void everyVerbInTheHelpIsDispatchedAndEveryDispatchedVerbIsInTheHelp() throws Exception {
        Set<String> inHelp = new TreeSet<>();
        Matcher m = HELP_PAIR.matcher(Ctl.USAGE);
        while (m.find()) {
            inHelp.add(m.group(1) + " " + m.group(2));
        }
        assertTrue(inHelp.size() > 30, "the help lists the verbs: " + inHelp);

        Set<String> candidates = new TreeSet<>(inHelp);
        Path sources = Path.of("src/main/java/io/mayastorj/cli");
        for (String file : List.of("Ctl", "PoolCtl", "ReplicaCtl", "NexusCtl", "VolumeCtl")) {
            String source = Files.readString(sources.resolve(file + ".java"));
            Matcher c = CASE.matcher(source);
            while (c.find()) {
                for (String label : c.group(1).replace("\"", "").split(", ")) {
                    String resource = file.equals("Ctl") ? null : file.replace("Ctl", "").toLowerCase(java.util.Locale.ROOT);
                    if (resource == null && label.contains(" ")) {
                        candidates.add(label);
                    } else if (resource != null) {
                        candidates.add(resource + " " + label);
                    }
                }
            }
        }
        Set<String> dispatched = new TreeSet<>();
        for (String pair : candidates) {
            String[] words = pair.split(" ");
            if (!RESOURCES.contains(words[0])) {
                continue;
            }
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int exit = Main.run(List.of("ctl", "--node", "127.0.0.1:1", "--control", "127.0.0.1:1", "--timeout", "1", words[0],
                    words[1]), new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
            String said = err.toString(StandardCharsets.UTF_8);
            if (!said.contains("unknown command")) {
                dispatched.add(pair);
                assertTrue(exit != 0, pair + " without its arguments, against no node, cannot succeed: " + said);
            }
        }
        Set<String> undocumented = new TreeSet<>(dispatched);
        undocumented.removeAll(inHelp);
        assertEquals(Set.of(), undocumented, "dispatched but not in mayastor ctl --help");
        Set<String> missing = new TreeSet<>(inHelp);
        missing.removeAll(dispatched);
        assertEquals(Set.of(), missing, "in mayastor ctl --help but not dispatched");
        Set<String> unlisted = new TreeSet<>(dispatched);
        unlisted.removeAll(Ctl.OPTIONS.keySet());
        assertEquals(Set.of(), unlisted, "dispatched but without its options in Ctl.OPTIONS (every option would be refused)");
        assertFalse(dispatched.isEmpty());
    }

    /** The top-level help lists every command Main dispatches, and describes ctl and demo as they are now. */
    @Test
    void theTopLevelHelpSaysWhatEachCommandDoes() {
        for (String command : List.of("node", "control", "csi-node", "ctl", "shell", "bench", "demo", "version")) {
            assertTrue(Main.USAGE.contains("\n  " + command + " "), command + " in:\n" + Main.USAGE);
        }
        assertTrue(Main.USAGE.contains("pools, replicas, nexuses"), Main.USAGE);
        assertFalse(Main.USAGE.contains("a malloc and an aio bdev"), "demo's old description:\n" + Main.USAGE);
    }

    /** Review finding: --local was in the help and read by volume create, but refused as unknown. */
    @Test
    void everyOptionTheHelpNamesIsOneTheParserTakes() {
        Matcher m = Pattern.compile("--([a-z][a-z-]*)").matcher(Ctl.USAGE);
        Set<String> unknown = new TreeSet<>();
        while (m.find()) {
            if (!Ctl.FLAGS.contains(m.group(1)) && !Ctl.VALUED.contains(m.group(1))) {
                unknown.add(m.group(1));
            }
        }
        assertEquals(Set.of(), unknown, "options in mayastor ctl --help that ctl refuses as unknown");
    }

    /**
     * Review finding: an address that takes the connection and never answers (or drops it) ran into
     * the call's deadline, printed gRPC's raw text and exited 1, "the node refused", instead of 3.
     */
    @Test
    void aNodeThatNeverAnswersIsUnreachable() throws Exception {
        try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
            String address = "127.0.0.1:" + silent.getLocalPort();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int exit = Main.run(List.of("ctl", "--node", address, "--timeout", "1", "node", "info"),
                    new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
            String said = err.toString(StandardCharsets.UTF_8);
            assertEquals(3, exit, said);
            assertTrue(said.contains("cannot reach " + address + ": no answer within the timeout"), said);
        }
    }

    /** Review finding: a runtime that failed to start printed on stdout, then a stack trace, for a plain I/O problem. */
    @Test
    void aNodeThatCannotStartSaysWhyInOneLineOnStderr(@org.junit.jupiter.api.io.TempDir Path dir) {
        System.setProperty("mayastor.home", dir.toString());
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int exit = Main.run(List.of("node", "--node-id", "n1", "--state-dir", "/proc/no-such/state"),
                    new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
            String said = err.toString(StandardCharsets.UTF_8);
            assertEquals(1, exit, said);
            assertTrue(said.startsWith("error: ") && said.lines().count() == 1, said);
            assertEquals("", out.toString(StandardCharsets.UTF_8));
        } finally {
            System.clearProperty("mayastor.home");
        }
    }

    /** Review finding: 'delete msv a b' deleted a and said nothing of b; the volume commands took extra words too. */
    @Test
    void extraWordsAreRefusedBeforeAnythingIsAsked() {
        for (List<String> words : List.of(List.of("delete", "msv", "a", "b"), List.of("volume", "destroy", "a", "b"),
                List.of("get", "msv", "a", "b"), List.of("volume", "publish", "a", "b", "--node", "n1"))) {
            List<String> argv = new java.util.ArrayList<>(List.of("ctl", "--control", "127.0.0.1:1", "--timeout", "1"));
            argv.addAll(words);
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            int exit = Main.run(argv, new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
            String said = err.toString(StandardCharsets.UTF_8);
            assertEquals(2, exit, words + ": " + said);
            assertTrue(said.contains("unexpected argument 'b'"), words + ": " + said);
        }
    }

    /** Review finding: 'mayastor version --bogus' printed the version and exited 0. */
    @Test
    void versionTakesNoArguments() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exit = Main.run(List.of("version", "--bogus"), new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(2, exit, err.toString(StandardCharsets.UTF_8));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("version takes no arguments, not '--bogus'"));
        assertEquals(0, Main.run(List.of("version"), new PrintStream(new ByteArrayOutputStream()), new PrintStream(err)));
    }
}
