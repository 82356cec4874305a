"""zram's slot table layout and counters (drivers/block/zram/zram_drv.h).

What every zram module shares, and nothing else: the flag bits of a slot's
``flags`` word, the 16-byte table entry, and the names of the device's
counters in the compiled table's order. The table itself and what works on
it are ``zram_drv`` and the compiled ``_native/drivers/zram/zram_drv.c``.
"""

from __future__ import annotations

import numpy as np

from ...consts import PAGE_SHIFT

#: bits 0..12 of ``flags`` hold the object size; the flags start above them
ZRAM_FLAG_SHIFT = PAGE_SHIFT + 1
ZRAM_SIZE_MASK = (1 << ZRAM_FLAG_SHIFT) - 1
ZRAM_SAME = 1 << 13
ZRAM_ENTRY_LOCK = 1 << 14
ZRAM_WB = 1 << 15
ZRAM_PP_SLOT = 1 << 16
ZRAM_HUGE = 1 << 17
ZRAM_IDLE = 1 << 18
ZRAM_INCOMPRESSIBLE = 1 << 19
ZRAM_COMP_PRIORITY_BIT1 = 20
ZRAM_COMP_PRIORITY_MASK = 0x3
__NR_ZRAM_PAGEFLAGS = 22

#: one slot-table entry, as the compiled table lays it out (16 bytes)
TABLE_ENTRY = np.dtype([("handle", "<u8"), ("flags", "<u4"), ("ac_time", "<u4")])

#: the device's counters, in the compiled table's order (enum zram_stat_item)
STAT_NAMES = ("compr_data_size", "failed_reads", "failed_writes", "notify_free",
              "same_pages", "huge_pages", "huge_pages_since", "pages_stored",
              "max_used_pages", "miss_free", "bd_count", "bd_reads", "bd_writes")
