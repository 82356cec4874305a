"""What a second CPU gives zram's write path, beside what it gives the codec
alone and the host kernel's zram, in paired rounds.

    python benchmarks/two_writers.py [--algo lz4] [--rounds 6] [--mib 256]

Each round times, one after another on the same pages: (compress) the codec's
batch call in one thread and in two (disjoint halves, no shared state: this
VM's ceiling for the work); (swaplab) ``Zram.write_pages`` in batches of 32
from one thread and from two (zram_throughput.py's two_threads); (kernel) the
host kernel's zram, one writer and two (O_DIRECT, 1 MiB requests; root and
zram only). Prints each round's two-thread speed-ups and their medians; the
medians of paired rounds are the figure to read on a VM whose speed drifts
between minutes.
"""

from __future__ import annotations

import argparse
import statistics

import numpy as np
from zram_throughput import kernel_two_threads, two_threads  # beside this script

from swaplab.consts import SWAP_CLUSTER_MAX
from swaplab.kernel.zram import unavailable
from swaplab.lib.compress import compressor
from swaplab.util import run_threads
from swaplab.workload.corpus import file_pages


def compress_two_threads(pages: np.ndarray, algo: str) -> tuple[float, float]:
    """Seconds to compress every page in batches of 32 from one thread, and
    from two threads each its half (the GIL released in the codec)."""
    n = len(pages)

    def work(lo: int, hi: int) -> None:
        c = compressor(algo)
        for k in range(lo, hi, SWAP_CLUSTER_MAX):
            c.compress_batch(pages, np.arange(k, min(k + SWAP_CLUSTER_MAX, hi), dtype=np.int64))

    return run_threads(work, [(0, n)]), run_threads(work, [(0, n // 2), (n // 2, n)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--algo", default="lz4")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--mib", type=int, default=256)
    args = ap.parse_args()
    pages = file_pages(args.mib * 256, seed=1)
    paths = {"compress": compress_two_threads, "swaplab": two_threads}
    if not unavailable():
        paths["kernel"] = kernel_two_threads
    speedups: dict[str, list[float]] = {k: [] for k in paths}
    for r in range(args.rounds):
        for name, fn in paths.items():
            one, two = fn(pages, args.algo)
            speedups[name].append(one / two)
        print(f"round {r + 1}/{args.rounds}: " + "  ".join(
            f"{k} {v[-1]:.2f}x" for k, v in speedups.items()), flush=True)
    print("median of the rounds: " + "  ".join(
        f"{k} {statistics.median(v):.2f}x" for k, v in speedups.items()))


if __name__ == "__main__":
    main()
