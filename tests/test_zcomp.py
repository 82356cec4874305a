"""zcomp: zram's per-CPU streams and algorithm parameters over the shared compressors."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from conftest import run_in_threads, sample_pages
from swaplab.drivers.zram.zcomp import Zcomp, ZcompParams, zcomp_available_show

PAGES = list(sample_pages(64, seed=5))


def roundtrip(z: Zcomp, page: np.ndarray) -> int:
    s = z.stream_get()
    try:
        c = z.compress(s, page)
        assert isinstance(c, bytes)
        out = np.zeros(4096, np.uint8)
        assert z.decompress(s, c, out) == 0
        assert np.array_equal(out, page)
        return len(c)
    finally:
        z.stream_put(s)


def test_comp_algorithm_lists_the_kernels_order_with_lzo_rle_first():
    assert zcomp_available_show("lzo-rle") == "[lzo-rle] lzo lz4 lz4hc zstd deflate \n"
    assert zcomp_available_show(None) == "lzo-rle lzo lz4 lz4hc zstd deflate \n"


@pytest.mark.parametrize("name", ["842", "snappy", ""])
def test_unavailable_algorithms_are_einval(name):
    with pytest.raises(OSError) as e:
        Zcomp(name)
    assert e.value.errno == errno.EINVAL


def test_levels_change_the_output():
    fast = sum(roundtrip(Zcomp("zstd", ZcompParams(level=1)), p) for p in PAGES)
    best = sum(roundtrip(Zcomp("zstd", ZcompParams(level=19)), p) for p in PAGES)
    assert best < fast
    lz = sum(roundtrip(Zcomp("lz4", ZcompParams(level=64)), p) for p in PAGES)
    assert lz > sum(roundtrip(Zcomp("lz4"), p) for p in PAGES)  # more acceleration


@pytest.mark.parametrize("name", ["zstd", "lz4", "lz4hc"])
def test_dictionary_helps(name):
    d = b"".join(p.tobytes() for p in PAGES[:8])
    with_dict = Zcomp(name, ZcompParams(dict=d))
    plain = Zcomp(name)
    assert sum(roundtrip(with_dict, p) for p in PAGES[:8]) < \
        sum(roundtrip(plain, p) for p in PAGES[:8])


def test_deflate_winbits():
    assert roundtrip(Zcomp("deflate", ZcompParams(deflate_winbits=15)), PAGES[0]) > 0


@pytest.mark.parametrize("name", ["lzo-rle", "lzo", "lz4", "zstd", "deflate"])
def test_corrupt_data_is_einval(name):
    z = Zcomp(name)
    s = z.stream_get()
    c = bytearray(z.compress(s, PAGES[1]))
    out = np.zeros(4096, np.uint8)
    assert z.decompress(s, bytes(c[: len(c) // 2]), out) == -errno.EINVAL
    z.stream_put(s)


@pytest.mark.parametrize("name", ["zstd", "lzo-rle"])
def test_streams_are_per_cpu_and_locked(name):
    z = Zcomp(name, nr_streams=2)
    assert len(z.streams) == 2 and z.streams[0].tfm is not z.streams[1].tfm
    assert z.streams[0].buffer.nbytes == 8192 and z.streams[0].local_copy.nbytes == 4096

    def work(k):
        for p in PAGES[k::4]:
            roundtrip(z, p)

    errors = run_in_threads(work, 4)
    assert not errors
