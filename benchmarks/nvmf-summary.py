#!/usr/bin/env python3
"""Medians and ratios from the output of benchmarks/nvmf.sh (stdin), as a Markdown table."""
import json
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)  # (label, rw, bs, qd) -> [result]
for line in sys.stdin:
    if line.startswith("#") or "{" not in line:
        continue
    words = line.split()
    label, rw, bs, qd = words[0], words[1], words[2][3:], words[3][3:]
    runs[(label, rw, bs, qd)].append(json.loads(line[line.index("{"):]))


def med(label, rw, bs, qd, key):
    values = [r[key] for r in runs.get((label, rw, bs, qd), []) if key in r]
    return statistics.median(values) if values else None


def lat(label, rw, bs, qd, key):
    values = [r["lat_usec"][key] for r in runs.get((label, rw, bs, qd), [])]
    return statistics.median(values) if values else None


rounds = max((len(v) for v in runs.values()), default=0)
print(f"Medians of {rounds} alternating rounds. IOPS; CPU in microseconds per I/O (bench = host side,")
print("target = the node serving the bdev); latency p50 / p99 in microseconds.")
print()
print("| workload | raw IOPS | raw+hop IOPS | nvmf IOPS | **nvmf/raw** | hop/raw | raw CPU | nvmf CPU host + target "
      "| raw p50/p99 | nvmf p50/p99 |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for rw, bs, qd in [("randread", "4k", "32"), ("randwrite", "4k", "32"), ("read", "128k", "8"), ("write", "128k", "8")]:
    raw = med("raw", rw, bs, qd, "iops")
    hop = med("rawhop", rw, bs, qd, "iops")
    nvmf = med("nvmf", rw, bs, qd, "iops")
    if raw is None or nvmf is None:
        continue
    print(f"| {rw} {bs} QD{qd} | {raw:,.0f} | {hop:,.0f} | {nvmf:,.0f} | **{nvmf / raw:.2f}** | {hop / raw:.2f} "
          f"| {med('raw', rw, bs, qd, 'cpu_usec_per_io'):.1f} "
          f"| {med('nvmf', rw, bs, qd, 'cpu_usec_per_io'):.1f} + {med('nvmf', rw, bs, qd, 'target_cpu_usec_per_io'):.1f} "
          f"| {lat('raw', rw, bs, qd, 'p50'):.0f} / {lat('raw', rw, bs, qd, 'p99'):.0f} "
          f"| {lat('nvmf', rw, bs, qd, 'p50'):.0f} / {lat('nvmf', rw, bs, qd, 'p99'):.0f} |")
for rw in ("randread", "randwrite"):
    iops = med("malloc", rw, "4k", "32", "iops")
    if iops is not None:
        print(f"| malloc via nvmf, {rw} 4k QD32 | | | {iops:,.0f} | | | "
              f"| {med('malloc', rw, '4k', '32', 'cpu_usec_per_io'):.1f} + "
              f"{med('malloc', rw, '4k', '32', 'target_cpu_usec_per_io'):.1f} | "
              f"| {lat('malloc', rw, '4k', '32', 'p50'):.0f} / {lat('malloc', rw, '4k', '32', 'p99'):.0f} |")
