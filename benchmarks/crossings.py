"""Module crossings of one page's swap-out and swap-in, on zram.

    python benchmarks/crossings.py [--ops bio-per-page] [--list]

A crossing is a call from one swaplab module into another, counted with a
profile hook while one page is paged out (MADV_PAGEOUT of one page) and
faulted back in. Calls into the shared-type modules (folio, swapops,
swap_iocb, vmstat, page_alloc, consts, errors, clock, printk, util,
statistics, zram's slots) are left out: they are the kernel's inline
helpers, not steps of the path. docs/architecture.md quotes the figures.
"""

from __future__ import annotations

import argparse
import sys

from swaplab import System

HEADERS = {"swaplab.mm.folio", "swaplab.mm.swapops", "swaplab.mm.swap_iocb",
           "swaplab.mm.vmstat", "swaplab.mm.page_alloc", "swaplab.errors", "swaplab.clock",
           "swaplab.printk", "swaplab.util", "swaplab.consts", "swaplab.statistics",
           "swaplab.drivers.zram.slots"}


def crossings(ops: str | None) -> dict[str, list[tuple[str, str, str]]]:
    """(caller module, callee module, callee function) of every crossing, per phase."""
    with System("64M") as s:
        z = s.load_module("zram")[0]
        z.attr["disksize"] = "4M"
        s.mkswap(z.bdev)
        s.swapon(z.bdev, ops=ops)
        mm = s.create_mm(8)
        page = bytes(range(256)) * 16
        for i in range(8):
            mm.write(i, page)
        mm.pageout()  # warm: pools, batches and caches exist before the counted page
        mm.read(0)
        out: dict[str, list[tuple[str, str, str]]] = {}
        for phase, fn in (("out", lambda: mm.pageout(0, 1)), ("in", lambda: mm.read(0))):
            path: list[tuple[str, str, str]] = []

            def hook(frame, event, arg, path=path):
                if event != "call" or frame.f_back is None:
                    return
                mod = frame.f_globals.get("__name__", "")
                caller = frame.f_back.f_globals.get("__name__", "")
                if (mod != caller and mod.startswith("swaplab.") and caller.startswith("swaplab.")
                        and mod not in HEADERS and caller not in HEADERS):
                    path.append((caller[8:], mod[8:], frame.f_code.co_name))

            sys.setprofile(hook)
            try:
                fn()
            finally:
                sys.setprofile(None)
            out[phase] = path
        return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", default=None, help="swapon ops (default: zram's swap_ops)")
    ap.add_argument("--list", action="store_true", help="print every crossing")
    args = ap.parse_args()
    for phase, path in crossings(args.ops).items():
        print(f"swap-{phase}: {len(path)} crossings")
        if args.list:
            for caller, callee, fn in path:
                print(f"    {caller} -> {callee}.{fn}")


if __name__ == "__main__":
    main()
