"""zcomp: zram's compression backends and per-CPU streams (drivers/block/zram/zcomp.c).

The algorithms themselves are :mod:`swaplab.lib.compress` (the same ones
zswap uses): lzo-rle, lzo and lz4 from swaplab's C core with the kernel's
bytes, lz4hc, zstd and deflate from their libraries. This module adds what
zram keeps around them: the per-algorithm parameters written to
``algorithm_params`` (:class:`ZcompParams`), the ``comp_algorithm`` listing,
and one :class:`ZcompStream` per CPU with its own compressor object, its
``buffer`` (2 pages) and ``local_copy`` (1 page), and a mutex, as the
kernel's per-CPU streams have.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ...consts import PAGE_SIZE
from ...lib.compress import available, compressor

if TYPE_CHECKING:
    from ...mm.zsmalloc import ZsPool

ZCOMP_PARAM_NOT_SET = -(2**31)
#: compression priorities: the primary algorithm, then up to three for recompression
ZRAM_MAX_COMPS = 4
ZRAM_PRIMARY_COMP = 0
ZRAM_SECONDARY_COMP = 1


@dataclass
class ZcompParams:
    """Per-algorithm parameters (algorithm_params); unset fields use the backend default."""

    level: int = ZCOMP_PARAM_NOT_SET
    dict: bytes | None = None
    deflate_winbits: int = ZCOMP_PARAM_NOT_SET


def zcomp_available_show(selected: str | None) -> str:
    """The comp_algorithm text: every name and a space, the selected one in []."""
    return "".join(f"[{n}] " if n == selected else f"{n} " for n in available()) + "\n"


def zcomp_available_algorithm(name: str) -> bool:
    return name in available()


class ZcompStream:
    """One stream: its own compressor object, scratch buffers and mutex."""

    def __init__(self, zcomp: Zcomp) -> None:
        p = zcomp.params
        self.tfm = compressor(
            zcomp.name, None if p.level == ZCOMP_PARAM_NOT_SET else p.level, p.dict,
            winbits=None if p.deflate_winbits == ZCOMP_PARAM_NOT_SET else p.deflate_winbits)
        self.buffer = np.zeros(2 * PAGE_SIZE, dtype=np.uint8)
        self.local_copy = np.zeros(PAGE_SIZE, dtype=np.uint8)
        self.lock = threading.Lock()


class Zcomp:
    """A compression backend with its parameters and one stream per CPU.

    An unknown or unavailable algorithm is EINVAL (from :func:`compressor`).
    """

    def __init__(self, name: str, params: ZcompParams | None = None,
                 nr_streams: int | None = None) -> None:
        self.name = name
        self.params = params or ZcompParams()
        n = nr_streams or os.cpu_count() or 1
        self.streams = [ZcompStream(self) for _ in range(n)]

    def stream_get(self) -> ZcompStream:
        """zcomp_stream_get: this CPU's stream, locked (another thread may wait)."""
        s = self.streams[threading.get_ident() % len(self.streams)]
        s.lock.acquire()
        return s

    @staticmethod
    def stream_put(stream: ZcompStream) -> None:
        stream.lock.release()

    @staticmethod
    def compress(stream: ZcompStream, src: np.ndarray | bytes) -> bytes | int:
        """zcomp_compress: one page; the compressed bytes, or -EINVAL."""
        try:
            return stream.tfm.compress(src)
        except OSError as e:
            return -e.errno

    @staticmethod
    def decompress(stream: ZcompStream, src: bytes | np.ndarray | memoryview,
                   dst: np.ndarray) -> int:
        """zcomp_decompress into the page ``dst``: 0, or -EINVAL when the data is
        corrupt or does not expand to exactly one page."""
        try:
            stream.tfm.decompress(src, dst)
        except OSError as e:
            return -e.errno
        return 0

    def decompress_object(self, pool: ZsPool, handle: int, size: int, dst: np.ndarray) -> int:
        """Read the ``size``-byte object ``handle`` from ``pool`` through a stream's
        bounce buffer and decompress it into ``dst``; 0 or -EINVAL."""
        stream = self.stream_get()
        try:
            return self.decompress(stream, pool.read(handle, size, stream.local_copy), dst)
        finally:
            self.stream_put(stream)
