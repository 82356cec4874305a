"""Profile the swap-in fault path: N pages out, then N random first touches.

    python benchmarks/fault_profile.py [--pages 8192] [--profile]

Prints pageout and fault rates and the fault latency percentiles; with
--profile, the top of a cProfile sorted by own time.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time

import numpy as np

from swaplab import System
from swaplab.workload.corpus import file_pages


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=8192)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    n = args.pages
    pages = file_pages(n, seed=1)
    with System((n + 4096) * 4096) as s:
        rd = s.add_ramdisk((n + 1024) // 512 * 512 * 4096 + (1 << 21))
        s.mkswap(rd)
        s.swapon(rd)
        mm = s.create_mm(n)
        for i in range(n):
            mm.write(i, pages[i])
        t0 = time.perf_counter()
        mm.pageout()
        t1 = time.perf_counter()
        order = np.random.default_rng(0).permutation(n)
        lat = np.empty(n, dtype=np.int64)
        prof = cProfile.Profile() if args.profile else None
        if prof:
            prof.enable()
        t2 = time.perf_counter()
        for k, v in enumerate(order):
            a = time.perf_counter_ns()
            mm.fault(int(v))
            lat[k] = time.perf_counter_ns() - a
        t3 = time.perf_counter()
        if prof:
            prof.disable()
        print(f"pageout {n / (t1 - t0):,.0f} pages/s, faults {n / (t3 - t2):,.0f} pages/s")
        p50, p99 = np.percentile(lat / 1000, [50, 99])
        print(f"fault latency p50 {p50:.1f} us, p99 {p99:.1f} us")
        if prof:
            pstats.Stats(prof).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
