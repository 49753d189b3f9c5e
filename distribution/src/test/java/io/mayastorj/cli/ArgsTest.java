package io.mayastorj.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ArgsTest {

    @Test
    void optionsMayComeAnywhereInEitherForm() {
        Args args = Args.parse(List.of("bdev", "--node", "127.0.0.2:10124", "create", "--json", "--timeout=5", "malloc:///m0"),
                Set.of("json"), Set.of("node", "timeout"));
        assertEquals(List.of("bdev", "create", "malloc:///m0"), args.positional());
        assertEquals("127.0.0.2:10124", args.option("node", null));
        assertEquals(5, args.longOption("timeout", 30));
        // review finding: a leading zero made an octal number
        assertEquals(16, Args.parse(List.of("--qd", "016"), Set.of(), Set.of("qd")).longOption("qd", 1));
        assertEquals(4096, Args.parse(List.of("--offset", "0x1000"), Set.of(), Set.of("offset")).longOption("offset", 0));
        assertTrue(args.flag("json"));
    }

    /**
     * Review findings: Kubernetes' "64Mi" was not a size; whole numbers above 2^53 went through a
     * double and came out as a neighbour; --replicas took what an int cast left of a long.
     */
    @Test
    void sizesAreExactAndTakeKubernetesSpelling() {
        assertEquals(64L << 20, SizeArg.parse("64Mi", "--size"));
        assertEquals(64L << 20, SizeArg.parse("64MiB", "--size"));
        assertEquals(64L << 20, SizeArg.parse("64M", "--size"));
        assertEquals(3L << 29, SizeArg.parse("1.5GiB", "--size"));
        assertEquals(4096, SizeArg.parse("4096b", "--size"));
        assertEquals(9007199254740993L, SizeArg.parse("9007199254740993", "--size"));
        assertEquals("--size '1.1GiB' is not a whole number of bytes greater than zero",
                assertThrows(UsageException.class, () -> SizeArg.parse("1.1GiB", "--size")).getMessage());
        assertEquals("--size '64i' is not a size (e.g. 4194304, 64MiB, 64Mi, 1G)",
                assertThrows(UsageException.class, () -> SizeArg.parse("64i", "--size")).getMessage());
        assertEquals("--size '8192P' is not a whole number of bytes greater than zero",
                assertThrows(UsageException.class, () -> SizeArg.parse("8192P", "--size")).getMessage()); // 2^63
        assertEquals("--size '0' is not a whole number of bytes greater than zero",
                assertThrows(UsageException.class, () -> SizeArg.parse("0", "--size")).getMessage());
    }

    /** Review finding: {@code --control moac} dialled the node's port 10124, and its errors named --node. */
    @Test
    void anAddressWithoutAPortTakesItsServicesPort() {
        try (NodeClient control = new NodeClient("moac", "--control", 50051, 5); NodeClient node = new NodeClient("n1", 5);
             NodeClient v6 = new NodeClient("[::1]", "--control", 50051, 5)) {
            assertEquals("moac:50051", control.target());
            assertEquals("n1:10124", node.target());
            assertEquals("[::1]:50051", v6.target());
        }
        assertEquals("--control moac:x: expected HOST:PORT",
                assertThrows(UsageException.class, () -> new NodeClient("moac:x", "--control", 50051, 5)).getMessage());
        java.io.ByteArrayOutputStream err = new java.io.ByteArrayOutputStream();
        PrintStream errs = new PrintStream(err, true, StandardCharsets.UTF_8);
        assertEquals(2, Main.run(List.of("ctl", "volume", "create", "v", "--size", "1Gi", "--replicas", "4294967299"),
                new PrintStream(new java.io.ByteArrayOutputStream()), errs));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("--replicas 4294967299: 1 to 64"), err.toString(StandardCharsets.UTF_8));
        err.reset();
        assertEquals(2, Main.run(List.of("ctl", "volume", "list", "--timeout", "0"), new PrintStream(new java.io.ByteArrayOutputStream()), errs));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("--timeout 0: at least 1 (seconds)"), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void mistakesAreUsageErrors() {
        assertEquals("unknown option --nod; did you mean --node?",
                assertThrows(UsageException.class,
                        () -> Args.parse(List.of("--nod", "x"), Set.of("json"), Set.of("node"))).getMessage());
        assertEquals("unknown option --protocl; did you mean --protocol?", assertThrows(UsageException.class,
                () -> Args.parse(List.of("--protocl", "x"), Set.of("json", "force"), Set.of("node", "protocol", "pool"))).getMessage());
        assertEquals("unknown option --bananas (see --help for the options)", assertThrows(UsageException.class,
                () -> Args.parse(List.of("--bananas"), Set.of("json", "force"), Set.of("node", "protocol"))).getMessage());
        assertEquals("--node needs a value",
                assertThrows(UsageException.class, () -> Args.parse(List.of("--node"), Set.of(), Set.of("node"))).getMessage());
        assertEquals("--json takes no value",
                assertThrows(UsageException.class, () -> Args.parse(List.of("--json=1"), Set.of("json"), Set.of())).getMessage());
        assertEquals("--timeout soon: not a number", assertThrows(UsageException.class,
                () -> Args.parse(List.of("--timeout", "soon"), Set.of(), Set.of("timeout")).longOption("timeout", 1)).getMessage());
    }

    @Test
    void theCommandLineExitsWithUsageErrorsAndUnreachableNodes() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
        PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8);
        assertEquals(2, Main.run(List.of(), o, e));
        assertEquals(2, Main.run(List.of("frobnicate"), o, e));
        assertEquals(2, Main.run(List.of("ctl", "bdev"), o, e));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("error: the verb for bdev is missing"));
        err.reset();
        // nothing listens on port 1 of loopback
        assertEquals(3, Main.run(List.of("ctl", "--node", "127.0.0.1:1", "--timeout", "5", "node", "info"), o, e));
        assertTrue(err.toString(StandardCharsets.UTF_8).startsWith("error: cannot reach 127.0.0.1:1: "),
                err.toString(StandardCharsets.UTF_8));
        assertEquals(0, Main.run(List.of("ctl", "--help"), o, e));
        assertTrue(out.toString(StandardCharsets.UTF_8).contains("usage: mayastor ctl"));
    }

    @Test
    void hexDumpShowsOffsetsBytesAndText() {
        assertEquals("00000200  41 42 00 ff " + " ".repeat(37) + " |AB..|\n",
                Ctl.hexDump(new byte[] {'A', 'B', 0, (byte) 0xff}, 512));
    }
}
