"""One simulated machine.

A :class:`System` owns everything the kernel would hold globally: the page
frames, the swap-area table, vmstat counters, the block devices and driver
registrations, a clock and the kernel log. Several systems can live in one
process; nothing in swaplab keeps module-level mutable state.
"""

from __future__ import annotations

import errno
import importlib
import inspect
import os
import uuid as uuidlib
from typing import Any

from .block.blkdev import BlockDevice
from .block.brd import RamDisk
from .block.filedisk import FileDisk
from .clock import Clock, RealClock
from .consts import PAGE_SHIFT, PAGE_SIZE
from .errors import kerror
from .faults import FaultInjector
from .mm import swapfile
from .mm.memcontrol import MAX_MEMCG, MemCgroup, MemcgStats
from .mm.memory import MmStruct
from .mm.page_alloc import PhysMem
from .mm.swap_header import build_swap_header
from .mm.swap_iocb import SwapOps
from .mm.swap_state import SwapRaState
from .mm.swapops import MAX_SWAPFILES
from .mm.vmstat import VmStat
from .mm.vswap import vswap_on
from .printk import Printk
from .statistics import BackendStatistics
from .util import host_available_memory, memparse, size_str

#: Loadable drivers by module name: "python.module:ControlClass". The class is
#: called with the System and the module parameters (System.load_module).
MODULES: dict[str, str] = {
    "zram": "swaplab.drivers.zram.zram_drv:ZramControl",
}


def default_min_free_kbytes(managed: int) -> int:
    """vm.min_free_kbytes at boot: sqrt(16 * KiB of RAM), clamped to 128 KiB..256 MiB."""
    import math

    return min(max(math.isqrt(managed * (PAGE_SIZE // 1024) * 16), 128), 262144)


def zone_watermarks(managed: int, min_free_kbytes: int | None = None) -> dict[str, int]:
    """min/low/high in pages for one zone of ``managed`` pages, as
    __setup_per_zone_wmarks computes them from vm.min_free_kbytes (default:
    :func:`default_min_free_kbytes`) and the default watermark_scale_factor of
    10 (0.1% of memory)."""
    if min_free_kbytes is None:
        min_free_kbytes = default_min_free_kbytes(managed)
    wmin = min_free_kbytes >> (PAGE_SHIFT - 10)
    step = max(wmin >> 2, managed * 10 // 10000)
    return {"min": wmin, "low": wmin + step, "high": wmin + 2 * step}



#: The swap-in paths of a synchronous device a System can model (``swapin=``).
SWAPIN_MODES = ("swap-table", "sync-bypass")


class System:
    """A machine with ``memory`` bytes of RAM (a number or a size like ``"256M"``)."""

    def __init__(self, memory: int | str = "256M", *, clock: Clock | None = None,
                 max_swapfiles: int = MAX_SWAPFILES, swapin: str = "swap-table") -> None:
        nbytes = memparse(memory)
        if nbytes < PAGE_SIZE:
            raise kerror(errno.EINVAL, f"memory size {memory!r} is smaller than a page")
        if nbytes % PAGE_SIZE:
            raise kerror(errno.EINVAL, f"memory size {memory!r} is not a whole number of "
                         f"{PAGE_SIZE}-byte pages")
        avail = host_available_memory()
        if nbytes > avail:  # the frames are populated at once (ram_arena)
            raise kerror(errno.ENOMEM, f"memory size {memory!r} ({size_str(nbytes)}) is more "
                         f"than this host has available ({size_str(avail)})")
        self.closed = False
        if swapin not in SWAPIN_MODES:
            raise kerror(errno.EINVAL, f"swapin {swapin!r}: one of {', '.join(SWAPIN_MODES)}")
        #: how a fault reads a count-1 entry of a SWP_SYNCHRONOUS_IO area (zram):
        #: "swap-table" through the swap cache (kernel 6.18+ with the swap table's
        #: phase II), "sync-bypass" the older path that skips it (mm/memory.py)
        self.swapin = swapin
        self.mem = PhysMem(nbytes >> PAGE_SHIFT)
        self.mem.system = self
        self.clock: Clock = clock if clock is not None else RealClock()
        self.vmstat = VmStat()
        self.printk = Printk()
        self.swap = swapfile.SwapAreas(self, max_swapfiles)
        self.block: dict[str, BlockDevice] = {}
        self.mms: dict[int, MmStruct] = {}
        #: The compressed cache in front of every swap area, when enabled:
        #: an object with store(folio) -> bool, load(folio) -> 0/-errno,
        #: invalidate(entry), swapon(type, max), swapoff(type).
        self.zswap: Any = None
        self._drivers: dict[str, Any] = {}
        self._minors: dict[str, int] = {}
        #: Loaded driver modules by name (each has ``unload()``), e.g. "zram".
        self.modules: dict[str, Any] = {}
        #: Memory cgroups by id; 0 is the root.
        self.memcg_stats = MemcgStats()
        self.memcgs: dict[int, MemCgroup] = {}
        self.root_memcg = MemCgroup(self, 0, "")
        self.memcgs[0] = self.root_memcg
        #: vm.page-cluster and vma_ra_enabled, and the cluster-readahead state
        self.swap_ra = SwapRaState()
        self.watermark = zone_watermarks(self.mem.nr_frames)
        #: kswapd runs (synchronously) when an allocation takes free memory
        #: below the low watermark; off, only direct reclaim frees memory
        self.kswapd_enabled = True
        #: zsmalloc pools (zram's, zswap's) take their pages from this machine's
        #: memory, as in the kernel; False keeps them outside (unaccounted)
        self.pools_in_ram = True
        #: named, seeded failure points (swaplab/faults.py)
        self.faults = FaultInjector()

    # --- block devices ------------------------------------------------------------------
    def _next_minor(self, prefix: str) -> int:
        n = self._minors.get(prefix, 0)
        while f"{prefix}{n}" in self.block:
            n += 1
        self._minors[prefix] = n + 1
        return n

    def add_disk(self, bdev: BlockDevice, driver: Any = None) -> BlockDevice:
        """Register a block device under its name (add_disk); EEXIST if taken."""
        if bdev.name in self.block:
            raise kerror(errno.EEXIST, f"block device {bdev.name} already exists")
        self.block[bdev.name] = bdev
        self._drivers[bdev.name] = driver
        bdev.faults = self.faults
        return bdev

    def del_disk(self, bdev: BlockDevice) -> None:
        """Remove a block device; EBUSY while it is open (e.g. active swap)."""
        if bdev.open_count:
            raise kerror(errno.EBUSY, f"{bdev.path} is in use")
        self.block.pop(bdev.name, None)
        drv = self._drivers.pop(bdev.name, None)
        if isinstance(drv, FileDisk):
            drv.close()

    def add_ramdisk(self, size: int | str, *, synchronous: bool = False) -> BlockDevice:
        """A new RAM disk ``ramN`` of ``size`` bytes."""
        self.check_open()
        n = self._next_minor("ram")
        rd = RamDisk(f"ram{n}", memparse(size), n, synchronous=synchronous)
        return self.add_disk(rd.bdev, rd)

    def add_filedisk(self, path: str | os.PathLike[str], size: int | str | None = None, *,
                     direct: bool = True, rotational: bool = False) -> BlockDevice:
        """A new disk ``loopN`` over the real file ``path`` (created or grown to ``size``)."""
        self.check_open()
        n = self._next_minor("loop")
        fd = FileDisk(f"loop{n}", path, None if size is None else memparse(size), n,
                      direct=direct, rotational=rotational)
        return self.add_disk(fd.bdev, fd)

    def driver(self, bdev: BlockDevice) -> Any:
        """The driver object behind a registered device."""
        return self._drivers.get(bdev.name)

    # --- swap areas ---------------------------------------------------------------------
    def mkswap(self, target: BlockDevice | str | os.PathLike[str], *,
               uuid: uuidlib.UUID | str | None = None, label: str | None = None) -> None:
        """Write a swap header (util-linux mkswap's bytes) to a device or file.

        The area covers the whole device or file; page 0 is rewritten (its first
        1024 bytes zeroed), nothing else is touched. EBUSY on an active area.
        """
        self.check_open()
        if swapfile.find_area(self, target) is not None:
            raise kerror(errno.EBUSY, f"mkswap: {target} is an active swap area")
        bdev, path = swapfile.resolve_target(self, target)
        if bdev is not None:
            page = build_swap_header(bdev.capacity >> PAGE_SHIFT, uuid=uuid, label=label)
            bdev.pwrite(page, 0)
            return
        fd = os.open(path, os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            page = build_swap_header(size >> PAGE_SHIFT, uuid=uuid, label=label)
            os.pwrite(fd, page, 0)
            os.fsync(fd)
        finally:
            os.close(fd)

    def swapon(self, target: BlockDevice | str | os.PathLike[str], *, prio: int | None = None,
               flags: int = 0, ops: SwapOps | str | None = None) -> swapfile.SwapInfo:
        """swapon(2). ``prio`` sets SWAP_FLAG_PREFER with that priority (0..32767);
        ``ops`` chooses the area's ops table (e.g. ``"bio-per-page"``; see
        :func:`swapfile.sys_swapon`)."""
        self.check_open()
        if prio is not None:
            if not 0 <= prio <= swapfile.SWAP_FLAG_PRIO_MASK:
                raise kerror(errno.EINVAL, f"swap priority {prio} outside 0..32767")
            flags |= swapfile.SWAP_FLAG_PREFER | prio
        return swapfile.sys_swapon(self, target, flags, ops=ops)

    def swapoff(self, target: swapfile.SwapInfo | BlockDevice | str | os.PathLike[str]
                ) -> None:
        """swapoff(2); an area without a name (the virtual swap layer's ghost) is
        given as its SwapInfo."""
        swapfile.sys_swapoff(self, target)

    def swapon_virtual(self, physical: BlockDevice | str | os.PathLike[str],
                       nr_pages: int | None = None, *, compressed_writeback: bool = False,
                       layout: str = "A") -> swapfile.SwapInfo:
        """Turn on virtual swap entries (mm/vswap.py) in front of the active area
        ``physical``: a ghost area of ``nr_pages`` slots (default: one for each
        page frame and each page of ``physical``) at the highest priority;
        ``compressed_writeback`` makes zswap write its compressed blobs to
        ``physical`` in ``layout`` "A" (a slot each) or "C" (a batch packed).
        Returns the ghost (``swapoff`` takes it). EINVAL when ``physical`` is
        not an active block-device area; EBUSY when the layer is on already."""
        self.check_open()
        si = swapfile.find_area(self, physical)
        if si is None:
            raise kerror(errno.EINVAL, f"vswap: {physical} is not an active swap area")
        if nr_pages is None:
            nr_pages = self.mem.nr_frames + si.pages
        return vswap_on(self, si, nr_pages, compressed_writeback=compressed_writeback,
                        layout=layout)

    def proc_swaps(self) -> str:
        return swapfile.proc_swaps(self)

    def swap_register_block_ops(self, fops: object, ops: SwapOps) -> int:
        return swapfile.swap_register_block_ops(self, fops, ops)

    def swap_unregister_block_ops(self, fops: object) -> None:
        swapfile.swap_unregister_block_ops(self, fops)

    def check_open(self) -> None:
        """ENODEV once :meth:`close` ran: a closed machine takes no more work."""
        if self.closed:
            raise kerror(errno.ENODEV, "the System is closed")

    def load_module(self, name: str, **params: Any) -> Any:
        """modprobe ``name`` with its parameters: the driver's control object.

        Drivers are found by name in :data:`MODULES` (imported on first load,
        so the core never imports a driver). An unknown module is ENOENT, a
        parameter the driver does not take EINVAL naming it, loading twice
        EEXIST. ``load_module("zram", num_devices=1, swap_ops="activate",
        chain_size=8)``: ``swap_ops`` is how swap reaches zram, "activate"
        (swap_activate with private_data), "register" (a driver-wide
        registration) or "none" (the default block ops, bios into zram).
        """
        self.check_open()
        where = MODULES.get(name)
        if where is None:
            raise kerror(errno.ENOENT, f"modprobe: module {name!r} not found "
                         f"(known: {', '.join(MODULES)})")
        if name in self.modules:
            raise kerror(errno.EEXIST, f"{name} is already loaded")
        mod_path, _, attr = where.partition(":")
        loader = getattr(importlib.import_module(mod_path), attr)
        accepted = inspect.signature(loader).parameters
        for key in params:
            if key not in accepted or key == "system":
                raise kerror(errno.EINVAL, f"modprobe {name}: unknown parameter {key!r}")
        ctl = loader(self, **params)
        self.modules[name] = ctl
        return ctl

    def load_zram(self, num_devices: int = 1, *, swap_ops: str = "activate",
                  chain_size: int = 8) -> Any:
        """``load_module("zram", ...)``, kept as a shorthand."""
        return self.load_module("zram", num_devices=num_devices, swap_ops=swap_ops,
                                chain_size=chain_size)

    def unload_module(self, name: str) -> None:
        """rmmod: EBUSY while one of its devices is in use."""
        mod = self.modules.get(name)
        if mod is None:
            raise kerror(errno.ENOENT, f"module {name} is not loaded")
        mod.unload()
        del self.modules[name]

    # --- processes ----------------------------------------------------------------------
    def set_min_free_kbytes(self, kbytes: int) -> None:
        """sysctl vm.min_free_kbytes: recompute the watermarks (EINVAL below 0)."""
        if kbytes < 0:
            raise kerror(errno.EINVAL, f"vm.min_free_kbytes {kbytes} is negative")
        self.watermark = zone_watermarks(self.mem.nr_frames, kbytes)

    def create_cgroup(self, name: str) -> MemCgroup:
        """mkdir /sys/fs/cgroup/NAME (memory controller enabled)."""
        self.check_open()
        if not name or "/" in name or name in (".", ".."):
            raise kerror(errno.EINVAL, f"cgroup name {name!r} is not a directory name")
        if any(cg.name == name for cg in self.memcgs.values()):
            raise kerror(errno.EEXIST, f"cgroup {name!r} exists")
        cid = max(self.memcgs) + 1
        if cid >= MAX_MEMCG:
            raise kerror(errno.ENOSPC, f"no more than {MAX_MEMCG - 1} cgroups")
        cg = MemCgroup(self, cid, name)
        self.memcgs[cid] = cg
        return cg

    def cgroup(self, name: str) -> MemCgroup:
        for cg in self.memcgs.values():
            if cg.name == name:
                return cg
        raise kerror(errno.ENOENT, f"no cgroup {name!r}")

    def memcg_list(self) -> list[MemCgroup]:
        """Every cgroup, root first (the order mem_cgroup_iter walks them)."""
        return [self.memcgs[k] for k in sorted(self.memcgs)]

    def create_mm(self, nr_pages: int, *, memcg: MemCgroup | None = None,
                  vmas: list[int] | None = None) -> MmStruct:
        """A new address space of ``nr_pages`` anonymous virtual pages in
        ``memcg`` (default root), split into VMAs of ``vmas`` pages. EINVAL
        for fewer than one page, ENODEV on a closed System."""
        self.check_open()
        if nr_pages < 1:
            raise kerror(errno.EINVAL, f"create_mm: an address space needs at least one "
                         f"page, not {nr_pages}")
        mm_id = max(self.mms, default=-1) + 1
        mm = MmStruct(self, mm_id, nr_pages, memcg, vmas)
        self.mms[mm_id] = mm
        return mm

    def exit_mm(self, mm: MmStruct) -> None:
        mm.release()
        self.mms.pop(mm.id, None)

    def backend_statistics(self, files: bool = True) -> list[BackendStatistics]:
        """A record of every backend with a pool of its own: each device of every
        loaded driver that reports them, then zswap when it is on, then the
        virtual swap layer when it is on. ``files=False``
        leaves each record's ``files`` empty: the counters alone, cheap enough
        to ask after every fault."""
        out: list[BackendStatistics] = []
        for mod in self.modules.values():
            report = getattr(mod, "statistics", None)
            if report is not None:
                out.extend(report(files))
        if self.zswap is not None:
            out.append(self.zswap.statistics(files))
        if self.swap.vswap is not None:
            out.append(self.swap.vswap.statistics(files))
        return out

    def backing_reads(self) -> int | None:
        """Pages read so far from a backing device by the backends of loaded
        drivers that keep a pool (zram's bd_reads), summed; None when no driver
        has such a backend. The figure of :meth:`backend_statistics`'
        ``backing_reads`` without building the records: cheap after every fault."""
        total = None
        for mod in self.modules.values():
            count = getattr(mod, "backing_reads", None)
            n = count() if count is not None else None
            if n is not None:
                total = (total or 0) + n
        return total

    # --- lifetime -----------------------------------------------------------------------
    def close(self) -> None:
        """Release every process, swap off every area and close every disk;
        the System then refuses new work (ENODEV). Closing twice is a no-op."""
        if self.closed:
            return
        self.closed = True
        # processes exit first: exit_mmap drops their swap entries without
        # reading them back, so swapoff then finds the areas empty
        for mm in list(self.mms.values()):
            self.exit_mm(mm)
        # the ghost of the virtual swap layer before the area behind it
        for si in sorted(self.swap.active(), key=lambda a: a.vswap is None):
            swapfile.sys_swapoff(self, si)
        for name in list(self.modules):
            self.unload_module(name)
        if self.zswap is not None:  # its pools' frames go back now, not at a GC
            self.zswap.destroy()
        for name in list(self.block):
            self.del_disk(self.block[name])

    def __enter__(self) -> System:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
