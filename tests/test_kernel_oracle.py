"""swaplab's zram beside the host kernel's, on the same real pages (root + zram only).

With the kernel's own codecs in swaplab's C core, the nine mm_stat columns
are equal for lz4, lzo and lzo-rle (the shipped pages include same-filled
and huge ones).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from swaplab import PAGE_SIZE, System
from swaplab.kernel.zram import KernelZram, unavailable
from swaplab.workload.corpus import sample_corpus

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))


@pytest.mark.parametrize("algo", ["lz4", "lzo", "lzo-rle"])
def test_mm_stat_equals_the_kernels_on_the_shipped_pages(algo):
    pages = np.ascontiguousarray(sample_corpus())
    with KernelZram(algo, 16 << 20) as kz:
        kz.write_pages(pages)
        theirs = kz.mm_stat()
        back, _ = kz.read_pages(len(pages))
        assert np.array_equal(back, pages)
    with System("64M") as s:
        z = s.load_zram()[0]
        z.attr["comp_algorithm"] = algo
        z.attr["disksize"] = str(16 << 20)
        z.bdev.pwrite(pages.tobytes(), 0)
        ours = [int(x) for x in z.attr["mm_stat"].split()]
    assert ours[0] == len(pages) * PAGE_SIZE
    assert ours == theirs


def test_the_device_added_is_removed():
    with KernelZram("lz4", 4 << 20) as kz:
        name = kz.name
        assert os.path.isdir(f"/sys/block/{name}")
    assert not os.path.isdir(f"/sys/block/{name}")
