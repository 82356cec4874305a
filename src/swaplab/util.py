"""Small parsing helpers shared by the sysfs-like interfaces and the CLI."""

from __future__ import annotations

import errno

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
