"""The workload engine: processes touching real pages under memory pressure.

:class:`Workload` builds a :class:`~swaplab.System` from a scenario (memory,
swap areas, zram, cgroups, processes with real page contents), then runs the
accesses the scenario describes on a virtual clock:

- an access to a present page sets its accessed bit (and, for a write,
  changes the page by the dirty model and marks it dirty);
- an access to anything else is a fault through the swap core: first touch
  gives the page its corpus contents; a swapped page comes back through the
  swap cache, zswap, readahead or the synchronous path, and is **verified**:
  its xxh3-64 hash must equal the hash of what was last written to it, or
  the run stops with :class:`PageCorruption` naming the process, the page and
  its history (writes, swap-outs with the slot, swap-ins);
- memory pressure comes from the machine's size (kswapd and direct reclaim
  at the zone watermarks) and from cgroup limits (memory.max reclaim).

At the end (``verify_at_end``) every touched page is checked once more:
resident pages in place, swapped pages by faulting them back in.
"""

from __future__ import annotations

import errno
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xxhash

from ..clock import VirtualClock
from ..consts import PAGE_SIZE
from ..errors import kerror
from ..mm.folio import PG, Folio
from ..mm.memory import MmStruct
from ..mm.swapops import (
    pte_pfn,
    pte_present,
    ptes_pfn,
    ptes_present,
    ptes_swap,
    ptes_to_swp_entries,
    swp_offset,
    swp_offsets,
    swp_type,
    swp_types,
)
from ..mm.zswap import Zswap
from ..system import System
from .corpus import corpus_pages
from .patterns import DirtyModel, access_chunks, read_trace, schedule
from .scenario import Scenario

page_hash = xxhash.xxh3_64_intdigest
perf_ns = time.perf_counter_ns


class PageCorruption(RuntimeError):
    """A page read back differs from what was last written to it."""


@dataclass
class Process:
    """One process of the workload: its address space, contents and page history."""

    name: str
    mm: MmStruct
    corpus: np.ndarray
    dirty: DirtyModel
    expect: np.ndarray = field(init=False)
    touched: np.ndarray = field(init=False)
    writes: np.ndarray = field(init=False)
    last_write_ns: np.ndarray = field(init=False)
    swapouts: np.ndarray = field(init=False)
    last_out_entry: np.ndarray = field(init=False)
    last_out_ns: np.ndarray = field(init=False)
    swapins: np.ndarray = field(init=False)
    last_in_ns: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        n = self.mm.nr_pages
        self.expect = np.zeros(n, dtype=np.uint64)
        self.touched = np.zeros(n, dtype=bool)
        self.writes = np.zeros(n, dtype=np.uint32)
        self.last_write_ns = np.zeros(n, dtype=np.int64)
        self.swapouts = np.zeros(n, dtype=np.uint32)
        self.last_out_entry = np.zeros(n, dtype=np.uint64)
        self.last_out_ns = np.zeros(n, dtype=np.int64)
        self.swapins = np.zeros(n, dtype=np.uint32)
        self.last_in_ns = np.zeros(n, dtype=np.int64)

    def history(self, vpn: int, system: System) -> str:
        e = int(self.last_out_entry[vpn])
        where = "never"
        if e:
            t = swp_type(e)
            si = system.swap.info[t] if t < len(system.swap.info) else None
            where = (f"last to {si.name if si else f'type {t}'} slot {swp_offset(e)} at "
                     f"t={self.last_out_ns[vpn] / 1e9:.6f}s")
        return (f"written {int(self.writes[vpn])} times (last at "
                f"t={self.last_write_ns[vpn] / 1e9:.6f}s); swapped out "
                f"{int(self.swapouts[vpn])} times ({where}); swapped in "
                f"{int(self.swapins[vpn])} times (last at t={self.last_in_ns[vpn] / 1e9:.6f}s)")


class Workload:
    """A scenario built into a System and ready to run. Use as a context manager."""

    def __init__(self, scenario: Scenario, *, workdir: str | None = None) -> None:
        self.scenario = scenario
        self._tmp = tempfile.TemporaryDirectory(prefix="swaplab-run-", dir=workdir)
        self.tmp = self._tmp.name
        self.clock = VirtualClock()
        sc = scenario
        self.system = System(sc.system.memory, clock=self.clock, swapin=sc.system.swapin)
        #: every frame's bytes as one flat view: the dirty model writes through it
        self._frames = memoryview(self.system.mem.data.reshape(-1))
        try:
            self._build()
        except BaseException:
            self.close()
            raise
        self.verified = 0
        self.accesses = 0
        #: wall-clock ns of every swap-in fault of the access phase
        self._lat: list[np.ndarray] = []
        self._lat_cur = np.empty(0, dtype=np.int64)
        self._lat_n = 0
        self.timing = False

    # --- building -----------------------------------------------------------------------
    def _build(self) -> None:
        sc, s = self.scenario, self.system
        s.swap_ra.set_page_cluster(sc.system.page_cluster)
        s.swap_ra.vma_ra_enabled = sc.system.vma_ra_enabled
        self._setup_zswap()
        zrams = [sp for sp in sc.swap if sp.type == "zram"]
        ctl = None
        if zrams:
            mode = "register" if zrams[0].swap_ops == "register" else "activate"
            ctl = s.load_module("zram", num_devices=len(zrams), swap_ops=mode)
        zi = 0
        for i, sp in enumerate(sc.swap):
            ops = None
            if sp.type == "zram":
                z = ctl[zi]
                zi += 1
                z.attr["comp_algorithm"] = sp.algorithm or "lz4"
                if sp.backing_dev:
                    disk = s.add_filedisk(os.path.join(self.tmp, f"{z.name}-backing.img"),
                                          sp.backing_dev)
                    z.attr["backing_dev"] = f"/dev/{disk.name}"
                if sp.mem_limit:
                    z.attr["mem_limit"] = str(sp.mem_limit)
                z.attr["disksize"] = str(sp.size)
                target: Any = z.bdev
                ops = "bio-per-page" if sp.swap_ops == "bio-per-page" else None
            elif sp.type == "ramdisk":
                target = s.add_ramdisk(sp.size)
            elif sp.type == "filedisk":
                path = sc.resolve(sp.path) if sp.path else os.path.join(self.tmp, f"disk{i}.img")
                target = s.add_filedisk(path, sp.size)
            else:
                target = sc.resolve(sp.path) if sp.path else os.path.join(self.tmp,
                                                                           f"swapfile{i}")
                with open(target, "wb") as fh:
                    os.posix_fallocate(fh.fileno(), 0, sp.size)
            # a UUID from the seed: mkswap's random one would make the header page,
            # and so zram's compressed size, differ from run to run
            s.mkswap(target, uuid=uuid.UUID(int=(sc.system.seed << 16) + i))
            s.swapon(target, prio=sp.priority, ops=ops)
            if sp.virtual:
                s.swapon_virtual(target, compressed_writeback=sp.compressed_writeback,
                                 layout=sp.layout)
        for cs in sc.cgroup:
            cg = s.create_cgroup(cs.name)
            if cs.memory_max is not None:
                cg.attr["memory.max"] = str(cs.memory_max)
            if cs.swap_max is not None:
                cg.attr["memory.swap.max"] = str(cs.swap_max)
            if cs.zswap_max is not None:
                cg.attr["memory.zswap.max"] = str(cs.zswap_max)
            cg.attr["memory.zswap.writeback"] = "1" if cs.zswap_writeback else "0"
        self.procs: list[Process] = []
        for i, ps in enumerate(sc.process):
            memcg = s.cgroup(ps.cgroup) if ps.cgroup else None
            mm = s.create_mm(ps.nr_pages, memcg=memcg, vmas=ps.vmas)
            seed = sc.system.seed * 1000 + i
            pages = corpus_pages(ps.corpus, ps.nr_pages, seed, zero=ps.zero, same=ps.same)
            proc = Process(ps.name, mm, pages, DirtyModel(pages, seed))
            mm.on_swap_out = self._make_swap_out_hook(proc)
            self.procs.append(proc)

    def _setup_zswap(self) -> None:
        z = self.scenario.zswap
        if not z.enabled:
            return
        zs = Zswap(self.system)
        zs.params["compressor"] = z.compressor
        zs.params["max_pool_percent"] = str(z.max_pool_percent)
        zs.params["accept_threshold_percent"] = str(z.accept_threshold_percent)
        zs.params["shrinker_enabled"] = "Y" if z.shrinker_enabled else "N"
        zs.params["enabled"] = "Y"

    def _make_swap_out_hook(self, proc: Process
                            ) -> Callable[[MmStruct, np.ndarray, np.ndarray], None]:
        clock = self.clock

        def hook(mm: MmStruct, vpns: np.ndarray, entries: np.ndarray) -> None:
            proc.swapouts[vpns] += 1  # distinct pages: no repeated index
            proc.last_out_entry[vpns] = entries
            proc.last_out_ns[vpns] = clock.now_ns()

        return hook

    # --- running ------------------------------------------------------------------------
    def _verify(self, proc: Process, vpn: int, pfn: int, when: str) -> None:
        """Check page ``vpn`` of ``proc``, in frame ``pfn``, against the hash of
        what was last written to it (hashed from the flat view of the frames:
        no array view a page); PageCorruption with its history if it differs."""
        at = pfn * PAGE_SIZE
        got = page_hash(self._frames[at : at + PAGE_SIZE])
        self.verified += 1
        if got == proc.expect.item(vpn):
            return
        raise PageCorruption(
            f"{when}: process {proc.name} (mm {proc.mm.id}) page {vpn} "
            f"(address {vpn * PAGE_SIZE:#x}) reads back with hash {got:#018x}, expected "
            f"{int(proc.expect[vpn]):#018x}; history: {proc.history(vpn, self.system)}")

    def _write(self, proc: Process, vpn: int, pfn: int) -> None:
        mem = self.system.mem
        if mem.flags.item(pfn) & PG.writeback:
            Folio(mem, pfn).wait_writeback()
        frames = self._frames
        at = pfn * PAGE_SIZE
        proc.dirty.write(frames, at)
        proc.expect[vpn] = page_hash(frames[at : at + PAGE_SIZE])
        proc.writes[vpn] = proc.writes.item(vpn) + 1
        proc.last_write_ns[vpn] = self.clock.now_ns()
        lock = mem.flag_lock
        lock.acquire()  # not ``with``: every write (see VmStat)
        try:
            mem.flags[pfn] = mem.flags.item(pfn) | PG.dirty | PG.young
        finally:
            lock.release()

    def _new_latency_chunk(self) -> None:
        """Keep the full chunk of fault latencies and start the next one."""
        if self._lat_n:
            self._lat.append(self._lat_cur)
        self._lat_cur = np.empty(65536, dtype=np.int64)
        self._lat_n = 0

    def fault_latencies(self) -> np.ndarray:
        """ns of each swap-in fault timed so far (the access phase of :meth:`run`)."""
        return np.concatenate([*self._lat, self._lat_cur[: self._lat_n]])

    def access(self, proc: Process, vpns: np.ndarray, writes: np.ndarray) -> None:
        """Run one chunk of accesses of one process.

        Reads of present pages are the MMU's: the compiled loop
        (``MemMap.touch``) sets their accessed bits up to the next write or
        missing page, which is taken here (the dirty model, or a fault)."""
        mm = proc.mm
        ptes = mm.ptes
        mem = self.system.mem
        lock = mem.flag_lock
        touch = mem.map.touch
        vpns = np.ascontiguousarray(vpns, dtype=np.int64)
        writes = np.ascontiguousarray(writes, dtype=bool)
        # the accesses Python takes (writes, faults) read them one at a time:
        # from a list, a fraction of a numpy scalar read
        vl = vpns.tolist()
        wl = writes.tolist()
        expect = proc.expect
        swapins, last_in_ns = proc.swapins, proc.last_in_ns
        now_ns = self.clock.now_ns
        n = len(vpns)
        k = 0
        while True:
            lock.acquire()  # not ``with``: once per write or fault (see VmStat)
            try:
                k = touch(ptes, vpns, writes, k)
            finally:
                lock.release()
            if k >= n:
                break
            vpn = vl[k]
            w = wl[k]
            k += 1
            pte = ptes.item(vpn)
            if pte_present(pte):  # a write: the dirty model changes the page
                self._write(proc, vpn, pte_pfn(pte))
                continue
            if self.timing and pte:
                t = perf_ns()
                folio = mm.fault(vpn, write=w)
                t = perf_ns() - t
                if self._lat_n == len(self._lat_cur):
                    self._new_latency_chunk()
                self._lat_cur[self._lat_n] = t
                self._lat_n += 1
            else:
                folio = mm.fault(vpn, write=w)
            if pte == 0:
                folio.data[:] = proc.corpus[vpn]
                expect[vpn] = page_hash(folio.data)
                proc.touched[vpn] = True
                proc.writes[vpn] += 1
                proc.last_write_ns[vpn] = now_ns()
            else:
                self._verify(proc, vpn, folio.pfn, "fault")
                swapins[vpn] = swapins.item(vpn) + 1
                last_in_ns[vpn] = now_ns()
            if w:
                self._write(proc, vpn, folio.pfn)
        self.accesses += n

    def populate(self, proc: Process, lo: int, hi: int) -> None:
        """The first touch of pages ``[lo, hi)`` of ``proc``, as a read of each
        would make it (:meth:`access`), filled as MAP_POPULATE does
        (:meth:`MmStruct.populate`): each page gets its corpus contents, and
        its hash, write count and time are recorded as arrays."""
        mm = proc.mm
        if mm.ptes[lo:hi].any():  # a page touched already: one access each
            self.access(proc, np.arange(lo, hi), np.zeros(hi - lo, dtype=bool))
            return
        mm.populate(lo, proc.corpus[lo:hi])
        proc.expect[lo:hi] = [page_hash(p) for p in proc.corpus[lo:hi]]
        proc.touched[lo:hi] = True
        proc.writes[lo:hi] += 1
        proc.last_write_ns[lo:hi] = self.clock.now_ns()
        self.accesses += hi - lo

    def _chunks(self) -> tuple[int, Any]:
        sc = self.scenario
        run = sc.run
        tick = int(run.tick_us * 1000)
        if run.trace:
            tr = read_trace(sc.resolve(run.trace))
            n = len(tr.time)
            bad = np.flatnonzero((tr.pid < 0) | (tr.pid >= len(self.procs)))
            if len(bad):
                raise kerror(errno.EINVAL, f"{run.trace}: record {int(bad[0]) + 1} names pid "
                             f"{int(tr.pid[bad[0]])}; the scenario has processes 0.."
                             f"{len(self.procs) - 1}")
            sizes = np.array([p.mm.nr_pages for p in self.procs])
            bad = np.flatnonzero(tr.vpn >= sizes[tr.pid])
            if len(bad):
                k = int(bad[0])
                raise kerror(errno.EINVAL, f"{run.trace}: record {k + 1} address "
                             f"{int(tr.vpn[k]) * PAGE_SIZE:#x} is outside process "
                             f"{int(tr.pid[k])} ({int(sizes[tr.pid[k]])} pages)")

            def gen():
                t0 = tr.time[0]
                start_ns = self.clock.now_ns()
                # one chunk per run of records of the same process
                cuts = np.flatnonzero(np.diff(tr.pid) != 0) + 1
                for idx in np.split(np.arange(n), cuts):
                    now = start_ns + int((tr.time[idx[-1]] - t0) * 1e9)
                    yield int(tr.pid[idx[0]]), tr.vpn[idx], tr.write[idx], now
            return n, gen()
        seed = sc.system.seed
        streams = [access_chunks(ps.pattern, ps.nr_pages, run.accesses // len(self.procs),
                                 seed=seed * 7919 + i, write_ratio=ps.write_ratio,
                                 zipf_s=ps.zipf_s)
                   for i, ps in enumerate(sc.process)]
        total = (run.accesses // len(self.procs)) * len(self.procs)

        def gen2():
            for i, v, w in schedule(streams, run.schedule, phase=run.phase):
                yield i, v, w, self.clock.now_ns() + tick * len(v)
        return total, gen2()

    def run(self, progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
        """Populate, run the accesses, verify; return the report (see :meth:`report`)."""
        sc = self.scenario
        t0 = time.perf_counter()
        if sc.run.populate:
            self.populate_all(progress)
        t1 = time.perf_counter()
        done, run_vmstat = self.run_accesses(progress)
        t2 = time.perf_counter()
        if sc.run.verify_at_end:
            self.verify_all(progress)
        t3 = time.perf_counter()
        return self.report(populate_s=t1 - t0, run_s=t2 - t1, verify_s=t3 - t2,
                           run_vmstat=run_vmstat, run_accesses=done)

    def populate_all(self, progress: Callable[[str, int, int], None] | None = None) -> None:
        """The populate phase of :meth:`run`: every page of every process
        touched once (:meth:`populate`), 4,096 pages at a time, the clock
        advancing one tick a page."""
        tick = int(self.scenario.run.tick_us * 1000)
        total = sum(p.mm.nr_pages for p in self.procs)
        done = 0
        for proc in self.procs:
            n = proc.mm.nr_pages
            for lo in range(0, n, 4096):
                hi = min(n, lo + 4096)
                self.populate(proc, lo, hi)
                self.clock.advance(ns=tick * (hi - lo))
                done += hi - lo
                if progress:
                    progress("populate", done, total)

    def run_accesses(self, progress: Callable[[str, int, int], None] | None = None
                     ) -> tuple[int, dict[str, int]]:
        """The access phase of :meth:`run`: the scenario's accesses (its
        pattern or trace) chunk by chunk, each swap-in fault timed, the clock
        held to the schedule. Returns the number of accesses and the vmstat
        counters' change over the phase."""
        before = self.system.vmstat.snapshot()
        total, chunks = self._chunks()
        self.timing = True
        done = 0
        try:
            for i, v, w, until in chunks:
                self.access(self.procs[i], v, w)
                now = self.clock.now_ns()
                if until > now:
                    self.clock.advance(ns=until - now)
                done += len(v)
                if progress:
                    progress("run", done, total)
        finally:
            self.timing = False
        after = self.system.vmstat.snapshot()
        return done, {k: after[k] - before[k] for k in after}

    def verify_all(self, progress: Callable[[str, int, int], None] | None = None) -> int:
        """Check every touched page of every process; return how many were checked."""
        total = sum(int(p.touched.sum()) for p in self.procs)
        done = 0
        for proc in self.procs:
            mm = proc.mm
            for vpn in np.flatnonzero(proc.touched).tolist():
                pte = int(mm.ptes[vpn])
                if pte_present(pte):
                    self._verify(proc, vpn, pte_pfn(pte), "final check")
                else:
                    folio = mm.fault(vpn)
                    self._verify(proc, vpn, folio.pfn, "final check (swap-in)")
                    proc.swapins[vpn] += 1
                done += 1
                if progress and done % 4096 == 0:
                    progress("verify", done, total)
        if progress:
            progress("verify", done, total)
        return done

    def census(self) -> dict[str, int]:
        """Where every touched page is now, counted from the page tables, and the
        device and zswap counters it must agree with.

        ``resident + zero + zswap + zram + device == touched``: a page is mapped
        in memory, recorded in a swap area's zero map, held by zswap, held by
        zram (compressed, same-filled, or written back to its backing device:
        ``zram_wb`` of them), or on a plain swap device (``device``).
        ``resident_swapcache`` of the resident pages still keep their swap
        slot (a clean copy on the device, as after a read-only swap-in).
        """
        s = self.system
        out = dict.fromkeys(("touched", "resident", "zero", "zswap", "zram", "zram_wb",
                             "device", "resident_swapcache"), 0)
        zram = s.modules.get("zram")
        zdev = {z.bdev: z for z in zram.devices.values()} if zram is not None else {}
        for proc in self.procs:
            ptes = proc.mm.ptes
            touched = proc.touched
            out["touched"] += int(touched.sum())
            present = ptes_present(ptes)
            out["resident"] += int(np.count_nonzero(present & touched))
            pfns = ptes_pfn(ptes[present])
            out["resident_swapcache"] += int(np.count_nonzero(
                s.mem.flags[pfns] & np.uint32(PG.swapcache)))
            entries = ptes_to_swp_entries(ptes[ptes_swap(ptes)])
            types, offs = swp_types(entries), swp_offsets(entries)
            for t in np.unique(types).tolist():
                si = s.swap.info[t]
                o = offs[types == t]
                zero = si.zeromap[o]
                out["zero"] += int(zero.sum())
                o = o[~zero]
                if s.zswap is not None and t in s.zswap.trees:
                    inz = s.zswap.trees[t].handle[o] != 0
                    out["zswap"] += int(inz.sum())
                    o = o[~inz]
                z = zdev.get(si.bdev)
                if z is not None:
                    out["zram"] += len(o)
                    out["zram_wb"] += z.written_back(o)
                else:
                    out["device"] += len(o)
        return out

    # --- results ------------------------------------------------------------------------
    def report(self, **extra: Any) -> dict[str, Any]:
        """Counters and rates of the run: vmstat, per-cgroup memory.stat, swap areas,
        zram mm_stat, pages verified, and faults and swapped pages per second of
        the access phase."""
        s = self.system
        vm = s.vmstat.snapshot()
        out: dict[str, Any] = {
            "pages_verified": self.verified,
            "accesses": self.accesses,
            "memory_pages": s.mem.nr_frames,
            "resident_pages": sum(p.mm.resident() for p in self.procs),
            "virtual_s": self.clock.now_ns() / 1e9,
            "vmstat": vm,
            "proc_swaps": s.proc_swaps(),
            "cgroups": {cg.name or "/": {"memory.current": cg.usage * PAGE_SIZE,
                                         "memory.swap.current": cg.swap_usage * PAGE_SIZE,
                                         "memory.stat": cg.attr["memory.stat"]}
                        for cg in s.memcg_list()},
        }
        for rec in s.backend_statistics():
            if rec.kind == "zswap":
                out["zswap"] = dict(rec.files)
            else:  # each stat file's columns by name (the files' texts say nothing alone)
                out.setdefault(rec.kind, {})[rec.name] = {k: dict(v) for k, v in
                                                          rec.fields.items()}
        out.update(extra)
        lat = self.fault_latencies() / 1000.0
        if len(lat):
            out["swapin_fault_latency_us"] = {
                "faults": len(lat), "avg": float(lat.mean()),
                "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
                "p999": float(np.percentile(lat, 99.9))}
        rv = extra.get("run_vmstat")
        run_s = extra.get("run_s")
        if rv and run_s:
            swapped = rv["pswpin"] + rv["pswpout"] + rv["zswpin"] + rv["zswpout"]
            out["faults_per_s"] = rv["pgfault"] / run_s
            out["swapped_pages_per_s"] = swapped / run_s
            out["accesses_per_s"] = extra.get("run_accesses", 0) / run_s
        return out

    def close(self) -> None:
        try:
            if getattr(self, "system", None) is not None:
                self.system.close()
        finally:
            self._tmp.cleanup()

    def __enter__(self) -> Workload:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

