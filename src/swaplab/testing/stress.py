"""Concurrency stress on one zram device: ``run_zram_stress(threads=4, seconds=30)``.

Several processes (one thread each) write, page out, read back and free their
pages through one zram swap device, while a maintenance thread marks slots
idle, writes idle and huge pages back to the backing device, recompresses
idle pages with a second algorithm and compacts the pool; every page freed
sends zram a slot-free notification. Every page read is compared with what its
thread last wrote (contents are a function of thread, page and version), and
at the end every live page is read once more.

A watchdog watches each worker's progress counter; if one stops for
``stall_seconds`` the run fails with every thread's stack (a deadlock becomes a
test failure, not a hang).
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..system import System
from ..workload.corpus import corpus_pages


class StressFailure(AssertionError):
    """A page was lost or corrupted, a worker failed, or the run stalled."""


@dataclass
class StressReport:
    seconds: float = 0.0
    threads: int = 0
    writes: int = 0
    reads_verified: int = 0
    pageouts: int = 0
    pages_freed: int = 0
    maintenance: dict[str, int] = field(default_factory=dict)
    final_verified: int = 0
    lost: int = 0
    mm_stat: str = ""
    bd_stat: str = ""
    io_stat: str = ""


def _content(tid: int, vpn: int, version: int, base: np.ndarray) -> np.ndarray:
    page = base[(tid * 7919 + vpn * 104729 + version) % len(base)].copy()
    page[:24] = np.frombuffer(np.array([tid, vpn, version], dtype=np.uint64).tobytes(),
                              np.uint8)
    return page


def _stacks() -> str:
    names = {t.ident: t.name for t in threading.enumerate()}
    out = []
    for ident, frame in sys._current_frames().items():
        out.append(f"--- thread {names.get(ident, ident)} ---\n"
                   + "".join(traceback.format_stack(frame)))
    return "\n".join(out)


def run_zram_stress(threads: int = 4, seconds: float = 30.0, *, pages_per_thread: int = 384,
                    seed: int = 0, stall_seconds: float = 60.0) -> StressReport:
    """Run the stress; return its report, or raise :class:`StressFailure`."""
    rep = StressReport(threads=threads)
    base = corpus_pages("sample", 256, seed)  # shipped real pages: the same everywhere
    stop = threading.Event()
    errors: list[str] = []
    progress = [0] * (threads + 1)
    lock = threading.Lock()
    counts = {"writes": 0, "reads": 0, "pageouts": 0, "freed": 0}
    maint = {"idle": 0, "writeback": 0, "recompress": 0, "compact": 0}
    with tempfile.TemporaryDirectory(prefix="swaplab-stress-") as tmp, System("256M") as s:
        z = s.load_module("zram")[0]
        bd = s.add_filedisk(Path(tmp) / "backing.img", "64M")
        z.attr["backing_dev"] = f"/dev/{bd.name}"
        z.attr["recomp_algorithm"] = "algo=zstd"
        z.attr["disksize"] = "64M"
        s.mkswap(z.bdev)
        s.swapon(z.bdev)
        models: list[dict[int, int]] = [{} for _ in range(threads)]
        mms = [s.create_mm(pages_per_thread) for _ in range(threads)]

        def worker(tid: int) -> None:
            rng = np.random.default_rng(seed * 1000 + tid)
            model = models[tid]
            mm = mms[tid]
            try:
                while not stop.is_set():
                    op = rng.integers(0, 10)
                    if op < 4:  # write a few pages
                        for v in rng.integers(0, pages_per_thread, size=8).tolist():
                            ver = model.get(v, 0) + 1
                            mm.write(v, _content(tid, v, ver, base))
                            model[v] = ver
                        with lock:
                            counts["writes"] += 8
                    elif op < 6:  # page a range out
                        lo = int(rng.integers(0, pages_per_thread))
                        mm.pageout(lo, min(pages_per_thread, lo + 64))
                        with lock:
                            counts["pageouts"] += 1
                    elif op < 9:  # read some back and check them
                        for v in rng.integers(0, pages_per_thread, size=8).tolist():
                            if v in model:
                                got = mm.read(v)
                                want = _content(tid, v, model[v], base).tobytes()
                                if got != want:
                                    errors.append(f"thread {tid} page {v} version {model[v]}: "
                                                  "read back differs")
                                    stop.set()
                                    return
                                with lock:
                                    counts["reads"] += 1
                    else:  # free a range (zap: the slots are freed, zram notified)
                        lo = int(rng.integers(0, pages_per_thread - 16))
                        freed = mm.zap(lo, lo + 16)
                        for v in range(lo, lo + 16):
                            model.pop(v, None)
                        with lock:
                            counts["freed"] += freed
                    progress[tid] += 1
            except BaseException as e:
                errors.append(f"thread {tid}: {e!r}\n{traceback.format_exc()}")
                stop.set()

        def maintenance() -> None:
            rng = np.random.default_rng(seed + 99)
            try:
                while not stop.is_set():
                    op = int(rng.integers(0, 4))
                    if op == 0:
                        z.attr["idle"] = "all"
                        maint["idle"] += 1
                    elif op == 1:
                        mode = ("idle", "huge", "huge_idle", "incompressible")[
                            int(rng.integers(0, 4))]
                        try:
                            z.attr["writeback"] = mode
                        except OSError as e:  # e.g. ENOSPC on a full backing device
                            if e.errno not in (28, 5):
                                raise
                        maint["writeback"] += 1
                    elif op == 2:
                        z.attr["recompress"] = "type=idle"
                        maint["recompress"] += 1
                    else:
                        z.attr["compact"] = "1"
                        maint["compact"] += 1
                    progress[threads] += 1
                    time.sleep(0.01)
            except BaseException as e:
                errors.append(f"maintenance: {e!r}\n{traceback.format_exc()}")
                stop.set()

        ts = [threading.Thread(target=worker, args=(i,), name=f"worker{i}", daemon=True)
              for i in range(threads)]
        ts.append(threading.Thread(target=maintenance, name="maintenance", daemon=True))
        t0 = time.monotonic()
        for t in ts:
            t.start()
        last = list(progress)
        last_change = [t0] * len(progress)
        while time.monotonic() - t0 < seconds and not stop.is_set():
            time.sleep(0.5)
            now = time.monotonic()
            for i, p in enumerate(progress):
                if p != last[i]:
                    last[i], last_change[i] = p, now
                elif now - last_change[i] > stall_seconds:
                    stacks = _stacks()
                    stop.set()
                    raise StressFailure(f"{ts[i].name} made no progress for {stall_seconds} s "
                                        f"(deadlock?)\n{stacks}")
        stop.set()
        for t in ts:
            t.join(stall_seconds)
            if t.is_alive():
                raise StressFailure(f"{t.name} did not stop (deadlock?)\n{_stacks()}")
        rep.seconds = time.monotonic() - t0
        if errors:
            raise StressFailure("\n".join(errors))
        # every live page once more
        for tid, mm in enumerate(mms):
            for v, ver in models[tid].items():
                if mm.read(v) != _content(tid, v, ver, base).tobytes():
                    rep.lost += 1
                rep.final_verified += 1
        rep.writes, rep.reads_verified = counts["writes"], counts["reads"]
        rep.pageouts, rep.pages_freed = counts["pageouts"], counts["freed"]
        rep.maintenance = dict(maint)
        rep.mm_stat = z.attr["mm_stat"].strip()
        rep.bd_stat = z.attr["bd_stat"].strip()
        rep.io_stat = z.attr["io_stat"].strip()
        if rep.lost:
            raise StressFailure(f"{rep.lost} pages lost: {rep}")
    return rep

