"""Attribute directories: files read and written like sysfs/cgroupfs files.

An :class:`AttrDir` serves a table ``name -> (show, store)`` for one object:
``d[name]`` reads a file (``show(obj) -> text``), ``d[name] = value`` writes
it (``store(obj, text)``, raising OSError with the kernel's errno). An
unknown name is ENOENT; reading a write-only file or writing a read-only one
gives the directory's ``read_denied`` / ``write_denied`` errno. zram's /sys/block/zramN and the
cgroup memory.* files are both this.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .errors import kerror

Show = Callable[[Any], str]
Store = Callable[[Any, str], None]


def as_text(value: object) -> str:
    """What write(2) of ``value`` hands the store: bytes decoded, others as str."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode(errors="replace")
    return str(value)


class AttrDir:
    """The files of one object under ``root``; subclasses set the table and errnos."""

    #: errno for reading a write-only file, and for writing a read-only one
    read_denied = errno.EACCES
    write_denied = errno.EACCES
    #: sysfs returns 0 for a write of 0 bytes without calling the store
    #: (sysfs_kf_write); cgroupfs hands it to the file's handler
    empty_write_is_noop = False

    def __init__(self, obj: Any, table: Mapping[str, tuple[Show | None, Store | None]],
                 root: str) -> None:
        self._obj = obj
        self._table = table
        self._root = root

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __contains__(self, name: object) -> bool:
        return name in self._table

    def _exists(self, name: str) -> bool:
        return name in self._table

    def _live(self) -> None:
        """Hook: raise (ENODEV) when the object is gone (default: never)."""

    def _lookup(self, name: str) -> tuple[Show | None, Store | None]:
        self._live()
        if not self._exists(name):
            raise kerror(errno.ENOENT, f"{self.path(name)}: no such file")
        return self._table[name]

    def __getitem__(self, name: str) -> str:
        show, _ = self._lookup(name)
        if show is None:
            raise kerror(self.read_denied, f"{self.path(name)} is write-only")
        return show(self._obj)

    def __setitem__(self, name: str, value: object) -> None:
        _, store = self._lookup(name)
        if store is None:
            raise kerror(self.write_denied, f"{self.path(name)} is read-only")
        text = as_text(value)
        if not text and self.empty_write_is_noop:
            return
        store(self._obj, self._check(name, text))

    def _check(self, name: str, text: str) -> str:
        """Hook for a directory-wide rule on written text (default: none)."""
        return text

    def mode(self, name: str) -> int:
        show, store = self._lookup(name)
        return (0o444 if show else 0) | (0o200 if store else 0)

    def path(self, name: str) -> str:
        return os.path.join(self._root, name)
