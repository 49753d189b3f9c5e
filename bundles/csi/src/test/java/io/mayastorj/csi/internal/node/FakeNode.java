package io.mayastorj.csi.internal.node;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Stream;

/**
 * A Linux node in a directory, for the Node service's unit tests: the commands it runs change a
 * fake sysfs, /dev and mountinfo the way the kernel would (nvme connect makes a subsystem, a
 * controller and a namespace device; mount adds a mountinfo line; ...). The real path — the same
 * code against a real kernel — runs in the QEMU guest (itests). A test can replace any command's
 * behaviour with {@link #on}.
 */
final class FakeNode implements Commands {

    final Path root;
    final List<String> ran = new ArrayList<>();
    private final Map<String, String> filesystems = new HashMap<>(); // device -> fs type
    private final Map<String, Function<List<String>, Result>> overrides = new HashMap<>();
    private final List<String> mountinfo = new ArrayList<>();
    private int nextNvme;
    private int nextSession = 1;
    private final java.util.Map<String, String> portals = new java.util.HashMap<>(); // sessionN: the portal logged in at
    long deviceBytes = 64L << 20;
    /** When false, nvme connect succeeds but the kernel never makes a namespace device. */
    boolean namespaceAppears = true;
    /** Whether a new controller's namespace is scanned at once (the kernel does it after connect returns). */
    boolean pathNamespaceAppears = true;

    FakeNode(Path root) throws IOException {
        this.root = root;
        Files.createDirectories(root.resolve("proc/self"));
        Files.createDirectories(root.resolve("dev"));
        Files.createDirectories(root.resolve("sys/class/nvme"));
        Files.createDirectories(root.resolve("sys/class/nvme-subsystem"));
        Files.createDirectories(root.resolve("sys/module/nvme_core/parameters"));
        Files.writeString(root.resolve("sys/module/nvme_core/parameters/multipath"), "Y\n"); // Debian's default
        Files.createDirectories(root.resolve("sys/class/iscsi_session"));
        Files.createDirectories(root.resolve("sys/class/block"));
        mountinfo.add("22 1 0:21 / / rw,relatime - ext4 /dev/vda1 rw");
        writeMountinfo();
    }

    /** Replaces what a command (its first two words, e.g. "mkfs.ext4" or "nvme connect") does. */
    void on(String command, Function<List<String>, Result> behaviour) {
        overrides.put(command, behaviour);
    }

    /** What {@link #on} replaced does what it did before again. */
    void forget(String command) {
        overrides.remove(command);
    }

    static Result ok(List<String> command, String stdout) {
        return new Result(command, 0, stdout, "", Duration.ZERO);
    }

    static Result failed(List<String> command, int status, String stderr) {
        return new Result(command, status, "", stderr, Duration.ZERO);
    }

    void formatted(Path device, String fsType) {
        filesystems.put(device.toString(), fsType);
    }

    /** A mount made by somebody else, e.g. another volume on a path. */
    void mountedElsewhere(String majorMinor, Path point, String source) {
        mountedElsewhere(majorMinor, "/", point, source);
    }

    /** ... of {@code root} within its file system (a bind of a subdirectory). */
    void mountedElsewhere(String majorMinor, String root, Path point, String source) {
        mountinfo.add("90 22 " + majorMinor + " " + root + " " + point + " rw - ext4 " + source + " rw");
        writeMountinfo();
    }

    List<String> mountPoints() {
        return mountinfo.stream().map(l -> l.split(" ")[4]).toList();
    }

    @Override
    public Result run(Duration timeout, List<String> c) {
        ran.add(String.join(" ", c));
        String key2 = c.size() > 1 ? c.get(0) + " " + c.get(1) : c.get(0);
        Function<List<String>, Result> o = overrides.getOrDefault(key2, overrides.get(c.get(0)));
        if (o != null) {
            return o.apply(c);
        }
        try {
            return behave(c);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private Result behave(List<String> c) throws IOException {
        switch (c.get(0)) {
            case "nvme" -> {
                switch (c.get(1)) {
                    case "connect" -> {
                        String nqn = c.get(c.indexOf("-n") + 1);
                        int n = nextNvme++;
                        Path ctrl = root.resolve("sys/class/nvme/nvme" + n);
                        Files.createDirectories(ctrl);
                        Files.writeString(ctrl.resolve("subsysnqn"), nqn + "\n");
                        Files.writeString(ctrl.resolve("state"), "live\n");
                        Files.writeString(ctrl.resolve("address"), "traddr=" + c.get(c.indexOf("-a") + 1) + ",trsvcid="
                                + c.get(c.indexOf("-s") + 1) + ",src_addr=10.0.2.15\n");
                        if (pathNamespaceAppears) {
                            Files.createDirectories(ctrl.resolve("nvme0c" + n + "n1"));
                            Files.writeString(ctrl.resolve("nvme0c" + n + "n1/ana_state"), "optimized\n");
                        }
                        try (Stream<Path> subsystems = Files.list(Files.createDirectories(root.resolve("sys/class/nvme-subsystem")))) {
                            for (Path p : subsystems.toList()) {
                                if (nqn.equals(Files.readString(p.resolve("subsysnqn")).strip())) {
                                    return ok(c, ""); // native multipath: one more path to the same head
                                }
                            }
                        }
                        Path subsys = root.resolve("sys/class/nvme-subsystem/nvme-subsys" + n);
                        Files.createDirectories(subsys);
                        Files.writeString(subsys.resolve("subsysnqn"), nqn + "\n");
                        if (namespaceAppears) {
                            String ns = "nvme" + n + "n1";
                            Files.createDirectories(subsys.resolve(ns));
                            Files.writeString(root.resolve("dev").resolve(ns), "");
                            Files.createDirectories(root.resolve("sys/class/block").resolve(ns));
                            Files.writeString(root.resolve("sys/class/block").resolve(ns).resolve("dev"), "259:" + n + "\n");
                        }
                        return ok(c, "");
                    }
                    case "disconnect" -> {
                        if (c.contains("-d")) { // one controller: a path
                            delete(root.resolve("sys/class/nvme").resolve(c.get(c.indexOf("-d") + 1)));
                            return ok(c, "");
                        }
                        String nqn = c.get(c.indexOf("-n") + 1);
                        for (String dir : List.of("sys/class/nvme", "sys/class/nvme-subsystem")) {
                            try (Stream<Path> s = Files.list(root.resolve(dir))) {
                                for (Path p : s.toList()) {
                                    if (nqn.equals(Files.readString(p.resolve("subsysnqn")).strip())) {
                                        try (Stream<Path> inside = Files.list(p)) {
                                            for (Path ns : inside.filter(Files::isDirectory).toList()) {
                                                Files.deleteIfExists(root.resolve("dev").resolve(ns.getFileName()));
                                            }
                                        }
                                        delete(p);
                                    }
                                }
                            }
                        }
                        return ok(c, "NQN:" + nqn + " disconnected 1 controller(s)");
                    }
                    default -> {
                        return ok(c, "");
                    }
                }
            }
            case "iscsiadm" -> {
                if (c.contains("--login")) {
                    String iqn = c.get(c.indexOf("-T") + 1);
                    int s = nextSession++;
                    Path session = root.resolve("sys/class/iscsi_session/session" + s);
                    portals.put("session" + s, c.get(c.indexOf("-p") + 1));
                    Files.createDirectories(session);
                    Files.writeString(session.resolve("targetname"), iqn + "\n");
                    Files.writeString(session.resolve("state"), "LOGGED_IN\n");
                    String disk = "sd" + (char) ('a' + s);
                    Files.createDirectories(session.resolve("device/target" + s + ":0:0/" + s + ":0:0:0/block/" + disk));
                    Files.writeString(root.resolve("dev").resolve(disk), "");
                    Files.createDirectories(root.resolve("sys/class/block").resolve(disk));
                    Files.writeString(root.resolve("sys/class/block").resolve(disk).resolve("dev"), "8:" + (16 * s) + "\n");
                } else if (c.contains("--logout")) {
                    // as iscsiadm: with -p, only the sessions at that portal; none found is exit 21
                    String iqn = c.get(c.indexOf("-T") + 1);
                    String portal = c.contains("-p") ? c.get(c.indexOf("-p") + 1) : null;
                    boolean found = false;
                    try (Stream<Path> s = Files.list(root.resolve("sys/class/iscsi_session"))) {
                        for (Path p : s.toList()) {
                            if (iqn.equals(Files.readString(p.resolve("targetname")).strip())
                                    && (portal == null || portal.equals(portals.get(p.getFileName().toString())))) {
                                delete(p);
                                found = true;
                            }
                        }
                    }
                    if (!found) {
                        return failed(c, 21, "iscsiadm: No matching sessions found");
                    }
                }
                return ok(c, "");
            }
            case "blkid" -> {
                String fs = filesystems.get(c.get(c.size() - 1));
                String found = fs == null ? null : fs.startsWith("PTTYPE=") ? fs : "TYPE=" + fs; // -o export
                return fs == null ? failed(c, 2, "") : ok(c, "DEVNAME=" + c.get(c.size() - 1) + "\n" + found + "\n");
            }
            case "mkfs.ext4", "mkfs.xfs" -> {
                filesystems.put(c.get(c.size() - 1), c.get(0).substring("mkfs.".length()));
                return ok(c, "");
            }
            case "mount" -> {
                return mount(c);
            }
            case "umount" -> {
                String point = c.get(1);
                for (int i = mountinfo.size() - 1; i >= 0; i--) {
                    if (mountinfo.get(i).split(" ")[4].equals(point)) {
                        mountinfo.remove(i);
                        writeMountinfo();
                        return ok(c, "");
                    }
                }
                return failed(c, 32, "umount: " + point + ": not mounted.");
            }
            case "stat" -> {
                return ok(c, "4096 16384 12288 11264 4096 4000\n");
            }
            case "blockdev" -> {
                return ok(c, deviceBytes + "\n");
            }
            default -> {
                return ok(c, "");
            }
        }
    }

    private Result mount(List<String> c) throws IOException {
        if (c.contains("--bind")) {
            String source = c.get(c.size() - 2);
            String target = c.get(c.size() - 1);
            String line = null;
            for (String l : mountinfo) {
                if (l.split(" ")[4].equals(source)) {
                    String[] f = l.split(" ");
                    f[0] = "9" + mountinfo.size();
                    f[4] = target;
                    line = String.join(" ", f);
                }
            }
            if (line == null) { // a device file
                line = "9" + mountinfo.size() + " 22 0:5 /" + Path.of(source).getFileName() + " " + target + " rw - devtmpfs udev rw";
            }
            mountinfo.add(line);
            writeMountinfo();
            return ok(c, "");
        }
        if (c.contains("remount,bind,ro")) {
            String target = c.get(c.size() - 1);
            for (int i = 0; i < mountinfo.size(); i++) {
                String[] f = mountinfo.get(i).split(" ");
                if (f[4].equals(target)) {
                    f[5] = "ro";
                    mountinfo.set(i, String.join(" ", f));
                }
            }
            writeMountinfo();
            return ok(c, "");
        }
        String device = c.get(c.size() - 2);
        String point = c.get(c.size() - 1);
        String fs = c.get(c.indexOf("-t") + 1);
        if (!fs.equals(filesystems.get(device))) {
            return failed(c, 32, "mount: " + point + ": wrong fs type, bad option, bad superblock on " + device);
        }
        boolean ro = c.contains("-o") && ("," + c.get(c.indexOf("-o") + 1) + ",").contains(",ro,");
        String dev = Files.readString(root.resolve("sys/class/block").resolve(Path.of(device).getFileName()).resolve("dev")).strip();
        mountinfo.add("8" + mountinfo.size() + " 22 " + dev + " / " + point + " " + (ro ? "ro" : "rw") + " - " + fs + " " + device + " rw");
        writeMountinfo();
        return ok(c, "");
    }

    /** The node rebooted: no mounts, no controllers or sessions, no disks; the kernel names devices from 0 again. */
    void reboot() throws IOException {
        mountinfo.subList(1, mountinfo.size()).clear();
        writeMountinfo();
        for (String dir : List.of("sys/class/nvme", "sys/class/nvme-subsystem", "sys/class/iscsi_session", "sys/class/block", "dev")) {
            delete(root.resolve(dir));
            Files.createDirectories(root.resolve(dir));
        }
        nextNvme = 0;
        nextSession = 1;
    }

    /** devtmpfs unlinked /dev/NAME: a bind of it shows its root as the kernel does then, "/NAME//deleted". */
    void deviceNodeRemoved(String name) {
        for (int i = 0; i < mountinfo.size(); i++) {
            String[] f = mountinfo.get(i).split(" ");
            if (f[3].equals("/" + name)) {
                f[3] = "/" + name + "//deleted";
                mountinfo.set(i, String.join(" ", f));
            }
        }
        writeMountinfo();
    }

    private void writeMountinfo() {
        try {
            Files.writeString(root.resolve("proc/self/mountinfo"), String.join("\n", mountinfo) + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void delete(Path p) throws IOException {
        try (Stream<Path> all = Files.walk(p)) {
            for (Path x : all.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(x);
            }
        }
    }
}
