"""swaplab.lib.compress: the kernel's codecs in the C core, and the one interface
zram and zswap share.

- Fidelity: on the shipped corpus every page gets the host kernel's kind and
  compressed length (the oracle's numbers, shipped beside the pages).
- Interoperability: our lz4 blocks are LZ4 blocks to python-lz4 and back;
  our lzo is LZO1X to lzallright (an independent LZO1X implementation) and
  back; lzo-rle round-trips with and without zero runs.
- Safety: corrupt, truncated and overlong inputs are EINVAL, never a crash.
"""

from __future__ import annotations

import errno

import lz4.block
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lzallright import LZOCompressor

from conftest import compressible_page, incompressible_page, run_in_threads, sample_pages
from swaplab import PAGE_SIZE
from swaplab.lib.compress import (
    KERNEL_ALGORITHMS,
    available,
    compressor,
    split,
)
from swaplab.workload.corpus import sample_corpus, sample_kernel_sizes

NATIVE = ["lzo-rle", "lzo", "lz4"]
HUGE_CLASS_SIZE = 3625  # kernel-facts §9


@st.composite
def page_like(draw, size: int | None = PAGE_SIZE) -> bytes:
    """Bytes shaped like memory: zero runs, repeated short patterns, random spans."""
    n = draw(st.integers(0, 2 * PAGE_SIZE)) if size is None else size
    out = bytearray()
    while len(out) < n:
        kind = draw(st.sampled_from(["zero", "pattern", "random", "copy"]))
        length = draw(st.integers(1, 600))
        if kind == "zero":
            out += bytes(length)
        elif kind == "pattern":
            pat = draw(st.binary(min_size=1, max_size=8))
            out += (pat * (length // len(pat) + 1))[:length]
        elif kind == "random":
            out += draw(st.binary(min_size=length, max_size=length))
        elif out:
            start = draw(st.integers(0, len(out) - 1))
            out += out[start : start + length]
    return bytes(out[:n])


def test_the_kernels_order_and_default():
    assert available() == ["lzo-rle", "lzo", "lz4", "lz4hc", "zstd", "deflate"]
    assert KERNEL_ALGORITHMS[-1] == "842"


@pytest.mark.parametrize("name", ["842", "lzo-rle ", "snappy", ""])
def test_unknown_or_unimplemented_algorithms_are_einval_naming_them(name):
    with pytest.raises(OSError) as e:
        compressor(name)
    assert e.value.errno == errno.EINVAL and repr(name) in str(e.value)


@pytest.mark.parametrize("name", NATIVE)
def test_every_shipped_page_gets_the_kernels_kind_and_length(name):
    pages = sample_corpus()
    sizes, kinds = sample_kernel_sizes(name)
    buf, lens = compressor(name).compress_batch(pages)
    words = pages.view(np.uint64)
    same = (words == words[:, :1]).all(axis=1)
    ours = np.where(same, 1, np.where(lens >= HUGE_CLASS_SIZE, 2, 0))
    assert np.array_equal(ours, kinds)
    stored = kinds == 0
    assert np.array_equal(lens[stored], sizes[stored])
    assert len(buf) == int(lens.sum())


@pytest.mark.parametrize("name", available())
def test_batch_round_trip_of_shipped_pages(name):
    pages = sample_pages(96, seed=3)
    c = compressor(name)
    buf, lens = c.compress_batch(pages)
    assert int(lens.sum()) < pages.nbytes  # real pages compress
    out = np.zeros_like(pages)
    assert c.decompress_batch(split(buf, lens), out) == len(pages)
    assert np.array_equal(out, pages)


@pytest.mark.parametrize("name", available())
def test_rows_pick_pages_out_of_a_frame_array(name):
    frames = sample_pages(40, seed=8)
    rows = np.array([31, 2, 17, 2], dtype=np.int64)
    c = compressor(name)
    buf, lens = c.compress_batch(frames, rows)
    objs = split(buf, lens)
    assert [bytes(o) for o in objs] == [c.compress(frames[r]) for r in rows]
    dst = np.zeros_like(frames)
    back = np.array([0, 5, 9, 39], dtype=np.int64)
    assert c.decompress_batch(objs, dst, back) == 4
    assert np.array_equal(dst[back], frames[rows])
    assert not dst[np.setdiff1d(np.arange(40), back)].any()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example])
@given(st.lists(page_like(), min_size=1, max_size=6), st.sampled_from(NATIVE))
def test_batch_forms_equal_a_loop_of_single_calls(pages, name):
    arr = np.frombuffer(b"".join(pages), dtype=np.uint8).reshape(-1, PAGE_SIZE)
    c = compressor(name)
    buf, lens = c.compress_batch(arr)
    singles = [c.compress(p) for p in pages]
    assert [bytes(o) for o in split(buf, lens)] == singles
    out = np.zeros_like(arr)
    assert c.decompress_batch(singles, out) == len(pages)
    for k, obj in enumerate(singles):
        one = np.zeros(PAGE_SIZE, np.uint8)
        c.decompress(obj, one)
        assert np.array_equal(one, out[k])


@settings(max_examples=150, deadline=None)
@given(page_like(size=None))
def test_our_lz4_and_python_lz4_read_each_others_blocks(data):
    c = compressor("lz4")
    ours = c.compress(data)
    assert lz4.block.decompress(ours, uncompressed_size=len(data)) == data
    theirs = lz4.block.compress(data, store_size=False)
    out = bytearray(len(data))
    c.decompress(theirs, out)
    assert out == data


@settings(max_examples=150, deadline=None)
@given(page_like(size=None))
def test_our_lzo_and_an_independent_lzo1x_read_each_others_streams(data):
    c = compressor("lzo")
    other = LZOCompressor()
    ours = c.compress(data)
    assert other.decompress(ours, output_size_hint=max(1, len(data))) == data
    theirs = other.compress(data)
    out = bytearray(len(data))
    c.decompress(theirs, out)
    assert out == data


@settings(max_examples=150, deadline=None)
@given(page_like(size=None), st.integers(0, 3000), st.integers(4, 2100))
def test_lzo_rle_round_trips_with_and_without_zero_runs(data, at, run):
    c = compressor("lzo-rle")
    for d in (data, data[:at] + bytes(run) + data[at:]):
        obj = c.compress(d)
        assert obj[:2] == b"\x11\x01"  # the version marker
        out = bytearray(len(d))
        c.decompress(obj, out)
        assert out == d


def test_lzo_rle_encodes_a_zero_run_as_one_instruction():
    page = compressible_page(1)
    page[1000:3000] = 0
    rle, plain = compressor("lzo-rle").compress(page), compressor("lzo").compress(page)
    assert len(rle) < len(plain)
    out = np.zeros(PAGE_SIZE, np.uint8)
    compressor("lzo").decompress(rle, out)  # one decoder reads both versions
    assert np.array_equal(out, page)


@pytest.mark.parametrize("name", available())
def test_compressible_and_incompressible_pages_built_on_purpose(name):
    c = compressor(name)
    assert len(c.compress(compressible_page(2))) < PAGE_SIZE // 2
    assert len(c.compress(incompressible_page(2))) >= HUGE_CLASS_SIZE


@pytest.mark.parametrize("name", available())
def test_corrupt_truncated_and_overlong_objects_are_einval(name):
    c = compressor(name)
    page = compressible_page(3)
    obj = c.compress(page)
    out = np.zeros(PAGE_SIZE, np.uint8)
    for bad in (obj[: len(obj) // 2], obj[:-1], b"", b"\xff" * len(obj)):
        with pytest.raises(OSError) as e:
            c.decompress(bad, out)
        assert e.value.errno == errno.EINVAL
    with pytest.raises(OSError):
        c.decompress(obj, np.zeros(PAGE_SIZE - 1, np.uint8))  # does not fill exactly
    if c.native and name != "lz4":  # an lz4 block has no end marker to check
        with pytest.raises(OSError):
            c.decompress(obj + b"\0", out)


@pytest.mark.parametrize("name", available())
def test_a_batch_stops_at_the_first_bad_object(name):
    c = compressor(name)
    pages = sample_pages(5, seed=4)
    objs = [c.compress(p) for p in pages]
    objs[3] = objs[3][:5]
    out = np.zeros_like(pages)
    assert c.decompress_batch(objs, out) == 3
    assert np.array_equal(out[:3], pages[:3]) and not out[4].any()


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=5000), st.sampled_from(NATIVE))
def test_decoders_take_any_bytes_without_harm(data, name):
    out = np.zeros(PAGE_SIZE, np.uint8)
    try:
        compressor(name).decompress(data, out)
    except OSError as e:
        assert e.errno == errno.EINVAL


def test_bad_arguments_name_the_value():
    c = compressor("lz4")
    pages = np.zeros((4, PAGE_SIZE), np.uint8)
    with pytest.raises(IndexError, match="row 9"):
        c.compress_batch(pages, np.array([0, 9]))
    with pytest.raises(ValueError, match="2-D"):
        c.decompress_batch([b""], np.zeros(PAGE_SIZE, np.uint8))
    with pytest.raises(OSError, match="65537"):
        c.compress(bytes(65537))


def test_native_codecs_are_shared_by_threads():
    """One native compressor used by four threads at once gives every thread
    the bytes a single thread gets (the workspace is per call)."""
    c = compressor("lzo-rle")
    assert c.thread_safe
    pages = sample_pages(256, seed=6)
    want = [c.compress(p) for p in pages]

    def work(k):
        for _ in range(3):
            buf, lens = c.compress_batch(pages, np.arange(k, len(pages), 4))
            assert [bytes(o) for o in split(buf, lens)] == want[k::4]

    errors = run_in_threads(work, 4)
    assert not errors


@pytest.mark.parametrize("name", available())
def test_an_empty_batch_is_no_objects(name):
    c = compressor(name)
    buf, lens = c.compress_batch(np.zeros((0, PAGE_SIZE), np.uint8))
    assert len(buf) == 0 and len(lens) == 0 and split(buf, lens) == []
    assert c.decompress_batch([], np.zeros((0, PAGE_SIZE), np.uint8)) == 0
