"""The swap designs a benchmark can compare, each a recipe for one swap area.

A design builds its swap area inside a fresh :class:`~swaplab.System` (and a
scratch folder for real files) and returns what swapon needs. Later issues
add zram and zswap designs here; the harness treats them all alike.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..system import System


@dataclass(frozen=True)
class Design:
    """One way to swap: a name, what it stands for, and how to set it up."""

    name: str
    summary: str
    setup: Callable[[System, Path, int], Any]
    swapon: dict[str, Any] = field(default_factory=dict)


def _ram(system: System, tmp: Path, nbytes: int) -> Any:
    return system.add_ramdisk(nbytes)


def _file(system: System, tmp: Path, nbytes: int) -> Any:
    return system.add_filedisk(tmp / "swapdisk.img", nbytes)


def _zram(system: System, tmp: Path, nbytes: int) -> Any:
    z = system.load_zram()[0]
    z.attr["comp_algorithm"] = "lz4"
    z.attr["disksize"] = str(nbytes)
    return z.bdev


def _swapfile(system: System, tmp: Path, nbytes: int) -> Any:
    path = tmp / "swapfile"
    with open(path, "wb") as fh:
        os.posix_fallocate(fh.fileno(), 0, nbytes)
    return path


DESIGNS: dict[str, Design] = {
    d.name: d
    for d in (
        Design("ram/swap_ops", "RAM disk, default block swap_ops: one bio per batch", _ram),
        Design("ram/bio-per-page", "RAM disk, the pre-series path: one bio per page", _ram,
               {"legacy_bio": True}),
        Design("file/swap_ops", "file-backed disk (O_DIRECT), one bio per batch", _file),
        Design("swapfile", "swap file on the host filesystem, file swap_ops", _swapfile),
        Design("zram/swap_ops", "zram (lz4) through its swap_ops, installed by swap_activate",
               _zram),
        Design("zram/bio-per-page", "the same zram on the pre-series path: one bio per page",
               _zram, {"legacy_bio": True}),
    )
}
DEFAULT_DESIGNS = tuple(DESIGNS)
