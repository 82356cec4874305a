/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One swap area's slot table as the swap core keeps it since the swap
 * table (mm/swap_table.h): per slot its reference count (swap_map) and what
 * the swap cache holds there (the pfn of the folio caching it, none, or a
 * claim by a swap-in that bypasses the cache).  The arrays belong to
 * swaplab.mm.swapfile.SwapInfo; these functions are the steps on them that
 * the fault, reclaim and unmap paths share.  Callers hold the cluster lock
 * of the slots (a range never crosses a cluster); nothing here sleeps.
 *
 * Freeing a slot is not done here: a step that leaves slots with no
 * reference and no cache folio returns how many, and the caller frees them
 * (swap_range_free: the backend's slot_free_notify, the cgroup's swap
 * charge, the area's counters and cluster lists stay in Python).
 */
#ifndef _SWAPLAB_SWAP_TABLE_H
#define _SWAPLAB_SWAP_TABLE_H

#include <stdint.h>

#include <swaplab/mem_map.h>
#include <swaplab/page_alloc.h>

#define SWAP_MAP_MAX		0xFFFE	/* most references one slot takes */
#define SWAP_MAP_BAD		0xFFFF	/* bad block, header or past the end */

#define SWAP_CACHE_NONE		(-1)	/* no folio caches the slot */
#define SWAP_CACHE_CLAIMED	(-2)	/* a bypassing swap-in holds it */

struct swap_table {
	uint16_t *swap_map;	/* references per slot */
	int64_t *cache;		/* pfn of the caching folio, or SWAP_CACHE_* */
	uint64_t nr_slots;	/* entries of both arrays */
};

/* Is [off, off + nr) inside the table (nr >= 1)? */
static inline int swap_table_range_ok(const struct swap_table *st, uint64_t off, long nr)
{
	return nr >= 1 && off < st->nr_slots && (uint64_t)nr <= st->nr_slots - off;
}

/*
 * swap_cache_add - cache the folio at @pfn (its head frame) in slots
 * [off, off + nr): the slots point at it, and it gets @entry as
 * folio->swap and PG_swapcache.  0; -EEXIST when a slot is cached or
 * claimed already (a racing swap-in won); -ENOENT when a slot has no
 * reference.  Nothing changes on error.  The caller also holds the
 * frames' flag lock.
 */
int swap_cache_add(struct swap_table *st, struct mem_map *map, uint64_t off, long nr,
		   int64_t pfn, uint64_t entry);

/*
 * swap_cache_alloc_folio - the allocate-and-insert of __read_swap_cache_async
 * for an order-0 folio of slot @off: a frame from @zone, charged to cgroup
 * @memcg, locked, swap-backed and on an LRU list (PG_lru: the caller links
 * it into its cgroup's inactive list), cached in the slot with @entry as
 * folio->swap and PG_swapcache.  Returns its pfn; -EEXIST when the slot is
 * cached or claimed already (a racing swap-in won), -ENOENT when it has no
 * reference (freed meanwhile), both checked before a frame is taken;
 * -ENOMEM when no frame is free.  Nothing changes on error.  The caller
 * holds the slot's cluster lock, the frames' flag lock and the zone lock,
 * and @zone has the frames of @map.
 */
int64_t swap_cache_alloc_folio(struct swap_table *st, struct mem_map *map,
			       struct buddy_zone *zone, uint64_t off, uint64_t entry,
			       int32_t memcg);

/*
 * swap_cache_del - take the folio at @pfn out of the cache of slots
 * [off, off + nr): no entry, no PG_swapcache.  Returns how many of the
 * slots have no reference left: the caller frees those.  The caller also
 * holds the frames' flag lock.
 */
long swap_cache_del(struct swap_table *st, struct mem_map *map, uint64_t off, long nr,
		    int64_t pfn);

/*
 * swap_put - drop one reference from each slot of [off, off + nr).
 * Returns how many slots are left with no reference and no cache folio
 * (the caller frees them), or -EINVAL, nothing changed, when a slot has no
 * reference to drop or is bad.
 */
long swap_put(struct swap_table *st, uint64_t off, long nr);

/*
 * swap_dup - take one more reference on each slot of [off, off + nr):
 * 0; -ENOENT when a slot is not in use (no reference and no cache) or
 * bad; -ENOMEM when a count would pass SWAP_MAP_MAX.  Nothing changes on
 * error.
 */
long swap_dup(struct swap_table *st, uint64_t off, long nr);

/*
 * swap_find_free - the first run of (1 << @order) free slots (no reference,
 * no cache folio), aligned to its size, in [@lo, @hi): looking from @start
 * (rounded down to the alignment) to @hi, then from @lo up to @start, as
 * alloc_swap_scan_cluster continues from the per-CPU "next" offset.  The
 * offset, or -1 when there is none.  @lo and @hi are aligned and inside the
 * table; @start outside [@lo, @hi) means @lo.
 */
int64_t swap_find_free(const struct swap_table *st, uint64_t lo, uint64_t hi,
		       unsigned int order, uint64_t start);

/*
 * swap_alloc_scan - the free slots of [@lo, @hi) in offset order, up to @nr
 * of them, each taken for one order-0 folio and that folio added to the
 * swap cache there, as alloc_swap_scan_cluster does: the k-th slot found
 * is cached by the folio at @pfns[k] (count 0), which gets the entry of
 * area @type at that slot as folio->swap and PG_swapcache; the slot's
 * offset goes to @offs[k].  Returns how many were taken (0..@nr).  The
 * caller holds the slots' cluster lock and the frames' flag lock; the
 * pfns are inside @map.
 */
long swap_alloc_scan(struct swap_table *st, struct mem_map *map, uint64_t lo, uint64_t hi,
		     const int64_t *pfns, long nr, int64_t *offs, uint64_t type);

/*
 * swap_dup_slots - swap_dup of the one slot at each of @offs[0..@n): @ok[k]
 * is 1 when slot @offs[k] took its reference, 0 when it refused (not in
 * use, bad, or at SWAP_MAP_MAX; unchanged).  Returns how many took one.
 * The offsets are distinct and inside the table; the caller holds the
 * cluster locks of all of them.
 */
long swap_dup_slots(struct swap_table *st, const int64_t *offs, long n, uint8_t *ok);

/*
 * swap_cache_del_slots - swap_cache_del of the order-0 folios at @pfns[k],
 * cached in slot @offs[k], k < @n.  The offsets of those slots left with
 * no reference go to @unused, in the order given; returns how many (the
 * caller frees them).  The caller holds the flag lock and the cluster
 * locks of all the slots.
 */
long swap_cache_del_slots(struct swap_table *st, struct mem_map *map, const int64_t *pfns,
			  const int64_t *offs, long n, int64_t *unused);

/* How swapin_map_folio finishes a fault (@how). */
#define SWAPIN_LOCKED		(1U << 0)	/* the caller holds PG_locked */
#define SWAPIN_FREE_SWAP	(1U << 1)	/* drop the swap copy if unused */
#define SWAPIN_WRITE		(1U << 2)	/* a write fault: the page is dirty */
#define SWAPIN_BYPASS		(1U << 3)	/* read past the cache, slot claimed */

/* What it did (a positive return). */
#define SWAPIN_DONE		(1L << 0)	/* mapped */
#define SWAPIN_UNCACHED		(1L << 1)	/* the folio left the swap cache */
#define SWAPIN_SLOT_FREE	(1L << 2)	/* the slot is unused: free it */

/*
 * swapin_map_folio - the end of do_swap_page for an order-0 folio read
 * from slot @off: the folio is marked accessed (and no longer readahead),
 * mapped at @pte (reverse map: @mm_id, @vpn), the fault's reference on
 * the slot dropped, and, with SWAPIN_FREE_SWAP, a swap-cache folio that
 * is not under writeback leaves the cache and becomes dirty when nothing
 * references the slot any more (folio_free_swap).  With SWAPIN_BYPASS
 * the folio never entered the cache: it loses its entry and becomes
 * dirty, and the claim on the slot is released.  The caller holds the
 * frames' flag lock and the slot's cluster lock.
 *
 * Unless SWAPIN_LOCKED, the folio must not be locked: -EAGAIN (nothing
 * changed) tells the caller to lock it, sleeping, and come back.  -EIO
 * (nothing changed): the read failed (not uptodate).  -EINVAL (nothing
 * changed): the slot has no reference, @pfn or @off is out of range, or
 * the folio is not order 0.
 * Otherwise SWAPIN_DONE with SWAPIN_UNCACHED and SWAPIN_SLOT_FREE as
 * they apply.
 */
long swapin_map_folio(struct mem_map *map, struct swap_table *st, uint64_t *pte,
		      int64_t pfn, int32_t mm_id, int64_t vpn, uint64_t off, unsigned int how);

/* swap_writeout_scan's verdict for each folio */
enum swap_writeout_class {
	SWAP_WO_WRITE = 0,	/* under writeback now: the caller submits it */
	SWAP_WO_ZERO = 1,	/* all zeroes: in the zero map, unlocked, no I/O */
	SWAP_WO_SLOW = 2,	/* no slot reference: folio_free_swap decides (untouched) */
};

/*
 * swap_writeout_scan - swap_writeout's steps for locked, clean (PG_dirty
 * cleared) swap-cache folios at @pfns[0..@n) whose pages are @frames
 * (@page_words 64-bit words a frame).  The batch is this path's only when
 * every folio is order 0 and cached in this area (swap type @type); else
 * nothing changes and -2 is returned (the caller takes the folio-by-folio
 * steps), or -1 when a folio's slot lies outside the table.  Each folio's
 * slot goes into @offs.  A folio whose slot nobody references is left alone
 * (SWAP_WO_SLOW: the caller tries folio_free_swap).  For the others the zero
 * test runs as the kernel's does (the last word first): a page of zeroes
 * sets its bit in @zeromap and is unlocked (SWAP_WO_ZERO); any other page
 * clears the bit and starts writeback, PG_writeback set and PG_locked
 * cleared in one store (SWAP_WO_WRITE).  The verdicts go into @cls; the
 * number of zero pages into *@nr_zero.  Returns how many are to be written.
 * The caller checked the pfns and holds the flag lock.
 */
long swap_writeout_scan(const struct swap_table *st, struct mem_map *map,
			const uint64_t *frames, long page_words, const int64_t *pfns,
			long n, uint64_t type, int64_t *offs, uint8_t *zeromap, uint8_t *cls,
			long *nr_zero);

#endif /* _SWAPLAB_SWAP_TABLE_H */
