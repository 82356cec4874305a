"""Real page contents from files on this machine.

A corpus is an ``(n, PAGE_SIZE)`` uint8 array. :func:`file_pages` cuts
page-aligned slices out of real files (shared libraries, executables, the
Python standard library), picked with a seeded generator so a run can be
repeated exactly; no bytes are synthesised.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np

from ..consts import PAGE_SIZE
from ..errors import kerror

#: Where file pages come from, in order of preference.
DEFAULT_ROOTS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib", "/usr/bin",
                 os.path.dirname(os.__file__))


def _files(roots: tuple[str, ...]) -> list[Path]:
    out: list[Path] = []
    for root in roots:
        base = Path(root)
        if not base.is_dir():
            continue
        for dirpath, _, names in os.walk(base):
            for name in names:
                p = Path(dirpath) / name
                try:
                    if p.is_file() and not p.is_symlink() and p.stat().st_size >= PAGE_SIZE:
                        out.append(p)
                except OSError:
                    continue
            if len(out) > 20000:
                break
    return sorted(set(out))


def file_pages(n: int, seed: int = 0, roots: tuple[str, ...] = DEFAULT_ROOTS) -> np.ndarray:
    """``n`` pages read from real files under ``roots`` (seeded choice of file and offset).

    Raises ENOENT when no readable file of at least a page exists there.
    """
    files = _files(roots)
    if not files:
        raise kerror(errno.ENOENT, f"no readable files of at least {PAGE_SIZE} bytes under "
                     f"{', '.join(roots)}")
    rng = np.random.default_rng(seed)
    out = np.zeros((n, PAGE_SIZE), dtype=np.uint8)
    i = 0
    while i < n:
        f = files[int(rng.integers(len(files)))]
        try:
            size = f.stat().st_size
            npg = size // PAGE_SIZE
            take = min(n - i, int(rng.integers(1, 65)), npg)
            first = int(rng.integers(0, npg - take + 1))
            with open(f, "rb") as fh:
                fh.seek(first * PAGE_SIZE)
                buf = fh.read(take * PAGE_SIZE)
        except OSError:
            continue
        got = len(buf) // PAGE_SIZE
        if got:
            out[i : i + got] = np.frombuffer(buf[: got * PAGE_SIZE], dtype=np.uint8).reshape(
                got, PAGE_SIZE)
            i += got
    return out


def describe(pages: np.ndarray) -> dict[str, float]:
    """Share of zero pages and of same-filled pages (one repeated 8-byte word)."""
    words = pages.view(np.uint64)
    same = (words == words[:, :1]).all(axis=1)
    zero = ~pages.any(axis=1)
    return {"pages": len(pages), "zero": float(zero.mean()) if len(pages) else 0.0,
            "same_filled": float(same.mean()) if len(pages) else 0.0}
