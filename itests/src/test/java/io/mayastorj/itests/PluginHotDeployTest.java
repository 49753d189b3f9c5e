package io.mayastorj.itests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarInputStream;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import org.junit.jupiter.api.Test;

/**
 * The plugin promise, against a running node process: the NBD transport jar copied into the
 * node's plugin directory becomes the {@code nbd} protocol within seconds; removed, its share waits
 * and a connected client is disconnected (not left hanging); a new version copied over it shares
 * again by itself, and a client that reconnects reads back what it wrote before.
 */
class PluginHotDeployTest {

    private static final Path PLUGIN = Mayastor.DIST.resolve("extras/transport-nbd-0.1.0-SNAPSHOT.jar");

    private static int freePort() throws IOException {
        return DistributionTest.freePort("127.0.0.1");
    }

    private static String run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), String.join(" ", command) + ":\n" + out);
        return out;
    }

    /** Waits until the node's share is ACTIVE again. */
    private static void awaitShared(String endpoint) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        String shares;
        do {
            Thread.sleep(200);
            shares = Mayastor.run("shell", "--node", endpoint, "mayastor:shares").out();
        } while (!shares.contains(" ACTIVE ") && System.nanoTime() < deadline);
        assertTrue(shares.contains(" ACTIVE "), shares);
    }

    /** The same jar with another Bundle-Version: what a plugin author's next release looks like to the node. */
    private static void withVersion(Path from, Path to, String version) throws IOException {
        try (JarInputStream in = new JarInputStream(Files.newInputStream(from))) {
            Manifest m = new Manifest(in.getManifest());
            m.getMainAttributes().putValue("Bundle-Version", version);
            try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(to), m)) {
                for (JarEntry e = in.getNextJarEntry(); e != null; e = in.getNextJarEntry()) {
                    out.putNextEntry(new JarEntry(e.getName()));
                    in.transferTo(out);
                    out.closeEntry();
                }
            }
        }
    }

    /** An NBD client left connected: the fixed newstyle handshake and GO, then it waits. */
    private static Socket connect(int port, String export) throws IOException {
        Socket s = new Socket("127.0.0.1", port);
        s.setSoTimeout(15_000);
        DataInputStream in = new DataInputStream(s.getInputStream());
        DataOutputStream out = new DataOutputStream(s.getOutputStream());
        in.readFully(new byte[18]); // NBDMAGIC, IHAVEOPT, flags
        out.writeInt(3);
        byte[] name = export.getBytes(StandardCharsets.UTF_8);
        out.writeLong(0x49484156454F5054L);
        out.writeInt(7); // NBD_OPT_GO
        out.writeInt(4 + name.length + 2);
        out.writeInt(name.length);
        out.write(name);
        out.writeShort(0);
        out.flush();
        while (true) { // option replies until the ACK
            in.readLong();
            in.readInt();
            int type = in.readInt();
            in.readFully(new byte[in.readInt()]);
            if (type == 1) {
                return s;
            }
            assertTrue(type == 3, "reply type " + type);
        }
    }

    @Test
    void theNbdTransportIsDeployedRemovedAndUpdatedLive() throws Exception {
        assumeTrue(Files.exists(PLUGIN), "the plugin jar is not built: " + PLUGIN);
        assumeTrue(Mayastor.have("qemu-io"), "qemu-utils is not installed");
        Path work = Scratch.dir("mayastor-plugins");
        Path plugins = work.resolve("plugins");
        String endpoint = "127.0.0.1:" + freePort();
        try (Mayastor.NodeProcess node = new Mayastor.NodeProcess("--node-id", "hot", "--grpc-endpoint", endpoint,
                "--state-dir", work.resolve("state").toString(), "--buffers-mb", "64", "--plugins-dir", plugins.toString(),
                "--nvmf-port", String.valueOf(freePort()), "--iscsi-port", String.valueOf(freePort()),
                "--nvmf-nexus-port", String.valueOf(freePort()))) {
            assertNotNull(node.await(l -> l.startsWith("mayastor node hot ready"), 60), node.output());
            assertEquals(0, Mayastor.run("ctl", "--node", endpoint, "bdev", "create", "malloc:///m0?size_mb=16").exit());
            Mayastor.Result before = Mayastor.run("ctl", "--node", endpoint, "bdev", "share", "m0", "--protocol", "nbd");
            assertEquals(1, before.exit());
            assertTrue(before.err().contains("nbd"), before.err());

            // deploy, with its settings beside it (a free port rather than NBD's own)
            int port = freePort();
            Files.writeString(plugins.resolve("io.mayastorj.nbd.cfg"), "nbd.port = " + port + "\n");
            Files.writeString(plugins.resolve("io.mayastorj.nvmf.cfg"), "nvmf.port = 1\n");
            Files.copy(PLUGIN, plugins.resolve("nbd.jar"));
            assertNotNull(node.await(l -> l.contains("plugin io.mayastorj.plugins.nbd 0.1.0.SNAPSHOT installed"), 15), node.output());
            assertNotNull(node.await(l -> l.contains("configuration io.mayastorj.nbd set from io.mayastorj.nbd.cfg: {nbd.port=" + port + "}"), 5),
                    node.output());
            assertNotNull(node.await(l -> l.contains("io.mayastorj.nvmf.cfg ignored: io.mayastorj.nvmf is set by the node's settings"), 5),
                    node.output());
            // review finding: a PID the settings leave unset on purpose (this node has no --csi-endpoint) is theirs
            // too: a .cfg for it started a CSI node service (mounts, mkfs) inside the node, unchecked
            Files.writeString(plugins.resolve("io.mayastorj.csi.cfg"), "endpoint = tcp://127.0.0.1:" + freePort() + "\nnode = true\n");
            assertNotNull(node.await(l -> l.contains("io.mayastorj.csi.cfg ignored: io.mayastorj.csi is set by the node's settings"), 15),
                    node.output());
            Mayastor.Result shared = Mayastor.run("ctl", "--node", endpoint, "bdev", "share", "m0", "--protocol", "nbd");
            assertEquals(0, shared.exit(), shared.err());
            String uri = shared.out().strip();
            assertEquals("nbd://127.0.0.1:" + port + "/m0", uri);
            // a replica over a plugin's protocol, as a bdev is (Mayastor's replica API names only nvmf and iscsi)
            String replica = "4b1d0000-0000-4000-8000-00000000ab0d";
            assertEquals(0, Mayastor.run("ctl", "--node", endpoint, "bdev", "create", "malloc:///pooldisk?size_mb=32").exit());
            assertEquals(0, Mayastor.run("ctl", "--node", endpoint, "pool", "create", "p0", "malloc:///pooldisk").exit());
            assertEquals(0, Mayastor.run("ctl", "--node", endpoint, "replica", "create", "p0", "4MiB", "--uuid", replica).exit());
            Mayastor.Result replicaShared = Mayastor.run("ctl", "--node", endpoint, "replica", "share", replica, "--protocol", "nbd");
            assertEquals(0, replicaShared.exit(), replicaShared.err());
            assertEquals("nbd://127.0.0.1:" + port + "/" + replica + "\n", replicaShared.out());
            // unshared as it was shared: by the replica call, which records it in the pool (a bdev unshare would not)
            assertEquals(0, Mayastor.run("ctl", "--node", endpoint, "replica", "unshare", replica).exit());
            run("qemu-io", "-f", "raw", "-c", "write -P 0x5a 1M 2M", "-c", "flush", uri);

            // remove, with a client connected
            try (Socket client = connect(port, "m0")) {
                Files.delete(plugins.resolve("nbd.jar"));
                assertNotNull(node.await(l -> l.contains("plugin io.mayastorj.plugins.nbd 0.1.0.SNAPSHOT removed"), 15), node.output());
                InputStream in = client.getInputStream();
                long start = System.nanoTime();
                assertEquals(-1, in.read(), "the client is disconnected");
                assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10), "promptly, not after a hang");
            }
            String shares = Mayastor.run("shell", "--node", endpoint, "mayastor:shares").out();
            assertTrue(shares.contains("WAITING_FOR_TRANSPORT"), shares);

            // a new version: the share comes back by itself, and the data is there
            Path next = work.resolve("nbd-0.1.1.jar");
            withVersion(PLUGIN, next, "0.1.1");
            Files.copy(next, plugins.resolve("nbd.jar"), StandardCopyOption.REPLACE_EXISTING);
            assertNotNull(node.await(l -> l.contains("plugin io.mayastorj.plugins.nbd 0.1.1 installed"), 15), node.output());
            assertNotNull(node.await(l -> l.contains("re-shared m0 over nbd"), 15), node.output());
            String read = run("qemu-io", "-f", "raw", "-c", "read -P 0x5a 1M 2M", uri);
            assertFalse(read.contains("Pattern verification failed"), read);

            // and an update in place, while shared
            Path again = work.resolve("nbd-0.1.2.jar");
            withVersion(PLUGIN, again, "0.1.2");
            Files.copy(again, plugins.resolve("nbd.jar"), StandardCopyOption.REPLACE_EXISTING);
            assertNotNull(node.await(l -> l.contains("plugin io.mayastorj.plugins.nbd updated from 0.1.1 to 0.1.2"), 15), node.output());
            awaitShared(endpoint);
            read = run("qemu-io", "-f", "raw", "-c", "read -P 0x5a 1M 2M", uri);
            assertFalse(read.contains("Pattern verification failed"), read);

            // new settings: the transport restarts with them and the share moves to the new port
            int moved = freePort();
            Files.writeString(plugins.resolve("io.mayastorj.nbd.cfg"), "nbd.port = " + moved + "\n");
            String movedUri = "nbd://127.0.0.1:" + moved + "/m0";
            assertNotNull(node.await(l -> l.contains("re-shared m0 over nbd: " + movedUri), 15), node.output());
            read = run("qemu-io", "-f", "raw", "-c", "read -P 0x5a 1M 2M", movedUri);
            assertFalse(read.contains("Pattern verification failed"), read);

            // the same settings saved again (an editor's save, a touch): nothing is set, so the transport does
            // not restart and drop its clients (review finding: every change of the file's time restarted it)
            long sets = node.output().lines().filter(l -> l.contains("configuration io.mayastorj.nbd set from")).count();
            Path cfg = plugins.resolve("io.mayastorj.nbd.cfg");
            Files.writeString(cfg, "nbd.port = " + moved + "\n");
            Files.setLastModifiedTime(cfg, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() + 5000));
            Thread.sleep(3500); // the watcher looks every second and acts once a file stayed the same for a look
            assertEquals(sets, node.output().lines().filter(l -> l.contains("configuration io.mayastorj.nbd set from")).count(),
                    node.output());

            // settings it cannot start with (its port taken): the share says why, and sharing again changes nothing
            try (java.net.ServerSocket taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
                Files.writeString(plugins.resolve("io.mayastorj.nbd.cfg"), "nbd.port = " + taken.getLocalPort() + "\n");
                String failed = "failed: the nbd transport failed to start: the nbd server cannot listen on 127.0.0.1:"
                        + taken.getLocalPort();
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
                String listed = "";
                while (System.nanoTime() < deadline && !listed.contains(failed)) {
                    Thread.sleep(200);
                    listed = Mayastor.run("ctl", "--node", endpoint, "bdev", "list", "m0").out();
                }
                assertTrue(listed.contains(failed), listed + "\n" + node.output());
                String failedShares = Mayastor.run("shell", "--node", endpoint, "mayastor:shares").out();
                assertTrue(failedShares.contains("FAILED") && failedShares.contains("cannot listen on 127.0.0.1:" + taken.getLocalPort()),
                        failedShares);
                Mayastor.Result shareAgain = Mayastor.run("ctl", "--node", endpoint, "bdev", "share", "m0", "--protocol", "nbd");
                assertEquals(0, shareAgain.exit(), shareAgain.err());
                assertEquals("bdev m0 is to be shared over nbd, which is not serving yet (mayastor ctl bdev list m0 says why)\n",
                        shareAgain.out());
            }

            // and without them, NBD's own port again
            Files.delete(plugins.resolve("io.mayastorj.nbd.cfg"));
            assertNotNull(node.await(l -> l.contains("configuration io.mayastorj.nbd removed with io.mayastorj.nbd.cfg: its defaults apply"), 15),
                    node.output());
            assertNotNull(node.await(l -> l.contains("re-shared m0 over nbd: nbd://127.0.0.1:10809/m0"), 15), node.output());
        }
    }

    /** The same promise for a built-in transport: the iSCSI bundle stopped and updated in place keeps its share. */
    @Test
    void aBuiltInTransportUpdatedInPlaceGetsItsSharesBack() throws Exception {
        assumeTrue(Mayastor.have("iscsi-inq"), "libiscsi-bin is not installed");
        Path work = Scratch.dir("mayastor-swap");
        String endpoint = "127.0.0.1:" + freePort();
        try (Mayastor.NodeProcess node = new Mayastor.NodeProcess("--node-id", "swap", "--grpc-endpoint", endpoint,
                "--state-dir", work.resolve("state").toString(), "--buffers-mb", "64", "--plugins-dir", work.resolve("p").toString(),
                "--nvmf-port", String.valueOf(freePort()), "--iscsi-port", String.valueOf(freePort()),
                "--nvmf-nexus-port", String.valueOf(freePort()))) {
            assertNotNull(node.await(l -> l.startsWith("mayastor node swap ready"), 60), node.output());
            assertEquals(0, Mayastor.run("ctl", "--node", endpoint, "bdev", "create", "malloc:///m0?size_mb=16").exit());
            Mayastor.Result shared = Mayastor.run("ctl", "--node", endpoint, "bdev", "share", "m0", "--protocol", "iscsi");
            assertEquals(0, shared.exit(), shared.err());
            String url = shared.out().strip();
            assertTrue(run("iscsi-inq", url).contains("Product:Mayastor-J"));
            String id = Mayastor.run("shell", "--node", endpoint, "lb").out().lines().filter(l -> l.contains("iSCSI target"))
                    .map(l -> l.split("\\|")[0].strip()).findFirst().orElseThrow();
            assertEquals(0, Mayastor.run("shell", "--node", endpoint, "stop " + id).exit());
            assertTrue(Mayastor.run("shell", "--node", endpoint, "mayastor:shares").out().contains("WAITING_FOR_TRANSPORT"));
            Process inq = new ProcessBuilder("iscsi-inq", url).redirectErrorStream(true).start();
            assertTrue(inq.waitFor(30, TimeUnit.SECONDS));
            assertTrue(inq.exitValue() != 0, "no target while the transport is stopped");
            assertEquals(0, Mayastor.run("shell", "--node", endpoint, "update " + id).exit()); // a new revision from its jar
            assertEquals(0, Mayastor.run("shell", "--node", endpoint, "start " + id).exit());
            awaitShared(endpoint); // polled: the shell takes the log lines of the commands it runs
            assertTrue(run("iscsi-inq", url).contains("Product:Mayastor-J"), "the same URL serves again");
        }
    }

    /** A bundle of manifest only: what the watcher needs to install and start it. */
    private static void manifestOnly(Path jar, String name, String header, String value) throws IOException {
        manifestOnly(jar, name, "1.0.0", header, value);
    }

    private static void manifestOnly(Path jar, String name, String version, String header, String value) throws IOException {
        Manifest m = new Manifest();
        m.getMainAttributes().putValue("Manifest-Version", "1.0");
        m.getMainAttributes().putValue("Bundle-ManifestVersion", "2");
        m.getMainAttributes().putValue("Bundle-SymbolicName", name);
        m.getMainAttributes().putValue("Bundle-Name", name);
        m.getMainAttributes().putValue("Bundle-Version", version);
        m.getMainAttributes().putValue(header, value);
        try (JarOutputStream out = new JarOutputStream(Files.newOutputStream(jar), m)) {
            out.putNextEntry(new JarEntry("example/readme.txt"));
            out.write("a test bundle\n".getBytes(StandardCharsets.UTF_8));
            out.closeEntry();
        }
    }

    /**
     * Review finding: plugins dropped in together are installed in name order, so one that imports a
     * package the other exports was started before that one was there, failed, and was never tried
     * again; it stayed INSTALLED until its file changed.
     */
    @Test
    void aPluginThatNeedsAnotherDroppedWithItStartsOnceTheOtherIsThere() throws Exception {
        Path work = Scratch.dir("mayastor-plugin-deps");
        Path plugins = Files.createDirectories(work.resolve("plugins"));
        String endpoint = "127.0.0.1:" + freePort();
        try (Mayastor.NodeProcess node = new Mayastor.NodeProcess("--node-id", "deps", "--grpc-endpoint", endpoint,
                "--state-dir", work.resolve("state").toString(), "--buffers-mb", "64", "--plugins-dir", plugins.toString(),
                "--nvmf-port", String.valueOf(freePort()), "--iscsi-port", String.valueOf(freePort()),
                "--nvmf-nexus-port", String.valueOf(freePort()))) {
            assertNotNull(node.await(l -> l.startsWith("mayastor node deps ready"), 60), node.output());
            manifestOnly(work.resolve("a-uses-lib.jar"), "example.user", "Import-Package", "example.lib");
            manifestOnly(work.resolve("b-lib.jar"), "example.lib", "Export-Package", "example.lib");
            Files.move(work.resolve("a-uses-lib.jar"), plugins.resolve("a-uses-lib.jar"));
            Files.move(work.resolve("b-lib.jar"), plugins.resolve("b-lib.jar"));
            assertNotNull(node.await(l -> l.contains("plugin example.user 1.0.0 cannot start"), 15), node.output());
            assertNotNull(node.await(l -> l.contains("plugin example.user 1.0.0 started"), 15), node.output());
            String bundles = Mayastor.run("shell", "--node", endpoint, "lb").out();
            assertTrue(bundles.lines().anyMatch(l -> l.contains("Active") && l.contains("example.user")), bundles);
            assertTrue(bundles.lines().anyMatch(l -> l.contains("Active") && l.contains("example.lib")), bundles);

            // a jar whose copy paused half way is not taken for a plugin (nor an update) until it is whole
            manifestOnly(work.resolve("partial.jar"), "example.partial", "Export-Package", "example.partial");
            byte[] whole = Files.readAllBytes(work.resolve("partial.jar"));
            Files.write(plugins.resolve("c-partial.jar"), java.util.Arrays.copyOf(whole, whole.length / 2));
            assertNotNull(node.await(l -> l.contains("c-partial.jar is not a whole jar yet"), 15), node.output());
            Files.write(plugins.resolve("c-partial.jar"), whole);
            assertNotNull(node.await(l -> l.contains("plugin example.partial 1.0.0 installed from c-partial.jar"), 15),
                    node.output());
            assertTrue(node.output().lines().noneMatch(l -> l.contains("c-partial.jar could not be deployed")), node.output());

            // review finding: an update whose new version needs a plugin that comes after it was never
            // started again (its failed start was taken for a failed update)
            manifestOnly(work.resolve("a-uses-lib.jar"), "example.user", "1.0.1", "Import-Package", "example.lib2");
            Files.move(work.resolve("a-uses-lib.jar"), plugins.resolve("a-uses-lib.jar"), StandardCopyOption.REPLACE_EXISTING);
            assertNotNull(node.await(l -> l.contains("plugin example.user 1.0.1 cannot start"), 15), node.output());
            manifestOnly(work.resolve("d-lib2.jar"), "example.lib2", "Export-Package", "example.lib2");
            Files.move(work.resolve("d-lib2.jar"), plugins.resolve("d-lib2.jar"));
            assertNotNull(node.await(l -> l.contains("plugin example.user 1.0.1 started"), 15), node.output());

            // review finding: a new version copied in beside the old one ran beside it (for a transport: its
            // port taken, its protocol ignored) and, the old file removed, the protocol was gone; it replaces it
            manifestOnly(work.resolve("a-uses-lib-1.0.2.jar"), "example.user", "1.0.2", "Import-Package", "example.lib");
            Files.move(work.resolve("a-uses-lib-1.0.2.jar"), plugins.resolve("a-uses-lib-1.0.2.jar"));
            assertNotNull(node.await(l -> l.contains("plugin example.user: a-uses-lib-1.0.2.jar replaces a-uses-lib.jar"), 15),
                    node.output());
            Files.delete(plugins.resolve("a-uses-lib.jar"));
            Thread.sleep(2500); // two looks
            bundles = Mayastor.run("shell", "--node", endpoint, "lb").out();
            assertEquals(1, bundles.lines().filter(l -> l.contains("example.user")).count(), bundles);
            assertTrue(bundles.lines().anyMatch(l -> l.contains("Active") && l.contains("example.user") && l.contains("1.0.2")),
                    bundles);

            // an older version beside it is set aside (the highest wins, whatever order the files are seen
            // in), and is what runs once the newer file goes: removing the new version rolls back
            manifestOnly(work.resolve("a-uses-lib-0.9.jar"), "example.user", "0.9.0", "Import-Package", "example.lib");
            Files.move(work.resolve("a-uses-lib-0.9.jar"), plugins.resolve("a-uses-lib-0.9.jar"));
            assertNotNull(node.await(l -> l.contains("a-uses-lib-0.9.jar holds example.user 0.9.0, older than the 1.0.2"), 15),
                    node.output());
            Files.delete(plugins.resolve("a-uses-lib-1.0.2.jar"));
            assertNotNull(node.await(l -> l.contains("plugin example.user 0.9.0 installed from a-uses-lib-0.9.jar"), 15),
                    node.output());

            // review finding: a plugin a refresh stopped (what it imports went with another plugin) was never started
            // again, also once that plugin was back
            Files.move(plugins.resolve("b-lib.jar"), work.resolve("b-lib.jar"));
            assertNotNull(node.await(l -> l.contains("plugin example.lib 1.0.0 removed"), 15), node.output());
            Thread.sleep(2500);
            Files.move(work.resolve("b-lib.jar"), plugins.resolve("b-lib.jar"));
            assertNotNull(node.await(l -> l.contains("plugin example.lib 1.0.0 installed from b-lib.jar"), 15), node.output());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
            do {
                Thread.sleep(500);
                bundles = Mayastor.run("shell", "--node", endpoint, "lb").out();
            } while (System.nanoTime() < deadline && bundles.lines().noneMatch(l -> l.contains("Active") && l.contains("example.user")));
            assertTrue(bundles.lines().anyMatch(l -> l.contains("Active") && l.contains("example.user")), bundles);
        }
    }
}
