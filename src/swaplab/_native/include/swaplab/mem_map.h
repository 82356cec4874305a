/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The machine's per-frame state as the swap core's batch paths use it: the
 * struct page fields of every frame, kept as parallel arrays (flags, folio
 * order, folio->swap, the owning cgroup, the reverse map) by
 * swaplab.mm.page_alloc.PhysMem.
 * The functions walk a batch of folios (their head frames) in one call: the
 * pages and swap slots a swap_iocb covers, and the flag and counter updates
 * of its completion (swap_read_end / swap_write_end in mm/page_io.c).
 * Callers hold the locks that guard the arrays; nothing here sleeps.
 */
#ifndef _SWAPLAB_MEM_MAP_H
#define _SWAPLAB_MEM_MAP_H

#include <stdint.h>

#define MEM_MAP_MAX_ORDER	9	/* MAX_FOLIO_ORDER: folios of 1..512 pages */
/* swp_offset(): the low SWP_TYPE_SHIFT bits of an entry */
#define MEM_MAP_SWP_TYPE_SHIFT	58
#define MEM_MAP_SWP_OFFSET_MASK	((UINT64_C(1) << MEM_MAP_SWP_TYPE_SHIFT) - 1)

/* The folio flags the compiled steps read and write (swaplab.mm.folio.PG). */
#define PG_locked	(1U << 0)
#define PG_writeback	(1U << 1)
#define PG_uptodate	(1U << 3)
#define PG_dirty	(1U << 4)
#define PG_lru		(1U << 5)
#define PG_swapcache	(1U << 10)
#define PG_swapbacked	(1U << 17)
#define PG_readahead	(1U << 20)
#define PG_young	(1U << 22)	/* the PTE's accessed bit */

/* A PTE mapping frame @pfn (swaplab.mm.swapops.mk_pte). */
#define MEM_MAP_PTE_PRESENT	UINT64_C(1)
static inline uint64_t mk_pte(int64_t pfn)
{
	return ((uint64_t)pfn << 1) | MEM_MAP_PTE_PRESENT;
}

struct mem_map {
	uint32_t *flags;	/* folio flags (PG_*), at the head frame */
	int8_t *order;		/* folio order, at the head frame */
	uint64_t *swap;		/* folio->swap, at the head frame */
	int32_t *memcg;		/* owning cgroup id, at the head frame */
	int32_t *mapping;	/* reverse map: the mm mapping the frame, or -1 */
	int64_t *index;		/* reverse map: the page of that mm */
	uint64_t nr_frames;
};

/*
 * folios_pages - the pages of the folios at @heads[0..@n): their frame
 * numbers into @pfns and their swap offsets (swp_offset(folio->swap) + j
 * for page j) into @offsets, in order.  Returns the number of pages, or -1
 * when a head lies outside the map or has an order above
 * MEM_MAP_MAX_ORDER, or -2 when the pages would not fit in @cap.
 */
long folios_pages(const struct mem_map *map, const int64_t *heads, long n,
		  int64_t *pfns, int64_t *offsets, long cap);

/*
 * folios_end_io - flags = (flags | @set) & ~@clear on every folio at
 * @heads[0..@n), and the completion's counts: the folios of each order into
 * @nr_order[0..MEM_MAP_MAX_ORDER] (may be NULL), and, when @ev is not NULL,
 * each folio's page count added to @ev[memcg * @ev_stride + @item] (the
 * cgroup's event counter; ids at or above @ev_rows are refused).  Returns
 * the number of pages, or -1 (nothing changed) when a head or a cgroup id
 * is out of range.
 */
long folios_end_io(struct mem_map *map, const int64_t *heads, long n,
		   uint32_t set, uint32_t clear, long *nr_order,
		   int64_t *ev, long ev_rows, long ev_stride, long item);

/*
 * mmu_read_present - what the MMU does for a run of one mm's accesses that
 * hit mapped pages: from access @k on, each read (@writes[k] == 0) whose
 * PTE @ptes[@vpns[k]] is present sets the accessed bit (PG_young) of the
 * frame it maps.  Stops at the first access that is a write or finds no
 * present PTE, and returns its index (@n when all are done): the caller's
 * write or fault path takes that one.  -1 (the access at which it stopped
 * is not done) when a vpn lies outside @nr_ptes or a PTE maps a frame
 * outside the map.  The caller holds the frames' flag lock.
 */
long mmu_read_present(struct mem_map *map, const uint64_t *ptes, uint64_t nr_ptes,
		      const int64_t *vpns, const uint8_t *writes, long k, long n);

#endif /* _SWAPLAB_MEM_MAP_H */
