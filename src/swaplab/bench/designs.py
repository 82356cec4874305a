"""The swap designs a benchmark can compare, each a recipe for one machine's swap.

A design builds its swap inside a fresh :class:`~swaplab.System` (and a scratch
folder for real files): ``setup`` returns what mkswap/swapon take, ``prepare``
runs after swapon (zswap is enabled there), ``after_pageout`` runs once every
page is out (zram writes its idle pages back there). ``cold_reads`` counts
the pages read from the slow device so far, so the harness can tell a warm
fault (served from memory: zram's pool, zswap) from a cold one.

The default set is the comparison the swap_ops thread asked for: zram through
the old per-page bio path and through the series' swap_ops, each without and
with a backing device holding the written-back idle pages, zswap in the
swap core over a plain file-backed disk, and the reviewers' answer: virtual
swap entries with zswap writing every entry back to a file-backed disk,
decompressed (vswap/zswap) or as its compressed blob (vswap/zswap+cwb).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..mm.zswap import Zswap
from ..system import System


@dataclass(frozen=True)
class Design:
    """One way to swap: a name, what it stands for, and how to set it up.

    ``setup(system, tmp, nbytes, algorithm)`` and ``prepare(system,
    algorithm)`` get :attr:`algorithm`: the compressor of a design that
    compresses (zram, zswap), None for one that does not."""

    name: str
    summary: str
    setup: Callable[[System, Path, int, str | None], Any]
    swapon: dict[str, Any] = field(default_factory=dict)
    prepare: Callable[[System, str | None], None] | None = None
    after_pageout: Callable[[System], None] | None = None
    algorithm: str | None = None

    def with_algorithm(self, algorithm: str, label: bool = False) -> Design:
        """This design compressing with ``algorithm``; ``label`` adds it to
        the name ("zram/swap_ops [zstd]"). A design that does not compress is
        returned as it is."""
        if self.algorithm is None:
            return self
        name = f"{self.name} [{algorithm}]" if label else self.name
        return dataclasses.replace(self, name=name, algorithm=algorithm,
                                   summary=self.summary.replace(f"({self.algorithm}",
                                                                f"({algorithm}"))


def cold_reads(system: System) -> int:
    """Pages read so far from a slow device: the backing devices of swap devices
    that keep a pool (zram), or, without one, the swap devices themselves
    (pswpin: zswap, in front of the device, is not in it)."""
    n = system.backing_reads()
    return system.vmstat["pswpin"] if n is None else n


def _ram(system: System, tmp: Path, nbytes: int, algorithm: str | None) -> Any:
    return system.add_ramdisk(nbytes)


def _file(system: System, tmp: Path, nbytes: int, algorithm: str | None) -> Any:
    return system.add_filedisk(tmp / "swapdisk.img", nbytes)


def _zram(system: System, tmp: Path, nbytes: int, algorithm: str | None,
          params: str | None = None) -> Any:
    z = system.load_module("zram")[0]
    z.attr["comp_algorithm"] = algorithm or "lz4"
    if params:
        z.attr["algorithm_params"] = params
    z.attr["disksize"] = str(nbytes)
    return z.bdev


def zram_setting(algorithm: str, params: str | None = None) -> Design:
    """zram/swap_ops with ``algorithm`` and its algorithm_params (e.g.
    "level=9"): one setting of ``swaplab advise``."""
    label = f"zram {algorithm}" + (f" {params}" if params else "")
    return Design(label, f"zram ({algorithm}{', ' + params if params else ''}) through "
                  "swap_ops", functools.partial(_zram, params=params), algorithm=algorithm)


def _zswap_whole(system: System, algorithm: str | None) -> None:
    z = Zswap(system, algorithm or "lz4", enabled=True)
    z.max_pool_percent = 100  # every page in the pool: what it takes, not what fits


def zswap_setting(algorithm: str) -> Design:
    """zswap with ``algorithm``, its pool allowed the whole machine, over a
    file-backed disk: ``swaplab advise``'s zswap row."""
    return Design(f"zswap {algorithm}", f"zswap ({algorithm}) in the swap core", _file,
                  prepare=_zswap_whole, algorithm=algorithm)


def _zram_backed(system: System, tmp: Path, nbytes: int, algorithm: str | None) -> Any:
    z = system.load_module("zram")[0]
    disk = system.add_filedisk(tmp / "zram-backing.img", nbytes)
    z.attr["backing_dev"] = f"/dev/{disk.name}"
    z.attr["comp_algorithm"] = algorithm or "lz4"
    z.attr["disksize"] = str(nbytes)
    return z.bdev


def _writeback_idle(system: System) -> None:
    """Mark every stored page idle and write the idle ones to the backing device."""
    for z in system.modules["zram"].devices.values():
        z.attr["idle"] = "all"
        z.attr["writeback"] = "idle"


def _zswap_on(system: System, algorithm: str | None) -> None:
    Zswap(system, algorithm or "lz4", enabled=True)


def _vswap_on(system: System, algorithm: str | None, *, cwb: bool, layout: str = "A") -> None:
    """zswap with room for every page, and virtual swap entries in front of the
    area the harness turned on (the file-backed disk: the physical area)."""
    _zswap_whole(system, algorithm)
    (physical,) = system.swap.active()
    system.swapon_virtual(physical.bdev, compressed_writeback=cwb, layout=layout)


def _zswap_writeback_all(system: System) -> None:
    """zswap writes every entry back to the physical area."""
    system.zswap.writeback_all()


def _swapfile(system: System, tmp: Path, nbytes: int, algorithm: str | None) -> Any:
    path = tmp / "swapfile"
    with open(path, "wb") as fh:
        os.posix_fallocate(fh.fileno(), 0, nbytes)
    return path


DESIGNS: dict[str, Design] = {
    d.name: d
    for d in (
        Design("zram/bio-per-page", "zram (lz4) on the bio-per-page ops: one bio per page",
               _zram, {"ops": "bio-per-page"}, algorithm="lz4"),
        Design("zram/swap_ops", "zram (lz4) through the series' swap_ops (swap_activate)",
               _zram, algorithm="lz4"),
        Design("zram/bio-per-page+wb", "the same (lz4) with a backing device holding every "
               "page (idle writeback after page-out)", _zram_backed, {"ops": "bio-per-page"},
               after_pageout=_writeback_idle, algorithm="lz4"),
        Design("zram/swap_ops+wb", "swap_ops (lz4) with the backing device: reads go "
               "through the block path", _zram_backed, after_pageout=_writeback_idle,
               algorithm="lz4"),
        Design("zswap/filedisk", "zswap (lz4, kernel defaults) in the swap core over a "
               "file-backed disk", _file, prepare=_zswap_on, algorithm="lz4"),
        Design("vswap/zswap", "virtual swap entries, zswap (lz4) in the core, every entry "
               "written back raw (decompressed) to a file-backed disk", _file,
               prepare=functools.partial(_vswap_on, cwb=False),
               after_pageout=_zswap_writeback_all, algorithm="lz4"),
        Design("vswap/zswap+cwb", "the same with compressed writeback: zswap's blobs (lz4) "
               "to the disk as they are, a slot each (layout A)", _file,
               prepare=functools.partial(_vswap_on, cwb=True),
               after_pageout=_zswap_writeback_all, algorithm="lz4"),
        Design("vswap/zswap+cwb-packed", "compressed writeback (lz4) packing each writeback "
               "batch into contiguous pages (layout C)", _file,
               prepare=functools.partial(_vswap_on, cwb=True, layout="C"),
               after_pageout=_zswap_writeback_all, algorithm="lz4"),
        Design("ram/swap_ops", "RAM disk, default block swap_ops: one bio per batch", _ram),
        Design("ram/bio-per-page", "RAM disk on the bio-per-page ops: one bio per page", _ram,
               {"ops": "bio-per-page"}),
        Design("file/swap_ops", "file-backed disk (O_DIRECT), one bio per batch", _file),
        Design("swapfile", "swap file on the host filesystem, file swap_ops", _swapfile),
    )
}
#: What ``swaplab bench`` runs without ``--design``: the thread's question.
DEFAULT_DESIGNS = ("zram/bio-per-page", "zram/swap_ops", "zram/bio-per-page+wb",
                   "zram/swap_ops+wb", "zswap/filedisk", "vswap/zswap", "vswap/zswap+cwb")
