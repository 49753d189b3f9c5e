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
