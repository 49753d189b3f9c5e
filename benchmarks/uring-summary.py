#!/usr/bin/env python3
"""Medians and ratios from the output of benchmarks/uring.sh (stdin), as a Markdown table."""
import json
import statistics
import sys
from collections import defaultdict

runs = defaultdict(list)  # (label, rw, bs, qd) -> [result]
for line in sys.stdin:
    if line.startswith("#") or "{" not in line:
        continue
    words = line.split()
    runs[(words[0], words[1], words[2][3:], words[3][3:])].append(json.loads(line[line.index("{"):]))


def med(label, workload, key, sub=None):
    values = [(r[key][sub] if sub else r[key]) for r in runs.get((label,) + workload, [])]
    return statistics.median(values) if values else None


rounds = max((len(v) for v in runs.values()), default=0)
print(f"Medians of {rounds} alternating rounds: IOPS, CPU of the I/O process in microseconds per I/O,")
print("latency p50 / p99 in microseconds. fio: ioengine=io_uring, direct=1, one job.")
print()
print("| workload | fio IOPS | uring IOPS | aio IOPS | **uring/fio** | aio/fio | CPU fio / uring / aio | p50/p99 fio | p50/p99 uring |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for workload in [("randread", "4k", "32"), ("randwrite", "4k", "32"), ("read", "128k", "8"), ("write", "128k", "8")]:
    fio, uring, aio = (med(label, workload, "iops") for label in ("fio", "uring", "aio"))
    if fio is None or uring is None:
        continue
    rw, bs, qd = workload
    cpu = " / ".join(f"{med(label, workload, 'cpu_usec_per_io'):.1f}" for label in ("fio", "uring", "aio"))
    print(f"| {rw} {bs} QD{qd} | {fio:,.0f} | {uring:,.0f} | {aio:,.0f} | **{uring / fio:.2f}** | {aio / fio:.2f} | {cpu} "
          f"| {med('fio', workload, 'lat_usec', 'p50'):.0f} / {med('fio', workload, 'lat_usec', 'p99'):.0f} "
          f"| {med('uring', workload, 'lat_usec', 'p50'):.0f} / {med('uring', workload, 'lat_usec', 'p99'):.0f} |")
