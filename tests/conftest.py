"""Shared fixtures: a System, its two real disks, and real page contents."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from swaplab import PAGE_SIZE, System


@pytest.fixture
def system():
    s = System("64M")
    yield s
    s.close()


@pytest.fixture
def ramdisk(system):
    return system.add_ramdisk("16M")


@pytest.fixture
def filedisk(system, tmp_path):
    return system.add_filedisk(tmp_path / "disk.img", "16M")


@pytest.fixture(params=["ramdisk", "filedisk"])
def disk(request, system, tmp_path):
    """Each of the two real disks in turn."""
    if request.param == "ramdisk":
        return system.add_ramdisk("16M")
    return system.add_filedisk(tmp_path / "disk.img", "16M")


def real_pages(n: int, seed: int = 0) -> list[bytes]:
    """``n`` distinct pages of real content: slices of files under /usr/lib and
    the Python standard library, each tagged with its index so no two are equal."""
    roots = [Path("/usr/lib/x86_64-linux-gnu"), Path(os.__file__).parent, Path("/usr/lib")]
    files: list[Path] = []
    for root in roots:
        if root.is_dir():
            files += sorted(p for p in root.glob("*") if p.is_file() and p.stat().st_size
                            > PAGE_SIZE)[:200]
    rng = np.random.default_rng(seed)
    pages = []
    for i in range(n):
        f = files[int(rng.integers(len(files)))] if files else None
        if f is not None:
            size = f.stat().st_size
            off = int(rng.integers(0, max(1, size - PAGE_SIZE)))
            with open(f, "rb") as fh:
                fh.seek(off)
                data = fh.read(PAGE_SIZE).ljust(PAGE_SIZE, b"\0")
        else:
            data = rng.integers(0, 256, PAGE_SIZE, dtype=np.uint8).tobytes()
        tag = i.to_bytes(8, "little")
        pages.append(tag + data[8:])
    return pages


def digest(b: bytes) -> str:
    return hashlib.blake2b(b, digest_size=16).hexdigest()


@pytest.fixture
def pages():
    return real_pages(600)


def zswap_machine(tmp_path, memory: str = "64M", disk: str = "64M"):
    """A System with a file-backed swap disk and zswap (lz4) enabled in front of it;
    returns (system, zswap, disk). The caller closes the system."""
    from swaplab.mm.zswap import Zswap

    s = System(memory)
    d = s.add_filedisk(tmp_path / "swap.img", disk)
    s.mkswap(d)
    s.swapon(d)
    return s, Zswap(s, "lz4", enabled=True), d
