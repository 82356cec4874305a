"""The page file: a compact, indexed store of page contents.

Layout (little-endian):

    0     magic  b"SWPLPAGE"
    8     u32    version (1)
    12    u32    page size (4096)
    16    u64    number of pages
    24    u64    number of stored data rows
    32    u64    offset of the metadata (JSON, UTF-8)
    40    u64    length of the metadata
    48    u64    offset of the index
    56    u64    offset of the data rows (page-aligned)
    64..4095     zero

The index has one 24-byte record per page: ``vaddr`` (u64, the page's address
in its source, or its position), ``kind`` (u8: 0 data, 1 zero, 2 same-filled),
7 bytes of padding, and ``value`` (u64: the data row for kind 0, the repeated
word for kind 2). Zero and same-filled pages take no data row. Data rows are
whole pages, so the data section can be memory-mapped.
"""

from __future__ import annotations

import errno
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..consts import PAGE_SIZE
from ..errors import kerror

MAGIC = b"SWPLPAGE"
VERSION = 1
_HEADER = struct.Struct("<8sIIQQQQQQ")
KIND_DATA, KIND_ZERO, KIND_SAME = 0, 1, 2
INDEX_DTYPE = np.dtype([("vaddr", "<u8"), ("kind", "u1"), ("pad", "u1", 7), ("value", "<u8")])


@dataclass
class PageFile:
    """Pages and their addresses, plus free-form metadata (source, pid, time)."""

    pages: np.ndarray
    vaddrs: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.pages)


def classify(pages: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(kind, value) per page: zero, same-filled (one repeated 8-byte word) or data."""
    words = pages.view(np.uint64)
    same = (words == words[:, :1]).all(axis=1)
    kind = np.where(same, KIND_SAME, KIND_DATA).astype(np.uint8)
    kind[same & (words[:, 0] == 0)] = KIND_ZERO
    value = np.where(same, words[:, 0], 0).astype(np.uint64)
    return kind, value


def write_pagefile(path: str | os.PathLike[str], pages: np.ndarray,
                   vaddrs: np.ndarray | None = None, meta: dict[str, Any] | None = None) -> int:
    """Write ``pages`` (``(n, PAGE_SIZE)`` uint8) to ``path``; return bytes written."""
    pages = np.ascontiguousarray(pages, dtype=np.uint8)
    if pages.ndim != 2 or pages.shape[1] != PAGE_SIZE:
        raise kerror(errno.EINVAL, f"pages must be (n, {PAGE_SIZE}) uint8, not {pages.shape}")
    n = len(pages)
    if vaddrs is None:
        vaddrs = np.arange(n, dtype=np.uint64) * PAGE_SIZE
    kind, value = classify(pages)
    data = np.flatnonzero(kind == KIND_DATA)
    value[data] = np.arange(len(data), dtype=np.uint64)
    index = np.zeros(n, dtype=INDEX_DTYPE)
    index["vaddr"] = vaddrs
    index["kind"] = kind
    index["value"] = value
    mbytes = json.dumps(meta or {}, sort_keys=True).encode()
    meta_off = PAGE_SIZE
    index_off = meta_off + len(mbytes)
    data_off = -(-(index_off + index.nbytes) // PAGE_SIZE) * PAGE_SIZE
    header = _HEADER.pack(MAGIC, VERSION, PAGE_SIZE, n, len(data), meta_off, len(mbytes),
                          index_off, data_off).ljust(PAGE_SIZE, b"\0")
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "wb") as f:
        f.write(header)
        f.write(mbytes)
        f.write(index.tobytes())
        f.write(b"\0" * (data_off - index_off - index.nbytes))
        for lo in range(0, len(data), 4096):
            f.write(pages[data[lo : lo + 4096]].tobytes())
    os.replace(tmp, path)
    return data_off + len(data) * PAGE_SIZE


def read_pagefile(path: str | os.PathLike[str]) -> PageFile:
    """Load a page file; EINVAL naming the file and the field for anything malformed."""
    name = os.fspath(path)
    try:
        size = os.path.getsize(name)
        with open(name, "rb") as f:
            head = f.read(_HEADER.size)
    except OSError as e:
        raise kerror(e.errno or errno.EIO, f"{name}: {e.strerror}") from None
    if len(head) < _HEADER.size:
        raise kerror(errno.EINVAL, f"{name}: not a page file ({len(head)} bytes)")
    magic, ver, psize, n, nrows, moff, mlen, ioff, doff = _HEADER.unpack(head)
    if magic != MAGIC:
        raise kerror(errno.EINVAL, f"{name}: not a page file (magic {magic!r})")
    if ver != VERSION:
        raise kerror(errno.EINVAL, f"{name}: page file version {ver}, this reads {VERSION}")
    if psize != PAGE_SIZE:
        raise kerror(errno.EINVAL, f"{name}: page size {psize}, this machine uses {PAGE_SIZE}")
    need = doff + nrows * PAGE_SIZE
    if (moff + mlen > size or ioff + n * INDEX_DTYPE.itemsize > doff or need > size
            or doff % PAGE_SIZE or nrows > n):
        raise kerror(errno.EINVAL, f"{name}: truncated or inconsistent (pages {n}, rows "
                     f"{nrows}, file {size} bytes, needs {need})")
    with open(name, "rb") as f:
        f.seek(moff)
        try:
            meta = json.loads(f.read(mlen) or b"{}")
        except ValueError as e:
            raise kerror(errno.EINVAL, f"{name}: metadata is not JSON ({e})") from None
        f.seek(ioff)
        index = np.frombuffer(f.read(n * INDEX_DTYPE.itemsize), dtype=INDEX_DTYPE)
    kind = index["kind"]
    if (kind > KIND_SAME).any():
        bad = int(np.flatnonzero(kind > KIND_SAME)[0])
        raise kerror(errno.EINVAL, f"{name}: page {bad} has unknown kind {int(kind[bad])}")
    rows = index["value"][kind == KIND_DATA]
    if len(rows) != nrows or (len(rows) and int(rows.max()) >= nrows):
        raise kerror(errno.EINVAL, f"{name}: index names data rows the file does not hold")
    data = np.memmap(name, dtype=np.uint8, mode="r", offset=doff, shape=(nrows, PAGE_SIZE)) \
        if nrows else np.zeros((0, PAGE_SIZE), dtype=np.uint8)
    pages = np.zeros((n, PAGE_SIZE), dtype=np.uint8)
    d = kind == KIND_DATA
    pages[d] = data[rows.astype(np.int64)]
    s = kind == KIND_SAME
    pages.view(np.uint64)[s] = index["value"][s][:, None]
    return PageFile(pages, index["vaddr"].copy(), meta)
