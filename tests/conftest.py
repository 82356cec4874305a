"""Shared fixtures: a System, its two real disks, and real page contents.

Page contents come from the corpus swaplab ships (swaplab.workload.corpus,
``sample``) or from a seeded generator, never from the machine's own files,
so every test gives the same result on every machine.
"""

from __future__ import annotations

import hashlib
import threading

import numpy as np
import pytest

from swaplab import PAGE_SIZE, System
from swaplab.workload.corpus import SAMPLE_TEXT, corpus_pages, sample_corpus


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


def sample_pages(n: int, seed: int = 0, kind: str | None = None) -> np.ndarray:
    """``n`` real pages from the corpus swaplab ships (seeded choice, the same on
    every machine), each tagged with its index in its first 8 bytes so that
    no two are equal: an ``(n, PAGE_SIZE)`` uint8 array. ``kind`` "text" takes
    only text pages (every one compresses well below huge_class_size under
    every algorithm), "elf" only ELF pages (some are huge), None either."""
    if kind is None:
        pages = corpus_pages("sample", n, seed)
    else:
        part = {"text": slice(0, SAMPLE_TEXT), "elf": slice(SAMPLE_TEXT, None)}[kind]
        src = sample_corpus()[part]
        order = np.random.default_rng(seed).permutation(len(src))
        pages = src[order[np.arange(n) % len(src)]]
    pages.view(np.uint64)[:, 0] = np.arange(n, dtype=np.uint64)
    return pages


def sample_page_bytes(n: int, seed: int = 0, kind: str | None = None) -> list[bytes]:
    """:func:`sample_pages` as a list of bytes."""
    return [p.tobytes() for p in sample_pages(n, seed, kind)]


def compressible_page(seed: int) -> np.ndarray:
    """A page that every compressor shrinks: text-like, 64 distinct words of 8 bytes."""
    rng = np.random.default_rng(seed)
    words = rng.integers(0x20, 0x7F, (64, 8), dtype=np.uint8)
    return words[rng.integers(0, 64, PAGE_SIZE // 8)].reshape(PAGE_SIZE)


def incompressible_page(seed: int) -> np.ndarray:
    """A page no compressor shrinks below PAGE_SIZE: seeded uniform random bytes."""
    return np.random.default_rng(seed).integers(0, 256, PAGE_SIZE, dtype=np.uint8)


def run_in_threads(work, n: int, timeout: float | None = None) -> list[BaseException]:
    """Run ``work(k)`` for k in 0..n-1 on n real threads at once and return what
    they raised; fails the test if a thread is still running after ``timeout``."""
    errors: list[BaseException] = []

    def body(k: int) -> None:
        try:
            work(k)
        except BaseException as e:
            errors.append(e)

    ts = [threading.Thread(target=body, args=(k,)) for k in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout)
    assert not any(t.is_alive() for t in ts), "a worker hung"
    return errors


def digest(b: bytes) -> str:
    return hashlib.blake2b(b, digest_size=16).hexdigest()


@pytest.fixture
def pages():
    return sample_page_bytes(600)


def zswap_machine(tmp_path, memory: str = "64M", disk: str = "64M"):
    """A System with a file-backed swap disk and zswap (lz4) enabled in front of it;
    returns (system, zswap, disk). The caller closes the system."""
    from swaplab.mm.zswap import Zswap

    s = System(memory)
    d = s.add_filedisk(tmp_path / "swap.img", disk)
    s.mkswap(d)
    s.swapon(d)
    return s, Zswap(s, "lz4", enabled=True), d
