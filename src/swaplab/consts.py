"""Kernel constants swaplab follows (x86_64, 4 KiB pages).

Values are the kernel's; see docs/kernel-facts.md §1-2.
"""

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
SECTOR_SHIFT = 9
SECTOR_SIZE = 1 << SECTOR_SHIFT
SECTORS_PER_PAGE_SHIFT = PAGE_SHIFT - SECTOR_SHIFT
SECTORS_PER_PAGE = 1 << SECTORS_PER_PAGE_SHIFT

#: Largest folio order the swap path handles (PMD order on x86_64).
HPAGE_PMD_ORDER = 9
HPAGE_PMD_NR = 1 << HPAGE_PMD_ORDER
MAX_FOLIO_ORDER = HPAGE_PMD_ORDER

#: Folios per swap_iocb, per reclaim batch (mm/swap.h).
SWAP_CLUSTER_MAX = 32
#: Slots per swap cluster: HPAGE_PMD_NR with THP swap.
SWAPFILE_CLUSTER = HPAGE_PMD_NR
#: Allocation orders the cluster allocator serves: PMD_ORDER + 1.
SWAP_NR_ORDERS = HPAGE_PMD_ORDER + 1
