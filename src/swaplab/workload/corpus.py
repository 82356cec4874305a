"""Real page contents: shipped with swaplab, or from files on this machine.

A corpus is an ``(n, PAGE_SIZE)`` uint8 array; no bytes are synthesised.
:func:`sample_corpus` is the corpus swaplab ships (``--corpus sample``):
2,048 real pages, 1,024 of text (Python sources, documentation, man pages)
then 1,024 of ELF executables and libraries, with the compressed length and
kind the host kernel's zram gave each of them for lz4, lzo and lzo-rle
(:func:`sample_kernel_sizes`), so it is the same on every machine and is
what the tests use. :func:`file_pages` cuts page-aligned slices out of real
files on this machine (shared libraries, executables, the Python standard
library), picked with a seeded generator so a run can be repeated exactly.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from collections.abc import Callable
from pathlib import Path

import numpy as np
import zstandard

from ..consts import PAGE_SIZE
from ..errors import kerror
from .capture import capture
from .pagefile import read_pagefile

#: The shipped corpus and the host kernel's per-page answers for it.
SAMPLE_PAGES = Path(__file__).parent / "data" / "sample.pages.zst"
SAMPLE_SIZES = Path(__file__).parent / "data" / "sample.kernel-sizes.npz"
#: Pages in the shipped corpus: text first, then ELF.
SAMPLE_TEXT, SAMPLE_ELF = 1024, 1024


@functools.cache
def sample_corpus() -> np.ndarray:
    """The shipped corpus: a read-only (2048, PAGE_SIZE) array, text pages then ELF."""
    raw = zstandard.ZstdDecompressor().decompress(
        SAMPLE_PAGES.read_bytes(), max_output_size=(SAMPLE_TEXT + SAMPLE_ELF) * PAGE_SIZE)
    pages = np.frombuffer(raw, dtype=np.uint8).reshape(-1, PAGE_SIZE)
    pages.flags.writeable = False
    return pages


def sample_kernel_sizes(algorithm: str) -> tuple[np.ndarray, np.ndarray]:
    """What Linux 6.18's zram did with each page of :func:`sample_corpus` under
    ``algorithm`` (lz4, lzo or lzo-rle): ``(sizes, kinds)``, kinds 0 stored
    compressed (size: the compressed length), 1 same-filled (size 0), 2 huge
    (compressed to >= huge_class_size 3625, stored raw: size 4096). ENOENT for
    another algorithm."""
    with np.load(SAMPLE_SIZES) as z:
        if f"{algorithm}/sizes" not in z:
            raise kerror(errno.ENOENT, f"no kernel sizes for {algorithm!r} in the sample")
        return z[f"{algorithm}/sizes"], z[f"{algorithm}/kinds"]


#: Where file pages come from, in order of preference.
DEFAULT_ROOTS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib", "/usr/bin",
                 os.path.dirname(os.__file__))


def _files(roots: tuple[str, ...], limit: int = 20000) -> list[Path]:
    out: set[str] = set()
    for root in roots:
        if not os.path.isdir(root):
            continue
        for dirpath, _, names in os.walk(root):
            for name in names:
                p = os.path.join(dirpath, name)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode) and st.st_size >= PAGE_SIZE:
                    out.add(p)
            if len(out) > limit:
                break
    return [Path(p) for p in sorted(out)]


def _is_elf(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x7fELF"
    except OSError:
        return False


def _is_text(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(2048)
    except OSError:
        return False
    if not head or b"\0" in head:
        return False
    printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
    return printable >= 0.95 * len(head)


def file_pages(n: int, seed: int = 0, roots: tuple[str, ...] = DEFAULT_ROOTS,
               want: Callable[[str], bool] | None = None) -> np.ndarray:
    """``n`` pages read from real files under ``roots`` (seeded choice of file and offset);
    ``want`` filters the files (e.g. ELF only).

    Raises ENOENT when no readable file of at least a page exists there.
    """
    files = _files(roots)
    if not files:
        raise kerror(errno.ENOENT, f"no readable files of at least {PAGE_SIZE} bytes under "
                     f"{', '.join(roots)}")
    rng = np.random.default_rng(seed)
    out = np.zeros((n, PAGE_SIZE), dtype=np.uint8)
    i = 0
    verdict: dict[int, bool] = {}
    misses = 0
    while i < n:
        k = int(rng.integers(len(files)))
        f = files[k]
        if want is not None:
            if k not in verdict:
                verdict[k] = want(str(f))
            if not verdict[k]:
                misses += 1
                if misses > 50 * len(files) or (len(verdict) == len(files) and not any(
                        verdict.values())):
                    raise kerror(errno.ENOENT, f"no file under {', '.join(roots)} passes "
                                 f"the {want.__name__} filter")
                continue
        try:  # straight into the output's rows: no buffer a read, no copy
            fd = os.open(f, os.O_RDONLY)
            try:
                npg = os.fstat(fd).st_size // PAGE_SIZE
                take = min(n - i, int(rng.integers(1, 65)), npg)
                first = int(rng.integers(0, npg - take + 1))
                got = os.preadv(fd, [out[i : i + take]], first * PAGE_SIZE) // PAGE_SIZE
            finally:
                os.close(fd)
        except OSError:
            continue
        i += got  # a short read's partial page is overwritten by the next read
    return out


def describe(pages: np.ndarray) -> dict[str, float]:
    """Share of zero pages and of same-filled pages (one repeated 8-byte word)."""
    words = pages.view(np.uint64)
    same = (words == words[:, :1]).all(axis=1)
    zero = ~pages.any(axis=1)
    return {"pages": len(pages), "zero": float(zero.mean()) if len(pages) else 0.0,
            "same_filled": float(same.mean()) if len(pages) else 0.0}


#: Named sources of page contents: roots and a file filter.
SOURCES: dict[str, tuple[tuple[str, ...], Callable[[str], bool] | None]] = {
    "files": (DEFAULT_ROOTS, None),
    "elf": (("/usr/lib/x86_64-linux-gnu", "/usr/lib", "/usr/bin", "/usr/sbin"), _is_elf),
    "text": (("/usr/share/doc", "/usr/share/common-licenses", "/etc", "/usr/include",
              os.path.dirname(os.__file__)), _is_text),
    "stdlib": ((os.path.dirname(os.__file__),), None),
}


def corpus_pages(source: str, n: int, seed: int = 0, *, zero: float = 0.0,
                 same: float = 0.0) -> np.ndarray:
    """``n`` pages from ``source`` with stated shares of zero and same-filled pages.

    ``source`` is ``sample`` (the shipped corpus, the same on every
    machine), one of :data:`SOURCES`, ``pagefile:PATH`` (a capture made
    by ``swaplab capture``), ``capture:PID`` (capture that process now), or
    ``pyheap`` (start :mod:`swaplab.workload.heapapp`, a real Python process
    that fills its heap with the standard library's sources, tokens and code
    objects, and capture it). Captured pages are sampled by seed, and cycled
    when there are fewer than ``n``. A seeded ``zero`` share of positions is then replaced by zero
    pages and a ``same`` share by same-filled pages (one random repeated
    8-byte word), on top of whatever the source holds. EINVAL names a bad
    source or share.
    """
    if not 0 <= zero <= 1 or not 0 <= same <= 1 or zero + same > 1:
        raise kerror(errno.EINVAL, f"zero share {zero} and same share {same} must lie in "
                     "0..1 and add up to at most 1")
    if source == "sample":
        pages = _cycle(sample_corpus(), n, seed)
    elif source == "pyheap" or source.startswith("capture:"):
        pages = _cycle(captured_pages(source, n, seed), n, seed)
    elif source.startswith("pagefile:"):
        pf = read_pagefile(source.split(":", 1)[1])
        if not len(pf):
            raise kerror(errno.EINVAL, f"{source}: holds no pages")
        pages = _cycle(pf.pages, n, seed)  # a seeded sample, not the first n
    elif source in SOURCES:
        roots, want = SOURCES[source]
        pages = file_pages(n, seed, roots, want)
    else:
        raise kerror(errno.EINVAL, f"corpus source {source!r}: not sample, one of "
                     f"{', '.join(SOURCES)}, or pagefile:PATH")
    rng = np.random.default_rng(seed + 0x5EED)
    order = rng.permutation(n)
    nz, ns = round(zero * n), round(same * n)
    pages[order[:nz]] = 0
    if ns:
        words = rng.integers(1, 1 << 63, size=ns, dtype=np.int64).astype(np.uint64)
        pages.view(np.uint64)[order[nz : nz + ns]] = words[:, None]
    return pages


def _cycle(pages: np.ndarray, n: int, seed: int) -> np.ndarray:
    if not len(pages):
        raise kerror(errno.EINVAL, "the capture holds no pages")
    order = np.random.default_rng(seed).permutation(len(pages))
    return pages[order[np.arange(n) % len(pages)]]


def captured_pages(source: str, n: int, seed: int = 0) -> np.ndarray:
    """A seeded sample of ``n`` touched anonymous pages of a live process
    (all of them when it has fewer): ``capture:PID``, or ``pyheap`` (a heapapp
    child grown to hold about 1.25 * ``n`` pages, captured, then ended). Only
    the sample is read: memory and the process's stop grow with ``n``."""
    import subprocess
    import sys

    if source.startswith("capture:"):
        try:
            pid = int(source.split(":", 1)[1])
        except ValueError:
            raise kerror(errno.EINVAL, f"corpus {source!r}: not capture:PID") from None
        return capture(pid, sample=n, seed=seed).pages
    target = max(16 << 20, n * PAGE_SIZE * 5 // 4 + (12 << 20))
    child = subprocess.Popen([sys.executable, "-W", "ignore", "-m", "swaplab.workload.heapapp",
                              str(target)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        line = child.stdout.readline()
        if not line.startswith(b"ready"):
            raise kerror(errno.EIO, f"heapapp did not start: {line!r}")
        return capture(child.pid, sample=n, seed=seed).pages
    finally:
        child.kill()
        child.wait()
