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
#define PG_referenced	(1U << 2)
#define PG_uptodate	(1U << 3)
#define PG_dirty	(1U << 4)
#define PG_lru		(1U << 5)
#define PG_active	(1U << 8)
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

/*
 * folios_test_set - for each folio at @heads[0..@n) whose flags masked
 * with @mask equal @want: flags = (flags | @set) & ~@clear and @hit[i] = 1;
 * @hit[i] = 0 for the others, which are left alone.  folio_trylock of a
 * batch is (@mask = PG_locked | busy, @want = 0, @set = PG_locked);
 * folio_test_clear_dirty is (PG_dirty, PG_dirty, 0, PG_dirty).  Returns
 * the number of hits, or -1 (nothing changed) when a head is out of range.
 */
long folios_test_set(struct mem_map *map, const int64_t *heads, long n, uint32_t mask,
		     uint32_t want, uint32_t set, uint32_t clear, uint8_t *hit);

/* folio_check_references' verdicts (enum folio_references, anon folios) */
enum folio_ref {
	FOLIOREF_RECLAIM = 0,
	FOLIOREF_KEEP = 1,
	FOLIOREF_ACTIVATE = 2,
};

/*
 * folios_check_references - folio_check_references for the isolated
 * folios at @heads[0..@n), each mapped by at most one PTE: the
 * accessed bit (PG_young) is tested and cleared; a young folio already
 * PG_referenced is to be activated, a young one not yet referenced is
 * marked PG_referenced and kept, one not young is reclaimed (and loses
 * PG_referenced).  The verdicts go into @ref[i] (enum folio_ref).
 * Returns the number to reclaim, or -1 (nothing changed) when a head is
 * out of range.
 */
long folios_check_references(struct mem_map *map, const int64_t *heads, long n,
			     uint8_t *ref);

/*
 * folios_may_free - __remove_mapping's test for the locked folios at
 * @heads[0..@n): one dirty, under writeback, still mapped or holding an
 * extra reference (@refs[pfn], folio_get) cannot go: it is unlocked and
 * @ok[i] = 0.  The others stay locked with @ok[i] = 1 for the caller to
 * free.  Returns how many may go, or -1 (nothing changed) when a head is
 * out of range.
 */
long folios_may_free(struct mem_map *map, const int64_t *heads, long n,
		     const int32_t *refs, uint8_t *ok);

/*
 * One anonymous LRU list of a cgroup as swaplab.mm.lru keeps it: rows
 * @pfn/@seq[@head..@tail), oldest first, in buffers of @cap rows.  A row is
 * live while its frame has PG_lru, PG_active as @active says, belongs to
 * cgroup @memcg_id and still carries the row's stamp in @lru_seq[pfn]
 * (a folio that left the list, or moved, left a stale row behind).
 */
struct lru_rows {
	int64_t *pfn;
	int64_t *seq;
	long head, tail, cap;
	int active;
	int32_t memcg_id;
};

/*
 * lru_isolate - isolate_lru_folios: take up to @n live folios from the old
 * end of @rows, clearing their PG_lru, their pfns into @out.  @rows->head
 * moves past the last row looked at (stale rows passed on the way are
 * dropped).  Returns the number taken, or -1 (nothing changed) when a row
 * names a frame outside the map.  The caller holds the flag lock.
 */
long lru_isolate(struct mem_map *map, const int64_t *lru_seq, struct lru_rows *rows,
		 long n, int64_t *out);

/*
 * lru_add - folio_add_lru for the folios at @heads[0..@n), on no list yet:
 * PG_lru set and PG_active as @rows->active says, stamps @first_seq,
 * @first_seq + 1, ... into @lru_seq and as rows at the young end of @rows
 * (the caller made room for @n rows).  Returns @n, -1 (nothing changed)
 * when a head is outside the map, -2 when the rows lack room, or -3 when
 * a folio is on a list already.  The caller holds the flag lock.
 */
long lru_add(struct mem_map *map, int64_t *lru_seq, struct lru_rows *rows,
	     const int64_t *heads, long n, int64_t first_seq);

/*
 * lru_compact - drop the stale rows of @rows: the live rows move, in order,
 * to rows 0.. of @dst (which may be @rows' own buffers) and @rows->head,
 * @rows->tail describe them there.  Returns the number of live rows, or -1
 * (nothing changed) when a row names a frame outside the map or @dst_cap
 * rows are too few.
 */
long lru_compact(const struct mem_map *map, const int64_t *lru_seq, struct lru_rows *rows,
		 int64_t *dst_pfn, int64_t *dst_seq, long dst_cap);

/*
 * frames_clear - the per-frame half of freeing the order-0 frames at
 * @pfns[0..@n) (the buddy allocator takes them after): each frame's state
 * is reset as a free frame's is (flags 0, order 0, no swap entry, the root
 * cgroup, no reverse map) and it is counted off its cgroup,
 * @charged[memcg] -= 1, and off the LRU list it is still on, if any,
 * @lru_count[memcg * 2 + !!PG_active] -= 1 (its row goes stale).  Returns
 * @n, or -1 (nothing changed) when a pfn is outside the map or a cgroup id
 * is not below @nr_memcg.
 */
long frames_clear(struct mem_map *map, const int64_t *pfns, long n, int64_t *charged,
		  int64_t *lru_count, long nr_memcg);

#endif /* _SWAPLAB_MEM_MAP_H */
