"""zcomp: zram's compression backends and per-CPU streams (drivers/block/zram/zcomp.c).

Backends are real C/Rust libraries from PyPI or the standard library; nothing
is emulated:

==========  =====================================  ==============================
name        library                                params
==========  =====================================  ==============================
lzo         lzallright (LZO1X, lzokay port)        none
lz4         python-lz4 ``lz4.block`` (fast)        level = acceleration, dict
lz4hc       python-lz4 ``lz4.block`` (HC)          level (default 9), dict
zstd        python-zstandard                       level (default 3), dict
deflate     zlib (raw deflate, like the kernel)    level, deflate.winbits (11)
==========  =====================================  ==============================

``lzo-rle`` and ``842`` exist in the kernel but no library provides them, so
they are not listed and selecting them is EINVAL. Shared parameters live in
:class:`Zcomp`; each :class:`ZcompStream` has its own contexts and its
``buffer`` (2 pages) and ``local_copy`` (1 page), and a mutex, as the
kernel's per-CPU streams do.
"""

from __future__ import annotations

import errno
import os
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from ...consts import PAGE_SIZE

if TYPE_CHECKING:
    from ...mm.zsmalloc import ZsPool

#: The kernel's backend order (zcomp.c); only those we can provide are offered.
KERNEL_BACKENDS = ("lzo-rle", "lzo", "lz4", "lz4hc", "zstd", "deflate", "842")
ZCOMP_PARAM_NOT_SET = -(2**31)
LZ4_ACCELERATION_DEFAULT = 1
LZ4HC_DEFAULT_CLEVEL = 9
ZSTD_CLEVEL_DEFAULT = 3
DEFLATE_DEF_LEVEL = 6
DEFLATE_DEF_WINBITS = 11
DEFLATE_DEF_MEMLEVEL = 9


@dataclass
class ZcompParams:
    """Per-algorithm parameters (algorithm_params); unset fields use the backend default."""

    level: int = ZCOMP_PARAM_NOT_SET
    dict: bytes | None = None
    deflate_winbits: int = ZCOMP_PARAM_NOT_SET


@dataclass
class _Backend:
    name: str
    make: Callable[[ZcompParams], tuple[Callable[[bytes], bytes],
                                        Callable[[bytes], bytes]]]
    library: str
    extra: dict = field(default_factory=dict)


def _lz4(hc: bool) -> Callable:
    def make(p: ZcompParams):
        import lz4.block as lb

        kw = {"store_size": False}
        if p.dict:
            kw["dict"] = p.dict
        if hc:
            level = LZ4HC_DEFAULT_CLEVEL if p.level == ZCOMP_PARAM_NOT_SET else p.level
            kw.update(mode="high_compression", compression=level)
        else:
            acc = LZ4_ACCELERATION_DEFAULT if p.level == ZCOMP_PARAM_NOT_SET else p.level
            kw.update(mode="fast", acceleration=max(1, acc))
        dkw = {"uncompressed_size": PAGE_SIZE}
        if p.dict:
            dkw["dict"] = p.dict
        # partials of the C functions: no Python frame per page
        return partial(lb.compress, **kw), partial(lb.decompress, **dkw)

    return make


def _zstd(p: ZcompParams):
    import zstandard as zs

    level = ZSTD_CLEVEL_DEFAULT if p.level == ZCOMP_PARAM_NOT_SET else p.level
    d = zs.ZstdCompressionDict(p.dict) if p.dict else None
    c = zs.ZstdCompressor(level=level, dict_data=d, write_checksum=False,
                          write_content_size=True, write_dict_id=False)
    dc = zs.ZstdDecompressor(dict_data=d)
    return c.compress, partial(dc.decompress, max_output_size=PAGE_SIZE)


def _deflate(p: ZcompParams):
    level = DEFLATE_DEF_LEVEL if p.level == ZCOMP_PARAM_NOT_SET else p.level
    wb = DEFLATE_DEF_WINBITS if p.deflate_winbits == ZCOMP_PARAM_NOT_SET else p.deflate_winbits

    def comp(src: bytes) -> bytes:
        co = zlib.compressobj(level, zlib.DEFLATED, -wb, DEFLATE_DEF_MEMLEVEL)
        return co.compress(src) + co.flush()

    return comp, partial(zlib.decompress, wbits=-wb, bufsize=PAGE_SIZE)


def _lzo(p: ZcompParams):
    from lzallright import LZOCompressor

    c = LZOCompressor()
    return c.compress, partial(c.decompress, output_size_hint=PAGE_SIZE)


def _importable(mod: str) -> bool:
    try:
        __import__(mod)
    except ImportError:
        return False
    return True


_BACKENDS = {
    "lzo": _Backend("lzo", _lzo, "lzallright"),
    "lz4": _Backend("lz4", _lz4(False), "lz4"),
    "lz4hc": _Backend("lz4hc", _lz4(True), "lz4"),
    "zstd": _Backend("zstd", _zstd, "zstandard"),
    "deflate": _Backend("deflate", _deflate, "zlib"),
}


def available_backends() -> list[str]:
    """Backends this installation provides, in the kernel's order."""
    return [n for n in KERNEL_BACKENDS if n in _BACKENDS and _importable(_BACKENDS[n].library)]


def zcomp_available_show(selected: str | None) -> str:
    """The comp_algorithm text: every name and a space, the selected one in []."""
    return "".join(f"[{n}] " if n == selected else f"{n} " for n in available_backends()) + "\n"


def zcomp_available_algorithm(name: str) -> bool:
    return name in available_backends()


class ZcompStream:
    """One stream: its own compressor contexts, scratch buffers and mutex."""

    def __init__(self, zcomp: Zcomp) -> None:
        self.comp, self.decomp = _BACKENDS[zcomp.name].make(zcomp.params)
        self.buffer = np.zeros(2 * PAGE_SIZE, dtype=np.uint8)
        self.local_copy = np.zeros(PAGE_SIZE, dtype=np.uint8)
        self.lock = threading.Lock()


class Zcomp:
    """A compression backend with its parameters and one stream per CPU."""

    def __init__(self, name: str, params: ZcompParams | None = None,
                 nr_streams: int | None = None) -> None:
        if not zcomp_available_algorithm(name):
            raise OSError(errno.EINVAL, f"zcomp: unknown or unavailable algorithm {name!r}")
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
        """Compress one page; the compressed bytes, or a negative errno."""
        try:
            return stream.comp(bytes(src) if isinstance(src, np.ndarray) else src)
        except Exception:  # any library failure is the kernel's -EINVAL
            return -errno.EINVAL

    def decompress_object(self, pool: ZsPool, handle: int, size: int, dst: np.ndarray) -> int:
        """Read the ``size``-byte object ``handle`` from ``pool`` through a stream's
        bounce buffer and decompress it into ``dst``; 0 or -EINVAL."""
        stream = self.stream_get()
        try:
            return self.decompress(stream, pool.read(handle, size, stream.local_copy), dst)
        finally:
            self.stream_put(stream)

    @staticmethod
    def decompress(stream: ZcompStream, src: bytes | np.ndarray, dst: np.ndarray) -> int:
        """Decompress into the page ``dst``; 0, or -EINVAL when the data is corrupt
        or does not expand to exactly one page."""
        try:
            out = stream.decomp(bytes(src) if isinstance(src, np.ndarray) else src)
        except Exception:  # corrupt input: the kernel says -EINVAL
            return -errno.EINVAL
        if len(out) != PAGE_SIZE:
            return -errno.EINVAL
        dst[:] = np.frombuffer(out, dtype=np.uint8)
        return 0
