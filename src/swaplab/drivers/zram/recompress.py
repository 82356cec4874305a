"""zram recompression with secondary algorithms (CONFIG_ZRAM_MULTI_COMP, kernel-facts §3.8).

``recomp_algorithm`` configures up to three secondary algorithms (priorities
1..3) before disksize. ``recompress`` picks slots (type=idle|huge|huge_idle,
a size threshold, at most max_pages attempts, one algorithm or priority) and
tries the algorithms above the slot's current one, largest objects first. A
result counts only if it lands in a strictly smaller zsmalloc class (and
below the threshold, when one is given); when the highest algorithm also fails
the slot is marked ZRAM_INCOMPRESSIBLE and never tried again.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import numpy as np

from ...consts import PAGE_SIZE
from ...errors import kerror
from ...util import kstrtoull
from .slots import (
    ZRAM_HUGE,
    ZRAM_IDLE,
    ZRAM_INCOMPRESSIBLE,
    ZRAM_PP_SLOT,
    ZRAM_SAME,
    ZRAM_WB,
)
from .writeback import PPCtl

if TYPE_CHECKING:
    from .zram_drv import Zram

RECOMPRESS_IDLE = 1 << 0
RECOMPRESS_HUGE = 1 << 1
_TYPES = {"idle": RECOMPRESS_IDLE, "huge": RECOMPRESS_HUGE,
          "huge_idle": RECOMPRESS_IDLE | RECOMPRESS_HUGE}


def _scan(z: Zram, mode: int, prio_max: int, ctl: PPCtl) -> None:
    for i in range(z.nr_pages):
        z.slot_lock(i)
        f = int(z.flags[i])
        ok = (z.slot_allocated(i) and not f & (ZRAM_WB | ZRAM_SAME | ZRAM_INCOMPRESSIBLE)
              and not (mode & RECOMPRESS_IDLE and not f & ZRAM_IDLE)
              and not (mode & RECOMPRESS_HUGE and not f & ZRAM_HUGE)
              and z.get_priority(i) + 1 < prio_max and not f & ZRAM_PP_SLOT)
        if ok:
            ctl.add(z, i)
        z.slot_unlock(i)


def recompress_slot(z: Zram, i: int, prio: int, prio_max: int, threshold: int) -> int:
    """Try algorithms prio..prio_max-1 on slot ``i`` (locked); 0 or a zs_malloc errno."""
    size = z.get_obj_size(i)
    if threshold and size < threshold:
        return 0
    page = np.empty(PAGE_SIZE, dtype=np.uint8)
    ret = z.read_from_zspool(page, i)
    if ret:
        return ret
    z.clear_flag(i, ZRAM_IDLE)
    pool = z.mem_pool
    old_class = pool.lookup_class_index(size)
    cur = z.get_priority(i)
    best = None
    tried = cur
    for p in range(max(prio, cur + 1), prio_max):
        zcomp = z.comps[p]
        if zcomp is None:
            continue
        tried = p
        zstrm = zcomp.stream_get()
        try:
            out = zcomp.compress(zstrm, page)
        finally:
            zcomp.stream_put(zstrm)
        if isinstance(out, int):
            continue
        if pool.lookup_class_index(len(out)) >= old_class:
            continue
        if threshold and len(out) >= threshold:
            continue
        best = (p, out)
        break
    if best is None:
        if tried >= z.num_active_comps - 1:
            z.set_flag(i, ZRAM_INCOMPRESSIBLE)
        return 0
    p, out = best
    h = pool.malloc(len(out))
    if h < 0:
        return h
    pool.write(h, out)
    z.slot_free(i)
    z.handle[i] = h
    z.set_obj_size(i, len(out))
    z.set_priority(i, p)
    z.stats.add("compr_data_size", len(out))
    z.stats.add("pages_stored")
    return 0


def recompress_store(z: Zram, buf: str) -> None:
    mode, threshold, max_pages, algo, prio = 0, 0, None, None, None
    for tok in buf.split():
        key, eq, val = tok.partition("=")
        if not eq:
            raise kerror(errno.EINVAL, f"{z.name}: recompress key {key!r} needs a value")
        if key == "type":
            mode = _TYPES.get(val, 0)
        elif key == "max_pages":
            max_pages = kstrtoull(val, 10, what="max_pages")
        elif key == "threshold":
            threshold = kstrtoull(val, 10, what="threshold")
            if threshold >= z.huge_class_size and z.init_done():
                raise kerror(errno.EINVAL, f"{z.name}: threshold {threshold} >= huge class "
                             f"size {z.huge_class_size}")
        elif key == "algo":
            algo = val
        elif key == "priority":
            prio = max(1, kstrtoull(val, 10, what="priority"))
    with z.init_lock:
        if not z.init_done():
            raise kerror(errno.EINVAL, f"{z.name}: recompress on an uninitialised device")
        if threshold and threshold >= z.huge_class_size:
            raise kerror(errno.EINVAL, f"{z.name}: threshold {threshold} too large")
        prio_max = z.num_active_comps
        start = 1
        if algo is not None:
            matches = [p for p in range(1, len(z.comp_algs)) if z.comp_algs[p] == algo]
            if not matches:
                raise kerror(errno.EINVAL, f"{z.name}: recompression algorithm {algo!r} is "
                             "not configured")
            start, prio_max = matches[0], matches[0] + 1
        elif prio is not None:
            start, prio_max = prio, prio + 1
        if start >= prio_max or prio_max > z.num_active_comps:
            raise kerror(errno.EINVAL, f"{z.name}: no secondary algorithm to recompress with")
        ctl = PPCtl()
        _scan(z, mode, prio_max, ctl)
        left = max_pages
        err = 0
        for i in ctl.largest_first():
            if left is not None and left == 0:
                break
            z.slot_lock(i)
            if z.test_flag(i, ZRAM_PP_SLOT):
                if left is not None and not (threshold and z.get_obj_size(i) < threshold):
                    left -= 1
                err = recompress_slot(z, i, start, prio_max, threshold)
                z.clear_flag(i, ZRAM_PP_SLOT)
            z.slot_unlock(i)
            if err:
                break
        ctl.release_all(z)
        if err:
            raise kerror(-err, f"{z.name}: recompress stopped")
