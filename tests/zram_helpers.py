"""Shared setup for zram tests."""

from __future__ import annotations

import numpy as np

from swaplab import PAGE_SIZE


def zram_device(system, disksize: str = "16M", **ctl_kw):
    """Load zram (one device) and size it; returns the device."""
    ctl = system.load_zram(**ctl_kw)
    z = ctl[0]
    if disksize:
        z.attr["disksize"] = disksize
    return z


def page_of(byte: int) -> np.ndarray:
    return np.full(PAGE_SIZE, byte, dtype=np.uint8)


def write_pages(z, pages, start: int = 0) -> None:
    for i, p in enumerate(pages):
        assert z.write_page(np.asarray(p, dtype=np.uint8), start + i) == 0


def mm_stat(z) -> list[int]:
    return [int(x) for x in z.attr["mm_stat"].split()]
