"""Profile the swap-in fault path: N pages out, then N random first touches.

    python benchmarks/fault_profile.py [--pages 8192] [--design zram/swap_ops]
        [--profile] [--skip pageout|faults]

Prints pageout and fault rates and the fault latency percentiles; with
--profile, the top of a cProfile sorted by own time. The pages are the
shipped sample corpus (seed 1), the design one of ``swaplab bench``'s.

Instructions per page, repeatable on a noisy VM: run it under callgrind
three times, whole, with ``--skip faults`` and with ``--skip pageout``
(``PYTHONHASHSEED=0 OPENBLAS_NUM_THREADS=1 valgrind --tool=callgrind
python benchmarks/fault_profile.py --pages 4096 ...``); the differences of
the totals divided by the pages are a fault's and a page-out's instructions.
(``--skip pageout`` also skips the faults: nothing is out to fault in.)
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from swaplab import System
from swaplab.bench.designs import DESIGNS
from swaplab.consts import PAGE_SHIFT
from swaplab.workload.corpus import corpus_pages


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pages", type=int, default=8192)
    ap.add_argument("--design", default="zram/swap_ops", choices=sorted(DESIGNS))
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--skip", choices=("pageout", "faults"))
    args = ap.parse_args()
    n = args.pages
    pages = corpus_pages("sample", n, seed=1)
    design = DESIGNS[args.design]
    area = ((n + n // 8 + 1024) >> 9 << 9) << PAGE_SHIFT
    with tempfile.TemporaryDirectory(prefix="swaplab-prof-") as tmp, \
            System((n + 4096) << PAGE_SHIFT) as s:
        target = design.setup(s, Path(tmp), area, design.algorithm)
        s.mkswap(target, uuid=uuid.UUID(int=1))
        s.swapon(target, **design.swapon)
        if design.prepare is not None:
            design.prepare(s, design.algorithm)
        mm = s.create_mm(n)
        mm.populate(0, pages)
        if args.skip == "pageout":
            return
        t0 = time.perf_counter()
        mm.pageout()
        t1 = time.perf_counter()
        print(f"{args.design}: pageout {n / (t1 - t0):,.0f} pages/s")
        if args.skip == "faults":
            return
        if design.after_pageout is not None:
            design.after_pageout(s)
        order = np.random.default_rng(0).permutation(n)
        lat = np.empty(n, dtype=np.int64)
        prof = cProfile.Profile() if args.profile else None
        if prof:
            prof.enable()
        t2 = time.perf_counter()
        for k, v in enumerate(order.tolist()):
            a = time.perf_counter_ns()
            mm.fault(v)
            lat[k] = time.perf_counter_ns() - a
        t3 = time.perf_counter()
        if prof:
            prof.disable()
        p50, p99 = np.percentile(lat / 1000, [50, 99])
        print(f"faults {n / (t3 - t2):,.0f} pages/s, latency p50 {p50:.1f} us, "
              f"p99 {p99:.1f} us")
        for v in range(n):  # every page as it was written
            if not np.array_equal(mm.folio_at(v).data, pages[v]):
                raise SystemExit(f"page {v} read back differs")
        if prof:
            pstats.Stats(prof).sort_stats("tottime").print_stats(20)


if __name__ == "__main__":
    main()
