"""Speed of swaplab's native codecs per 4 KiB page, beside python-lz4 and the
host kernel's zram, and how the batch calls scale over two threads.

    python benchmarks/codec_speed.py [--mib 256] [--rounds 3] [--json out/codec_speed.json]

Rows (MiB/s of pages; best of the rounds, each round runs every row once in
the same order, so ratios within a round compare neighbours in time):

- ``<algo> compress`` / ``decompress``: one thread, one call a page
  (``Compressor.compress(page)``; ``decompress(obj, page)`` into a page);
- ``python-lz4 compress`` / ``decompress``: the same loop over python-lz4's
  ``lz4.block`` (liblz4), the library swaplab used before its C core;
- ``<algo> batch x1`` / ``x2``: ``compress_batch`` / ``decompress_batch`` of 32
  pages a call, on one thread, then the same pages split over two threads;
- ``kernel <algo> write`` / ``read``: the same pages through a hot-added
  /dev/zramN (O_DIRECT, 1 MiB requests; root and zram only).

Every decompressed page is compared with the original. With --json it also
writes the figures and a bar chart (.png) beside them.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import lz4.block
import numpy as np

from swaplab import PAGE_SIZE
from swaplab.cli import machine
from swaplab.consts import SWAP_CLUSTER_MAX
from swaplab.kernel.zram import KernelZram, unavailable
from swaplab.lib.compress import compressor, split
from swaplab.workload.corpus import file_pages

ALGOS = ("lz4", "lzo-rle", "lzo")


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def per_page(pages: np.ndarray, algo: str) -> tuple[float, float]:
    """Seconds for one compress call a page, then one decompress call a page."""
    c = compressor(algo)
    comp, decomp = c.compress, c.decompress
    srcs = [p.tobytes() for p in pages]
    out: list[bytes] = []
    tc = timed(lambda: out.extend(comp(s) for s in srcs))
    page = np.empty(PAGE_SIZE, dtype=np.uint8)
    td = timed(lambda: [decomp(o, page) for o in out])
    back = np.empty_like(pages)
    if c.decompress_batch(out, back) != len(pages) or not np.array_equal(back, pages):
        raise SystemExit(f"{algo}: pages did not decompress intact")
    return tc, td


def python_lz4(pages: np.ndarray) -> tuple[float, float]:
    srcs = [p.tobytes() for p in pages]
    comp = lz4.block.compress
    decomp = lz4.block.decompress
    out: list[bytes] = []
    tc = timed(lambda: out.extend(comp(s, store_size=False) for s in srcs))
    td = timed(lambda: [decomp(o, uncompressed_size=PAGE_SIZE) for o in out])
    if decomp(out[-1], uncompressed_size=PAGE_SIZE) != srcs[-1]:
        raise SystemExit("python-lz4: a page did not decompress intact")
    return tc, td


def batched(pages: np.ndarray, algo: str, threads: int) -> tuple[float, float]:
    """Seconds to compress, then decompress, every page in calls of 32 pages,
    the batches dealt round-robin to ``threads`` threads."""
    c = compressor(algo)
    starts = list(range(0, len(pages), SWAP_CLUSTER_MAX))
    objs: list[list] = [[] for _ in starts]
    back = np.ones_like(pages)  # touched now: no first-touch faults in the timed part

    def run(work: Callable[[int], None]) -> float:
        def worker(t: int) -> None:
            for b in range(t, len(starts), threads):
                work(b)
        ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        return time.perf_counter() - t0

    def comp(b: int) -> None:
        s = starts[b]
        objs[b] = split(*c.compress_batch(pages[s : s + SWAP_CLUSTER_MAX]))

    def decomp(b: int) -> None:
        s = starts[b]
        c.decompress_batch(objs[b], back[s : s + SWAP_CLUSTER_MAX])

    tc = run(comp)
    td = run(decomp)
    if not np.array_equal(back, pages):
        raise SystemExit(f"{algo} x{threads}: pages did not decompress intact")
    return tc, td


def kernel(pages: np.ndarray, algo: str) -> tuple[float, float]:
    with KernelZram(algo, (len(pages) + 1024) * PAGE_SIZE) as kz:
        tw = kz.write_pages(pages)
        back, tr = kz.read_pages(len(pages))
        if not np.array_equal(back, pages):
            raise SystemExit(f"kernel {algo}: pages did not read back intact")
        return tw, tr


def rows_for(pages: np.ndarray, with_kernel: bool) -> dict[str, Callable[[], tuple]]:
    rows: dict[str, Callable[[], tuple]] = {"python-lz4": lambda: python_lz4(pages)}
    for a in ALGOS:
        rows[a] = lambda a=a: per_page(pages, a)
        rows[f"{a} batch x1"] = lambda a=a: batched(pages, a, 1)
        rows[f"{a} batch x2"] = lambda a=a: batched(pages, a, 2)
        if with_kernel:
            rows[f"kernel {a}"] = lambda a=a: kernel(pages, a)
    return rows


def ratios(res: dict) -> dict[str, tuple[float, str]]:
    """The issue's ratios from the best figures: (value, target)."""
    out: dict[str, tuple[float, str]] = {}

    def r(a: str, b: str, col: int, name: str, target: str) -> None:
        if a in res and b in res:
            out[name] = (res[a]["mib_s"][col] / res[b]["mib_s"][col], target)

    r("lz4", "python-lz4", 0, "lz4 compress / python-lz4", ">= 1.0")
    r("lz4", "python-lz4", 1, "lz4 decompress / python-lz4", ">= 1.0")
    r("lzo-rle", "kernel lzo-rle", 0, "lzo-rle compress / kernel lzo-rle write", ">= 0.8")
    for a in ALGOS:
        r(f"{a} batch x2", f"{a} batch x1", 0, f"{a} compress, 2 threads / 1", ">= 1.7")
        r(f"{a} batch x2", f"{a} batch x1", 1, f"{a} decompress, 2 threads / 1", ">= 1.7")
    return out


def chart(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(res)
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.2))
    ax.barh(y - 0.2, [res[n]["mib_s"][0] for n in names], 0.4, label="compress / write")
    ax.barh(y + 0.2, [res[n]["mib_s"][1] for n in names], 0.4, label="decompress / read")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xlabel("MiB/s of 4 KiB pages (best round)")
    ax.legend(loc="lower right")
    ax.set_title("swaplab codecs vs python-lz4 and the host kernel's zram")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    n = args.mib * 256
    print(f"reading {n} pages of real files ...", file=sys.stderr, flush=True)
    pages = file_pages(n, seed=1)
    rows = rows_for(pages, with_kernel=unavailable() is None)
    mib = n * PAGE_SIZE / (1 << 20)
    rounds: dict[str, list[list[float]]] = {k: [] for k in rows}
    for rnd in range(args.rounds):
        for name, fn in rows.items():
            print(f"round {rnd + 1}/{args.rounds}: {name}", file=sys.stderr, flush=True)
            tc, td = fn()
            rounds[name].append([mib / tc, mib / td])
    res = {k: {"mib_s": [max(r[0] for r in v), max(r[1] for r in v)], "rounds": v}
           for k, v in rounds.items()}
    rat = ratios(res)
    print(f"{'row':24} {'compress/write':>15} {'decompress/read':>16}   (MiB/s, best of "
          f"{args.rounds})")
    for k, v in res.items():
        print(f"{k:24} {v['mib_s'][0]:>15.0f} {v['mib_s'][1]:>16.0f}")
    for k, (v, target) in rat.items():
        print(f"{k:44} {v:5.2f}x  (target {target})")
    if args.json:
        doc = {"command": "python benchmarks/codec_speed.py " + " ".join(argv or sys.argv[1:]),
               "machine": machine(), "pages": n, "rounds": args.rounds, "rows": res,
               "ratios": {k: {"value": v, "target": t} for k, (v, t) in rat.items()}}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2))
        chart(res, args.json.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
