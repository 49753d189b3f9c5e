#!/usr/bin/env python3
"""Where the CPU goes, per process and thread, between two snapshots of /proc.

    threads.py snap LABEL=PID ... > a.json      # every thread of those processes: CPU, run-queue wait, switches
    threads.py diff a.json b.json [TOP]         # per process and thread group over the interval

CPU is user + system time; "waited" is time spent runnable but not running (schedstat's run delay):
on a machine with fewer cores than busy threads, that is the queueing a request pays for CPU.
Thread names (Java's, as the kernel keeps them: 15 characters) are grouped with trailing digits
dropped, so reactor-0 and reactor-1 are "reactor-*".
"""
import json
import os
import re
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def snap(pairs):
    out = {"time": time.monotonic(), "procs": {}}
    for pair in pairs:
        label, pid = pair.split("=")
        threads = {}
        for tid in os.listdir(f"/proc/{pid}/task"):
            base = f"/proc/{pid}/task/{tid}"
            try:
                with open(f"{base}/stat") as f:
                    stat = f.read()
                name = stat[stat.index("(") + 1:stat.rindex(")")]
                fields = stat[stat.rindex(")") + 2:].split()
                cpu = (int(fields[11]) + int(fields[12])) / TICK
                with open(f"{base}/schedstat") as f:
                    run_ns, wait_ns, slices = (int(x) for x in f.read().split())
                sw = {}
                with open(f"{base}/status") as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                            k, v = line.split(":")
                            sw[k] = int(v)
            except (FileNotFoundError, ProcessLookupError):
                continue
            threads[tid] = {"name": name, "cpu": cpu, "run": run_ns / 1e9, "wait": wait_ns / 1e9,
                            "vol": sw.get("voluntary_ctxt_switches", 0), "invol": sw.get("nonvoluntary_ctxt_switches", 0)}
        out["procs"][label] = threads
    disks = {}
    with open("/proc/diskstats") as f:
        for line in f:
            p = line.split()
            if re.fullmatch(r"(vd|sd|nvme\d+n)[a-z0-9]*", p[2]) and not re.search(r"\d+p?\d+$", p[2][3:] or "x"):
                # reads, ms reading, writes, ms writing, weighted ms in queue
                disks[p[2]] = [int(p[3]), int(p[6]), int(p[7]), int(p[10]), int(p[13])]
    out["disks"] = disks
    json.dump(out, sys.stdout)


def group(name):
    return re.sub(r"[-_ ]?\d+$", "-*", name) if re.search(r"\d+$", name) else name


def diff(a_path, b_path, top=8):
    a = json.load(open(a_path))
    b = json.load(open(b_path))
    secs = b["time"] - a["time"]
    print(f"interval {secs:.1f} s; % of one core: cpu (run, from schedstat) and waited runnable; switches per second")
    total_run = total_wait = 0.0
    for label, threads in b["procs"].items():
        before = a["procs"].get(label, {})
        groups = {}
        for tid, t in threads.items():
            t0 = before.get(tid, {"run": 0, "wait": 0, "vol": 0, "invol": 0})
            g = groups.setdefault(group(t["name"]), [0.0, 0.0, 0, 0, 0])
            g[0] += t["run"] - t0["run"]
            g[1] += t["wait"] - t0["wait"]
            g[2] += t["vol"] - t0["vol"]
            g[3] += t["invol"] - t0["invol"]
            g[4] += 1
        run = sum(g[0] for g in groups.values())
        wait = sum(g[1] for g in groups.values())
        total_run += run
        total_wait += wait
        print(f"{label:10s} cpu {100 * run / secs:6.1f}%  waited {100 * wait / secs:6.1f}%")
        for name, g in sorted(groups.items(), key=lambda kv: -kv[1][0])[:top]:
            if g[0] / secs < 0.005 and g[1] / secs < 0.005:
                continue
            print(f"    {name:18s} x{g[4]:<3d} cpu {100 * g[0] / secs:6.1f}%  waited {100 * g[1] / secs:6.1f}%"
                  f"  switches/s {g[2] / secs:8.0f} vol {g[3] / secs:7.0f} invol")
    print(f"{'all':10s} cpu {100 * total_run / secs:6.1f}%  waited {100 * total_wait / secs:6.1f}%  ({os.cpu_count()} cores)")
    for disk, d1 in b.get("disks", {}).items():
        d0 = a.get("disks", {}).get(disk)
        if not d0:
            continue
        reads, rms, writes, wms, qms = (x - y for x, y in zip(d1, d0))
        if reads + writes == 0:
            continue
        print(f"disk {disk}: {reads / secs:8.0f} reads/s ({rms / max(reads, 1):.2f} ms each), {writes / secs:8.0f} writes/s "
              f"({wms / max(writes, 1):.2f} ms each), {qms / 1000 / secs:.1f} in the queue on average")


if __name__ == "__main__":
    if sys.argv[1] == "snap":
        snap(sys.argv[2:])
    else:
        diff(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 8)
