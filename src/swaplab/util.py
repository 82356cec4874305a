"""Small helpers shared by the sysfs-like interfaces, the CLI and the memory models."""

from __future__ import annotations

import contextlib
import errno
import mmap
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np

from .errors import kerror

_SUFFIX = {"K": 10, "M": 20, "G": 30, "T": 40, "P": 50, "E": 60}


def memparse(text: str | int) -> int:
    """Parse a size like the kernel's memparse: a number with an optional
    K/M/G/T/P/E suffix (base 0 number: 0x.. hex and 0.. octal accepted).

    Raises EINVAL naming the text when nothing parses.
    """
    if isinstance(text, int):
        return text
    s = text.strip()
    if not s:
        raise kerror(errno.EINVAL, f"size {text!r} is empty")
    shift = 0
    if s[-1].upper() in _SUFFIX:
        shift = _SUFFIX[s[-1].upper()]
        s = s[:-1]
    try:
        value = int(s, 0)
    except ValueError:
        raise kerror(errno.EINVAL, f"size {text!r} is not a number") from None
    if value < 0:
        raise kerror(errno.EINVAL, f"size {text!r} is negative")
    return value << shift


def strip_one_newline(text: str) -> str:
    """``text`` without one trailing newline, as sysfs stores and sysfs_streq see it."""
    return text[:-1] if text.endswith("\n") else text


def kstrtoull(text: str, base: int = 0, *, what: str = "value") -> int:
    """Parse like the kernel's kstrtoull: optional '+', digits in ``base`` (0:
    auto 0x/0 prefix), one optional trailing newline, nothing else.

    EINVAL for anything else, ERANGE above 2**64 - 1.
    """
    s = strip_one_newline(text)
    if s.startswith("+"):
        s = s[1:]
    b = base
    if base in (0, 16) and s[:2].lower() == "0x" and len(s) > 2:
        s, b = s[2:], 16
    elif base == 0:
        b = 8 if len(s) > 1 and s.startswith("0") else 10
    valid = "0123456789abcdef"[:b]
    if not s or any(ch.lower() not in valid for ch in s):
        raise kerror(errno.EINVAL, f"{what} {text!r} is not a number")
    v = int(s, b)
    if v >= 1 << 64:
        raise kerror(errno.ERANGE, f"{what} {text!r} is out of range")
    return v


def kstrtouint(text: str, base: int = 0, bits: int = 32, *, what: str = "value") -> int:
    """kstrtouint / kstrtou16: as :func:`kstrtoull`, ERANGE above the type's maximum."""
    v = kstrtoull(text, base, what=what)
    if v >= 1 << bits:
        raise kerror(errno.ERANGE, f"{what} {text!r} is out of range")
    return v


def kstrtoint(text: str, base: int = 0, *, what: str = "value") -> int:
    """kstrtoint: an optional '-' before a kstrtouint-style number, within int range."""
    neg = text.startswith("-")
    v = kstrtoull(text[1:] if neg else text, base, what=what)  # it drops the newline
    v = -v if neg else v
    if not -(1 << 31) <= v < 1 << 31:
        raise kerror(errno.ERANGE, f"{what} {text!r} is out of range")
    return v


def kstrtobool(text: str, *, what: str = "value") -> bool:
    """kstrtobool: y/Y/1/t/T/on true, n/N/0/f/F/off false; EINVAL otherwise."""
    s = strip_one_newline(text)
    if s[:1] in ("y", "Y", "1", "t", "T"):
        return True
    if s[:1] in ("n", "N", "0", "f", "F"):
        return False
    if s[:2].lower() == "on":
        return True
    if s[:3].lower() == "of" + "f":
        return False
    raise kerror(errno.EINVAL, f"{what} {text!r} is not a boolean")


U64_MASK = (1 << 64) - 1


def memparse_prefix(text: str) -> tuple[int, int]:
    """The kernel's memparse: the longest leading number (base 0: "0x" then a
    hex digit is hex, a leading 0 octal) with an optional K/M/G/T/P/E suffix;
    returns (value, characters consumed). The value wraps modulo 2**64 as the
    kernel's unsigned long long does (so "16E" is 0)."""
    s = text
    i = 0
    base = 10
    if s[:2].lower() == "0x" and s[2:3] and s[2].lower() in "0123456789abcdef":
        base, i = 16, 2
    elif s[:1] == "0":
        base = 8
    digits = "0123456789abcdef"[:base]
    j = i
    while j < len(s) and s[j].lower() in digits:
        j += 1
    if j == i:
        return 0, (1 if base == 8 else 0)
    value = int(s[i:j], base) & U64_MASK
    if j < len(s) and s[j].upper() in _SUFFIX:
        value = (value << _SUFFIX[s[j].upper()]) & U64_MASK
        j += 1
    return value, j


#: Linux's MADV_POPULATE_WRITE (include/uapi/asm-generic/mman-common.h, Linux 5.14)
MADV_POPULATE_WRITE = 23


def page_buffer(nbytes: int) -> np.ndarray:
    """A page-aligned uint8 buffer of ``nbytes`` (what alloc_page gives a
    driver): usable for O_DIRECT I/O without a bounce copy."""
    return np.frombuffer(mmap.mmap(-1, nbytes), dtype=np.uint8)


def ram_arena(nbytes: int) -> mmap.mmap:
    """A private anonymous mapping of ``nbytes`` that stands for a machine's
    RAM, populated at once (MADV_POPULATE_WRITE): the kernel's RAM exists
    before it is used, so no first touch of a frame may cost a host page
    fault in what swaplab times. Where the host cannot populate (before
    Linux 5.14) the frames fault in on first use instead."""
    m = mmap.mmap(-1, nbytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    with contextlib.suppress(OSError):
        m.madvise(MADV_POPULATE_WRITE)
    return m


def host_available_memory() -> int:
    """Bytes of memory the host can hand out now (/proc/meminfo MemAvailable)."""
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise OSError(errno.ENOSYS, "/proc/meminfo has no MemAvailable")


def size_str(nbytes: int | float) -> str:
    """``nbytes`` for people: "512 B", "3.0 MiB", "23.4 GiB"."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def run_threads(target: Callable[..., object], args: Iterable[tuple]) -> float:
    """Run ``target(*a)`` for each ``a`` in ``args`` on threads of its own, all
    at once; return the seconds from the first start to the last finish. The
    first exception a thread raised (SystemExit included) is raised here."""
    errors: list[BaseException] = []

    def run(a: tuple) -> None:
        try:
            target(*a)
        except BaseException as e:  # handed to the caller below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(a,)) for a in args]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    dt = time.perf_counter() - t
    if errors:
        raise errors[0]
    return dt
