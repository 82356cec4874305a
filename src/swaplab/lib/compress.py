"""One compressor interface for zram and zswap (the kernel's lib/ codecs and crypto API).

:func:`compressor` returns a :class:`Compressor` for one algorithm::

    c = compressor("lzo-rle")
    data = c.compress(page)                 # bytes
    c.decompress(data, out)                 # fills the page ``out`` exactly, or OSError(EINVAL)
    buf, lens = c.compress_batch(pages)     # N pages -> N objects packed in one buffer
    n = c.decompress_batch(objs, pages)     # N objects -> N pages; how many decoded

==========  =============================================  ============================
name        implementation                                 level
==========  =============================================  ============================
lzo-rle     swaplab's C core (the kernel's lib/lzo)        none
lzo         swaplab's C core (the kernel's LZO1X-1)        none
lz4         swaplab's C core (the kernel's lib/lz4)        acceleration (default 1)
lz4hc       python-lz4 ``lz4.block`` (high compression)    default 9
zstd        python-zstandard                               default 3
deflate     zlib, raw deflate as the kernel's              default 6; winbits 11
==========  =============================================  ============================

The three native codecs give the kernel's compressed bytes for every page
(docs/zram.md, "Fidelity"), run with the GIL released, and take a whole
batch in one call. With a dictionary, lz4 uses python-lz4 (the kernel's lz4
with a dictionary is not reproduced byte for byte). ``842`` exists in the
kernel but has no implementation here: asking for it is EINVAL, like any
unknown name.

A native compressor keeps no state between calls (its workspace is per
call), so one object may be shared by threads (``thread_safe``); a library
compressor holds the library's context and must be used by one thread at a
time, as the kernel's per-CPU streams are.
"""

from __future__ import annotations

import errno
import threading
import zlib
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from .. import _native
from ..consts import PAGE_SIZE
from ..errors import kerror, reason

#: Every algorithm the kernel's zram knows, in its order (zcomp.c's backends).
KERNEL_ALGORITHMS = ("lzo-rle", "lzo", "lz4", "lz4hc", "zstd", "deflate", "842")
#: The kernel's default comp_algorithm (CONFIG_ZRAM_DEF_COMP).
DEFAULT_ALGORITHM = "lzo-rle"

LZ4_ACCELERATION_DEFAULT = 1
LZ4HC_DEFAULT_CLEVEL = 9
ZSTD_CLEVEL_DEFAULT = 3
DEFLATE_DEF_LEVEL = 6
DEFLATE_DEF_WINBITS = 11
DEFLATE_DEF_MEMLEVEL = 9

_NATIVE_IDS = {"lz4": _native.LZ4, "lzo": _native.LZO, "lzo-rle": _native.LZO_RLE}
_LIBRARY = {"lz4hc": "lz4", "zstd": "zstandard", "deflate": "zlib"}

Buffer = bytes | bytearray | memoryview | np.ndarray


def _einval(msg: str) -> OSError:
    return kerror(errno.EINVAL, msg)


class Compressor:
    """One algorithm with its parameters.

    ``compress`` never fails for a page (it raises OSError(EINVAL) if the
    library refuses); ``decompress`` raises OSError(EINVAL) when the data
    is corrupt or does not expand to exactly ``len(out)`` bytes, and may
    have written part of ``out`` then. The batch forms do the same work for
    N pages in one call (one C call for the native codecs).
    """

    name: str
    level: int | None
    native: bool = False
    thread_safe: bool = False

    def compress(self, page: Buffer) -> bytes:
        raise NotImplementedError

    def decompress(self, data: Buffer, out: np.ndarray | bytearray | memoryview) -> None:
        raise NotImplementedError

    def compress_batch(self, pages: np.ndarray, rows: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        """Compress page k (``pages[rows[k]]``, or ``pages[k]``) of a C-contiguous
        (N, page size) uint8 array for every k. Returns ``(buf, lens)``: the
        objects one after another in the uint8 array ``buf``, their lengths in
        the int32 array ``lens`` (object k starts at ``lens[:k].sum()``)."""
        raise NotImplementedError

    def decompress_batch(self, objs: Sequence[Buffer], pages: np.ndarray,
                         rows: np.ndarray | None = None) -> int:
        """Decode object k into page k (``pages[rows[k]]``, or ``pages[k]``) for
        k = 0, 1, ... and stop at the first object that is corrupt or does not
        fill its page exactly. Returns the number decoded (``len(objs)``: all)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} level={self.level}>"


def split(buf: np.ndarray, lens: np.ndarray) -> list[memoryview]:
    """The objects of a :meth:`Compressor.compress_batch` result, as views of ``buf``."""
    mv = memoryview(buf)
    ends = np.cumsum(lens, dtype=np.int64).tolist()
    return [mv[s:e] for s, e in zip([0, *ends], ends, strict=False)]


def _rows(rows: np.ndarray | None) -> np.ndarray | None:
    if rows is None:
        return None
    return np.ascontiguousarray(rows, dtype=np.int64)


class NativeCompressor(Compressor):
    """lz4, lzo or lzo-rle from swaplab's C core: the kernel's bytes, GIL released.

    ``compress`` and ``decompress`` are the C functions themselves (bound to
    this codec and level), so a call costs no Python frame; they raise
    OSError(EINVAL) as the interface says.
    """

    native = True
    thread_safe = True

    def __init__(self, name: str, level: int | None = None) -> None:
        self.name = name
        self.level = level
        self._id = _NATIVE_IDS[name]
        self._accel = LZ4_ACCELERATION_DEFAULT if level is None else level
        #: the C core's codec id and level argument, for compiled callers (zram)
        self.algo_id = self._id
        self.native_level = self._accel
        self._scratch = threading.local()
        self.compress = partial(_native.compress, self._id, self._accel)  # type: ignore[method-assign]
        self.decompress = partial(_native.decompress, self._id)  # type: ignore[method-assign]

    def compress_batch(self, pages: np.ndarray, rows: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        n = len(pages) if rows is None else len(rows)
        need = n * _native.bound(pages.shape[1])
        # worst-case room for a batch is >128 KiB: a fresh buffer each call
        # would be fresh memory (page faults) each call, so each thread keeps one
        scratch = getattr(self._scratch, "buf", None)
        if scratch is None or len(scratch) < need:
            scratch = self._scratch.buf = np.empty(need, dtype=np.uint8)
        lens = np.empty(n, dtype=np.int32)
        total = _native.compress_batch(self._id, pages, _rows(rows), scratch, lens,
                                       self._accel)
        return scratch[:total].copy(), lens

    def decompress_batch(self, objs: Sequence[Buffer], pages: np.ndarray,
                         rows: np.ndarray | None = None) -> int:
        return _native.decompress_batch(self._id, objs, pages, _rows(rows))


class LibraryCompressor(Compressor):
    """An algorithm from a PyPI library or zlib, behind the same interface.

    ``comp`` takes a page and returns bytes; ``decomp`` takes the bytes and
    returns what they expand to. The batch forms loop over the pages.
    """

    def __init__(self, name: str, level: int | None, comp: Callable[[Buffer], bytes],
                 decomp: Callable[[Buffer], bytes]) -> None:
        self.name = name
        self.level = level
        self._comp = comp
        self._decomp = decomp

    def compress(self, page: Buffer) -> bytes:
        try:
            return self._comp(page)
        except Exception as e:  # a library refusal is the kernel's -EINVAL
            raise _einval(f"{self.name}: compression failed: {e}") from None

    def decompress(self, data: Buffer, out: np.ndarray | bytearray | memoryview) -> None:
        try:
            got = self._decomp(data)
        except Exception as e:  # corrupt input: the kernel says -EINVAL
            raise _einval(f"{self.name}: corrupt data: {e}") from None
        dst = memoryview(out).cast("B")
        if len(got) != len(dst):
            raise _einval(f"{self.name}: data decodes to {len(got)} bytes, "
                          f"not {len(dst)}")
        dst[:] = got

    def compress_batch(self, pages: np.ndarray, rows: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
        idx = range(len(pages)) if rows is None else np.asarray(rows).tolist()
        outs = [self.compress(pages[r]) for r in idx]
        lens = np.fromiter(map(len, outs), dtype=np.int32, count=len(outs))
        return np.frombuffer(b"".join(outs), dtype=np.uint8), lens

    def decompress_batch(self, objs: Sequence[Buffer], pages: np.ndarray,
                         rows: np.ndarray | None = None) -> int:
        idx = range(len(objs)) if rows is None else np.asarray(rows).tolist()
        for k, (obj, r) in enumerate(zip(objs, idx, strict=False)):
            try:
                self.decompress(obj, pages[r])
            except OSError:
                return k
        return len(objs)


def _lz4_library(name: str, level: int | None, dictionary: bytes | None
                 ) -> LibraryCompressor:
    import lz4.block as lb

    kw: dict = {"store_size": False}
    dkw: dict = {"uncompressed_size": PAGE_SIZE}
    if dictionary:
        kw["dict"] = dkw["dict"] = dictionary
    if name == "lz4hc":
        level = LZ4HC_DEFAULT_CLEVEL if level is None else level
        kw.update(mode="high_compression", compression=level)
    else:
        kw.update(mode="fast", acceleration=max(1, level or LZ4_ACCELERATION_DEFAULT))
    return LibraryCompressor(name, level, partial(lb.compress, **kw),
                             partial(lb.decompress, **dkw))


def _zstd(level: int | None, dictionary: bytes | None) -> LibraryCompressor:
    import zstandard as zs

    level = ZSTD_CLEVEL_DEFAULT if level is None else level
    d = zs.ZstdCompressionDict(dictionary) if dictionary else None
    c = zs.ZstdCompressor(level=level, dict_data=d, write_checksum=False,
                          write_content_size=True, write_dict_id=False)
    dc = zs.ZstdDecompressor(dict_data=d)
    return LibraryCompressor("zstd", level, c.compress,
                             partial(dc.decompress, max_output_size=PAGE_SIZE))


def _deflate(level: int | None, winbits: int | None) -> LibraryCompressor:
    level = DEFLATE_DEF_LEVEL if level is None else level
    wb = DEFLATE_DEF_WINBITS if winbits is None else winbits

    def comp(src: Buffer) -> bytes:
        co = zlib.compressobj(level, zlib.DEFLATED, -wb, DEFLATE_DEF_MEMLEVEL)
        return co.compress(src) + co.flush()

    return LibraryCompressor("deflate", level, comp,
                             partial(zlib.decompress, wbits=-wb, bufsize=PAGE_SIZE))


def _importable(mod: str) -> bool:
    try:
        __import__(mod)
    except ImportError:
        return False
    return True


#: What :func:`compressor` compresses once to check a library codec's parameters.
_PROBE = bytes(range(256)) * 16


def available() -> list[str]:
    """The algorithms this installation provides, in the kernel's order."""
    return [n for n in KERNEL_ALGORITHMS
            if n in _NATIVE_IDS or (n in _LIBRARY and _importable(_LIBRARY[n]))]


def compressor(name: str, level: int | None = None, dict: bytes | None = None, *,
               winbits: int | None = None) -> Compressor:
    """A :class:`Compressor` for ``name`` (see the module's table).

    ``level`` is the algorithm's level (lz4's acceleration; None: the
    kernel's default), ``dict`` a dictionary for lz4, lz4hc and zstd,
    ``winbits`` deflate's window. An unknown or unavailable name (842
    included) is EINVAL, naming it.
    """
    if name not in available():
        why = "has no implementation in swaplab" if name in KERNEL_ALGORITHMS else \
              "is not one of " + ", ".join(available())
        raise _einval(f"compression algorithm {name!r} {why}")
    if name in _NATIVE_IDS and not (dict and name == "lz4"):
        return NativeCompressor(name, level)
    try:  # a library's parameters are checked by using them, once, here
        if name in ("lz4", "lz4hc"):
            c = _lz4_library(name, level, dict)
        elif name == "zstd":
            c = _zstd(level, dict)
        else:
            c = _deflate(level, winbits)
        c.compress(_PROBE)
    except (ValueError, OSError, RuntimeError) as e:
        given = ", ".join(f"{k} {v}" for k, v in (("level", level), ("winbits", winbits))
                          if v is not None) or "its defaults"
        raise _einval(f"{name} does not take {given}: "
                      f"{reason(e) if isinstance(e, OSError) else e}") from None
    return c
