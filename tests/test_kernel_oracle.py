"""swaplab's zram beside the host kernel's, on the same real pages (root + zram only).

The kernel's lz4 is the classic LZ4 fast compressor; python-lz4 emits
different lengths for most single pages but near-identical totals
(kernel-facts §9), so compressed sizes are compared as totals, within 2%.
"""

from __future__ import annotations

import numpy as np
import pytest

from swaplab import PAGE_SIZE, System
from swaplab.kernel.zram import KernelZram, unavailable
from swaplab.workload.corpus import file_pages

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=str(unavailable()))

ELF_ROOTS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib", "/usr/bin")


def test_mm_stat_matches_the_kernel_on_elf_pages():
    pages = file_pages(4096, seed=3, roots=ELF_ROOTS)
    with KernelZram("lz4", 64 << 20) as kz:
        kz.write_pages(pages)
        theirs = kz.mm_stat()
        back, _ = kz.read_pages(len(pages))
        assert np.array_equal(back, pages)
    s = System("64M")
    try:
        z = s.load_zram()[0]
        z.attr["comp_algorithm"] = "lz4"
        z.attr["disksize"] = str(64 << 20)
        z.bdev.pwrite(pages.tobytes(), 0)
        ours = [int(x) for x in z.attr["mm_stat"].split()]
    finally:
        s.close()
    assert ours[0] == theirs[0] == len(pages) * PAGE_SIZE  # orig_data_size
    assert ours[5] == theirs[5]  # same_pages
    assert abs(ours[1] - theirs[1]) <= 0.02 * theirs[1], (ours, theirs)  # compr_data_size
    assert abs(ours[2] - theirs[2]) <= 0.02 * theirs[2], (ours, theirs)  # mem_used_total


def test_the_device_added_is_removed():
    import os

    with KernelZram("lz4", 4 << 20) as kz:
        name = kz.name
        assert os.path.isdir(f"/sys/block/{name}")
    assert not os.path.isdir(f"/sys/block/{name}")
