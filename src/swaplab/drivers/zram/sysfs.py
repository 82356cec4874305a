"""/sys/block/zramN/ attributes: exact read formats, write(2) errnos (kernel-facts §3.12).

``zram.attr[name]`` reads a file (its text); ``zram.attr[name] = value``
writes it and raises ``OSError`` with the errno write(2) would give. Reading
a write-only file or writing a read-only one is EACCES, as it is for root on
the real device; an unknown name is ENOENT.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ...attrs import AttrDir
from ...consts import PAGE_SHIFT, PAGE_SIZE
from ...errors import kerror, reason
from ...lib.compress import compressor
from ...util import (
    kstrtobool,
    kstrtoint,
    kstrtouint,
    kstrtoull,
    memparse_prefix,
    strip_one_newline,
)
from . import recompress, writeback
from .slots import ZRAM_HUGE, ZRAM_IDLE, ZRAM_INCOMPRESSIBLE, ZRAM_SAME, ZRAM_WB
from .zcomp import (
    ZRAM_PRIMARY_COMP,
    ZcompParams,
    zcomp_available_algorithm,
    zcomp_available_show,
)

if TYPE_CHECKING:
    from .zram_drv import Zram

CRYPTO_MAX_ALG_NAME = 128


# --- shows -----------------------------------------------------------------------------

def disksize_show(z: Zram) -> str:
    return f"{z.disksize}\n"


def initstate_show(z: Zram) -> str:
    return f"{int(z.init_done())}\n"


def comp_algorithm_show(z: Zram) -> str:
    return zcomp_available_show(z.comp_algs[0])


#: The columns of the stat files, in order (Documentation/admin-guide/blockdev/zram.rst).
STAT_COLUMNS: dict[str, tuple[str, ...]] = {
    "mm_stat": ("orig_data_size", "compr_data_size", "mem_used_total", "mem_limit",
                "mem_used_max", "same_pages", "pages_compacted", "huge_pages",
                "huge_pages_since"),
    "io_stat": ("failed_reads", "failed_writes", "invalid_io", "notify_free"),
    "bd_stat": ("bd_count", "bd_reads", "bd_writes"),
}


def stat_fields(name: str, text: str) -> dict[str, int]:
    """A stat file's text as its labelled columns."""
    return dict(zip(STAT_COLUMNS[name], (int(x) for x in text.split()), strict=True))


def io_stat_show(z: Zram) -> str:
    s = z.stats
    return f"{s['failed_reads']:8d} {s['failed_writes']:8d} 0 {s['notify_free']:8d}\n"


def mm_stat_show(z: Zram) -> str:
    return " ".join(f"{v:8d}" for v in z.mm_stat()) + "\n"


def debug_stat_show(z: Zram) -> str:
    return f"version: 1\n0 {z.stats['miss_free']:8d}\n"


def backing_dev_show(z: Zram) -> str:
    return f"{z.backing_dev}\n" if z.backing_dev else "none\n"


def bd_stat_show(z: Zram) -> str:
    s = z.stats
    mul = PAGE_SIZE // 4096
    return f"{s['bd_count'] * mul:8d} {s['bd_reads'] * mul:8d} {s['bd_writes'] * mul:8d}\n"


def writeback_limit_show(z: Zram) -> str:
    return f"{z.bd_wb_limit}\n"


def writeback_limit_enable_show(z: Zram) -> str:
    return f"{int(z.wb_limit_enable)}\n"


def writeback_batch_size_show(z: Zram) -> str:
    return f"{z.wb_batch_size}\n"


def writeback_compressed_show(z: Zram) -> str:
    return f"{int(z.wb_compressed)}\n"


def recomp_algorithm_show(z: Zram) -> str:
    out = []
    for prio in range(1, len(z.comp_algs)):
        if z.comp_algs[prio] is None:
            continue
        out.append(f"#{prio}: " + zcomp_available_show(z.comp_algs[prio]))
    return "".join(out)


def block_state_show(z: Zram) -> str:
    """debugfs block_state: one line per allocated slot."""
    out = []
    for i in range(z.nr_pages):
        z.slot_lock(i)
        if z.slot_allocated(i):
            f = int(z.flags[i])
            out.append(f"{i:12d} {int(z.ac_time[i]):12d}.{0:06d} "
                       f"{'s' if f & ZRAM_SAME else '.'}{'w' if f & ZRAM_WB else '.'}"
                       f"{'h' if f & ZRAM_HUGE else '.'}{'i' if f & ZRAM_IDLE else '.'}"
                       f"{'r' if z.get_priority(i) else '.'}"
                       f"{'n' if f & ZRAM_INCOMPRESSIBLE else '.'}\n")
        z.slot_unlock(i)
    return "".join(out)


# --- stores ----------------------------------------------------------------------------

def disksize_store(z: Zram, buf: str) -> None:
    size, _ = memparse_prefix(buf)
    if not size:
        raise kerror(errno.EINVAL, f"{z.name}: disksize {buf!r} is zero or not a size")
    z.set_disksize(size)


def reset_store(z: Zram, buf: str) -> None:
    do_reset = kstrtouint(buf, 10, 16, what="reset")
    if not do_reset:
        raise kerror(errno.EINVAL, f"{z.name}: reset needs a nonzero value")
    with z.init_lock:
        if z.bdev.open_count or z.claim:
            raise kerror(errno.EBUSY, f"{z.name} is in use (open or being reset)")
        z.claim = True
    try:
        z.reset_device()
    finally:
        z.claim = False


def compact_store(z: Zram, buf: str) -> None:
    with z.init_lock:
        z.compact()


def mem_limit_store(z: Zram, buf: str) -> None:
    limit, used = memparse_prefix(buf)
    if used == 0:
        raise kerror(errno.EINVAL, f"{z.name}: mem_limit {buf!r} is not a size")
    with z.init_lock:
        z.limit_pages = -(-limit // PAGE_SIZE)


def mem_used_max_store(z: Zram, buf: str) -> None:
    try:
        val = kstrtoull(buf, 10, what="mem_used_max")
    except OSError:
        val = 1
    if val != 0:
        raise kerror(errno.EINVAL, f"{z.name}: mem_used_max only accepts 0, not {buf!r}")
    with z.init_lock:
        if z.init_done():
            z.stats.set("max_used_pages", z.mem_pool.total_pages)


def idle_store(z: Zram, buf: str) -> None:
    cutoff: int | None = None  # None: "all"
    if strip_one_newline(buf) != "all":  # sysfs_streq
        try:
            age = kstrtouint(buf, 0, what="idle age")
        except OSError:
            raise kerror(errno.EINVAL, f"{z.name}: idle takes 'all' or an age in seconds, "
                         f"not {buf!r}") from None
        cutoff = z.system.clock.seconds() - age
    with z.init_lock:
        if not z.init_done():
            raise kerror(errno.EINVAL, f"{z.name}: idle on an uninitialised device")
        z.mark_idle(cutoff)


def _set_algorithm(z: Zram, prio: int, buf: str) -> None:
    """__comp_algorithm_store, as the host kernel answers: the length limit on
    the text as written (E2BIG), one trailing newline dropped, the name then
    matched as sysfs_streq does (one more trailing newline tolerated), so
    "lz4\n\n" is lz4 and "lz4\n\n\n" is EINVAL; an unknown name is EINVAL
    and a known one on an initialised device EBUSY."""
    if len(buf) >= CRYPTO_MAX_ALG_NAME:
        raise kerror(errno.E2BIG, f"{z.name}: algorithm name of {len(buf)} characters")
    name = strip_one_newline(strip_one_newline(buf))
    if not zcomp_available_algorithm(name):
        raise kerror(errno.EINVAL, f"{z.name}: unknown compression algorithm {buf!r}")
    with z.init_lock:
        if z.init_done():
            raise kerror(errno.EBUSY, f"{z.name}: cannot change algorithm of an "
                         "initialized device")
        z.comp_algs[prio] = name


def comp_algorithm_store(z: Zram, buf: str) -> None:
    _set_algorithm(z, 0, buf)


def _keyvals(buf: str, what: str) -> Iterator[tuple[str, str | None]]:
    """``key=value`` words as the kernel's next_arg splits them: a value in
    double quotes loses its quotes."""
    for tok in buf.split():
        key, eq, val = tok.partition("=")
        if eq and len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1]
        yield key, (val if eq else None)


def algorithm_params_store(z: Zram, buf: str) -> None:
    prio, level, winbits, algo, dict_path = ZRAM_PRIMARY_COMP, None, None, None, None
    for key, val in _keyvals(buf, "algorithm_params"):
        if val is None:
            raise kerror(errno.EINVAL, f"{z.name}: algorithm_params key {key!r} needs a value")
        if not key:  # next_arg sees no '=' at the start of a word: no value
            raise kerror(errno.EINVAL, f"{z.name}: algorithm_params word '={val}' has no key")
        if key == "priority":
            prio = kstrtoint(val, 10, what="priority")
        elif key == "level":
            level = kstrtoint(val, 10, what="level")
        elif key == "deflate.winbits":
            winbits = kstrtoint(val, 10, what="deflate.winbits")
        elif key == "algo":
            algo = val
        elif key == "dict":
            dict_path = val
    if algo is not None:
        matches = [p for p, a in enumerate(z.comp_algs) if a == algo]
        if not matches:
            raise kerror(errno.EINVAL, f"{z.name}: algorithm {algo!r} is not configured")
        prio = matches[0]
    if not ZRAM_PRIMARY_COMP <= prio < len(z.comp_algs) or z.comp_algs[prio] is None:
        raise kerror(errno.EINVAL, f"{z.name}: priority {prio} outside 0..3")
    data = None
    if dict_path is not None:
        try:
            with open(dict_path, "rb") as f:
                data = f.read()
        except OSError:
            raise kerror(errno.EINVAL, f"{z.name}: cannot read dictionary {dict_path!r}"
                         ) from None
    try:  # what the algorithm would refuse when the device is set up: EINVAL now
        compressor(z.comp_algs[prio], level, data, winbits=winbits)
    except OSError as e:
        raise kerror(errno.EINVAL, f"{z.name}: algorithm_params: {reason(e)}") from None
    p = ZcompParams()
    if level is not None:
        p.level = level
    if winbits is not None:
        p.deflate_winbits = winbits
    p.dict = data
    with z.init_lock:
        z.params[prio] = p


def recomp_algorithm_store(z: Zram, buf: str) -> None:
    prio, algo = 1, None
    for key, val in _keyvals(buf, "recomp_algorithm"):
        if val is None:
            raise kerror(errno.EINVAL, f"{z.name}: recomp_algorithm key {key!r} needs a value")
        if key == "algo":
            algo = val
        elif key == "priority":
            prio = kstrtoint(val, 10, what="priority")
    if algo is None:
        raise kerror(errno.EINVAL, f"{z.name}: recomp_algorithm needs algo=NAME")
    if not 1 <= prio <= 3:
        raise kerror(errno.EINVAL, f"{z.name}: recompression priority {prio} outside 1..3")
    _set_algorithm(z, prio, algo)


def backing_dev_store(z: Zram, buf: str) -> None:
    writeback.set_backing_dev(z, buf.strip("\n"))


def writeback_store(z: Zram, buf: str) -> None:
    writeback.writeback_store(z, buf)


def recompress_store(z: Zram, buf: str) -> None:
    recompress.recompress_store(z, buf)


def writeback_limit_store(z: Zram, buf: str) -> None:
    val = kstrtoull(buf, 10, what="writeback_limit")
    with z.init_lock:
        z.bd_wb_limit = (val >> (PAGE_SHIFT - 12)) << (PAGE_SHIFT - 12)


def writeback_limit_enable_store(z: Zram, buf: str) -> None:
    val = kstrtoull(buf, 10, what="writeback_limit_enable")
    with z.init_lock:
        z.wb_limit_enable = bool(val)


def writeback_batch_size_store(z: Zram, buf: str) -> None:
    val = kstrtouint(buf, 10, what="writeback_batch_size")
    if not val:
        raise kerror(errno.EINVAL, f"{z.name}: writeback_batch_size must be nonzero")
    with z.init_lock:
        z.wb_batch_size = val


def writeback_compressed_store(z: Zram, buf: str) -> None:
    val = kstrtobool(buf, what="writeback_compressed")
    with z.init_lock:
        if z.init_done():
            raise kerror(errno.EBUSY, f"{z.name}: cannot change writeback_compressed of an "
                         "initialized device")
        z.wb_compressed = val


Show = Callable[["Zram"], str]
Store = Callable[["Zram", str], None]

#: name -> (show, store); None where the file has no such method.
ATTRS: dict[str, tuple[Show | None, Store | None]] = {
    "disksize": (disksize_show, disksize_store),
    "initstate": (initstate_show, None),
    "reset": (None, reset_store),
    "compact": (None, compact_store),
    "mem_limit": (None, mem_limit_store),
    "mem_used_max": (None, mem_used_max_store),
    "idle": (None, idle_store),
    "comp_algorithm": (comp_algorithm_show, comp_algorithm_store),
    "algorithm_params": (None, algorithm_params_store),
    "io_stat": (io_stat_show, None),
    "mm_stat": (mm_stat_show, None),
    "debug_stat": (debug_stat_show, None),
    "backing_dev": (backing_dev_show, backing_dev_store),
    "bd_stat": (bd_stat_show, None),
    "writeback": (None, writeback_store),
    "writeback_limit": (writeback_limit_show, writeback_limit_store),
    "writeback_limit_enable": (writeback_limit_enable_show, writeback_limit_enable_store),
    "writeback_batch_size": (writeback_batch_size_show, writeback_batch_size_store),
    "writeback_compressed": (writeback_compressed_show, writeback_compressed_store),
    "compressed_writeback": (writeback_compressed_show, writeback_compressed_store),
    "recomp_algorithm": (recomp_algorithm_show, recomp_algorithm_store),
    "recompress": (None, recompress_store),
    "block_state": (block_state_show, None),
}


class ZramAttrs(AttrDir):
    """The attribute files of one device, read and written like sysfs."""

    empty_write_is_noop = True

    def __init__(self, zram: Zram) -> None:
        super().__init__(zram, ATTRS, f"/sys/block/{zram.name}")

    def _live(self) -> None:
        self._obj.check_live()
