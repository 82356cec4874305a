"""Sweeps over several processes or a Ray cluster: one task per cell.

A sweep is ``fn(cell, shared)`` for every cell, where ``shared`` (the pages)
is the same for all: :func:`run_cells` runs them in order here (``jobs=1``),
on ``jobs`` local processes (forked: the pages are inherited, not copied),
or as Ray tasks on an existing cluster (``ray_address``; "local" starts a
private instance on this machine), the pages put once in Ray's object store.
Results come back in the cells' order. Cells run at the same time share the
machine: their timings are then each other's noise, which is why one
process is the default.

Ray is an optional extra: ``pip install 'swaplab[ray]'``.
"""

from __future__ import annotations

import errno
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from ..errors import kerror

#: what forked workers find instead of a pickled copy
_SHARED: Any = None


def _local_cell(fn: Callable[[Any, Any], Any], cell: Any) -> Any:
    return fn(cell, _SHARED)


def _ray_cell(fn: Callable[[Any, Any], Any], cell: Any, shared: Any) -> Any:
    return fn(cell, shared)


def run_cells(fn: Callable[[Any, Any], Any], cells: Sequence[Any], shared: Any, *,
              jobs: int = 1, ray_address: str | None = None,
              progress: Callable[[Any], None] | None = None) -> list[Any]:
    """``[fn(cell, shared) for cell in cells]``, here, on ``jobs`` processes or
    on Ray; ``fn`` must be a module-level function (it travels by name).
    ``progress(cell)`` is called as each cell finishes. ENOPKG when Ray is
    asked for and not installed."""
    if ray_address is not None:
        return _on_ray(fn, cells, shared, ray_address, progress)
    if jobs <= 1:
        out = []
        for c in cells:
            out.append(fn(c, shared))
            if progress is not None:
                progress(c)
        return out
    global _SHARED
    _SHARED = shared
    try:
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as ex:
            futures = [ex.submit(_local_cell, fn, c) for c in cells]
            out = []
            for c, f in zip(cells, futures, strict=True):
                out.append(f.result())
                if progress is not None:
                    progress(c)
            return out
    finally:
        _SHARED = None


def _on_ray(fn: Callable[[Any, Any], Any], cells: Sequence[Any], shared: Any, address: str,
            progress: Callable[[Any], None] | None) -> list[Any]:
    try:
        import ray
    except ImportError:
        raise kerror(errno.ENOPKG, "--ray needs Ray: pip install 'swaplab[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=None if address == "local" else address, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    try:
        ref = ray.put(shared)
        task = ray.remote(_ray_cell)
        futures = [task.remote(fn, c, ref) for c in cells]
        out = []
        for c, f in zip(cells, futures, strict=True):
            out.append(ray.get(f))
            if progress is not None:
                progress(c)
        return out
    finally:
        if started:
            ray.shutdown()
