"""mkswap's header, byte for byte, and swapon's reading of it."""

from __future__ import annotations

import errno
import os
import shutil
import struct
import subprocess

import pytest

from swaplab import PAGE_SIZE
from swaplab.mm.swap_header import (
    MAX_SWAP_BADPAGES,
    build_swap_header,
    parse_swap_header,
)

UUID = "01234567-89ab-cdef-0123-456789abcdef"
MKSWAP = shutil.which("mkswap") or ("/usr/sbin/mkswap" if os.path.exists("/usr/sbin/mkswap")
                                    else None)


def test_layout():
    page = build_swap_header(2560, uuid=UUID, label="mylabel")
    assert len(page) == PAGE_SIZE
    assert page[:1024] == bytes(1024)
    assert page[-10:] == b"SWAPSPACE2"
    version, last, nbad = struct.unpack_from("=III", page, 1024)
    assert (version, last, nbad) == (1, 2559, 0)
    assert page[1036:1052] == bytes.fromhex(UUID.replace("-", ""))
    assert page[1052:1068] == b"mylabel".ljust(16, b"\0")
    assert MAX_SWAP_BADPAGES == 637


def test_roundtrip_with_badpages():
    page = build_swap_header(100, uuid=UUID, label="x" * 20, badpages=(5, 9))
    h = parse_swap_header(page)
    assert h.version == 1 and h.last_page == 99 and h.badpages == (5, 9)
    assert str(h.uuid) == UUID and h.label == "x" * 16


@pytest.mark.parametrize(
    ("mutate", "msg"),
    [
        (lambda p: p[:-10] + b"SWAP-SPACE", "signature"),
        (lambda p: p[:1024] + struct.pack("=I", 2) + p[1028:], "version"),
        (lambda p: p[:1032] + struct.pack("=I", 638) + p[1036:], "bad pages"),
    ],
)
def test_bad_headers_are_einval(mutate, msg):
    page = mutate(build_swap_header(100))
    with pytest.raises(OSError) as e:
        parse_swap_header(page, "/dev/x")
    assert e.value.errno == errno.EINVAL and msg in str(e.value)


def test_too_small_or_too_many_bad():
    with pytest.raises(OSError) as e:
        build_swap_header(9)
    assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError):
        build_swap_header(10000, badpages=tuple(range(1, 700)))


@pytest.mark.skipif(MKSWAP is None, reason="util-linux mkswap is not installed")
def test_matches_util_linux_mkswap_byte_for_byte(tmp_path, system):
    size = 10 << 20
    theirs, ours = tmp_path / "theirs.img", tmp_path / "ours.img"
    junk = os.urandom(size)
    for p in (theirs, ours):
        p.write_bytes(junk)
        p.chmod(0o600)
    subprocess.run([MKSWAP, "-U", UUID, "-L", "mylabel", str(theirs)], check=True,
                   capture_output=True)
    system.mkswap(ours, uuid=UUID, label="mylabel")
    assert ours.read_bytes() == theirs.read_bytes()


@pytest.mark.skipif(MKSWAP is None, reason="util-linux mkswap is not installed")
def test_matches_mkswap_on_a_block_device(system, tmp_path):
    size = 4 << 20
    theirs = tmp_path / "theirs.img"
    theirs.write_bytes(bytes(size))
    subprocess.run([MKSWAP, "-U", UUID, str(theirs)], check=True, capture_output=True)
    rd = system.add_ramdisk(size)
    system.mkswap(rd, uuid=UUID)
    assert rd.pread(PAGE_SIZE, 0) == theirs.read_bytes()[:PAGE_SIZE]
