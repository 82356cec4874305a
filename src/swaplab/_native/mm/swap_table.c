// SPDX-License-Identifier: GPL-2.0-only
/*
 * The swap table's per-slot steps (reference counts and the swap cache)
 * and the end of a swap-in fault, which takes several of them at once.
 * See include/swaplab/swap_table.h.
 */
#include <errno.h>
#include <stddef.h>

#include <swaplab/swap_table.h>

int swap_cache_add(struct swap_table *st, struct mem_map *map, uint64_t off, long nr,
		   int64_t pfn, uint64_t entry)
{
	long i;

	for (i = 0; i < nr; i++)
		if (st->cache[off + i] != SWAP_CACHE_NONE)
			return -EEXIST;
	for (i = 0; i < nr; i++)
		if (st->swap_map[off + i] == 0)
			return -ENOENT;
	for (i = 0; i < nr; i++)
		st->cache[off + i] = pfn;
	map->swap[pfn] = entry;
	map->flags[pfn] |= PG_swapcache;
	return 0;
}

int64_t swap_cache_alloc_folio(struct swap_table *st, struct mem_map *map,
			       struct buddy_zone *zone, uint64_t off, uint64_t entry,
			       int32_t memcg)
{
	int64_t pfn;

	if (st->cache[off] != SWAP_CACHE_NONE)
		return -EEXIST;
	if (st->swap_map[off] == 0)
		return -ENOENT;
	pfn = buddy_alloc(zone, 0);
	if (pfn == BUDDY_NONE)
		return -ENOMEM;
	/* a free frame's state is clean (order 0, no flags, no entry): set it */
	map->memcg[pfn] = memcg;
	map->flags[pfn] = PG_locked | PG_swapbacked | PG_lru | PG_swapcache;
	map->swap[pfn] = entry;
	st->cache[off] = pfn;
	return pfn;
}

long swap_cache_del(struct swap_table *st, struct mem_map *map, uint64_t off, long nr,
		    int64_t pfn)
{
	long i, unused = 0;

	for (i = 0; i < nr; i++) {
		st->cache[off + i] = SWAP_CACHE_NONE;
		unused += st->swap_map[off + i] == 0;
	}
	map->swap[pfn] = 0;
	map->flags[pfn] &= ~PG_swapcache;
	return unused;
}

long swap_put(struct swap_table *st, uint64_t off, long nr)
{
	long i, unused = 0;

	for (i = 0; i < nr; i++) {
		uint16_t v = st->swap_map[off + i];

		if (v == 0 || v == SWAP_MAP_BAD)
			return -EINVAL;
	}
	for (i = 0; i < nr; i++) {
		uint16_t v = --st->swap_map[off + i];

		unused += v == 0 && st->cache[off + i] < 0;
	}
	return unused;
}

long swap_dup(struct swap_table *st, uint64_t off, long nr)
{
	long i;

	for (i = 0; i < nr; i++) {
		uint16_t v = st->swap_map[off + i];

		if ((v == 0 && st->cache[off + i] < 0) || v == SWAP_MAP_BAD)
			return -ENOENT;
	}
	for (i = 0; i < nr; i++)
		if (st->swap_map[off + i] >= SWAP_MAP_MAX)
			return -ENOMEM;
	for (i = 0; i < nr; i++)
		st->swap_map[off + i]++;
	return 0;
}

static inline int slot_free(const struct swap_table *st, uint64_t off)
{
	return st->swap_map[off] == 0 && st->cache[off] == SWAP_CACHE_NONE;
}

static int run_free(const struct swap_table *st, uint64_t off, uint64_t n)
{
	uint64_t i;

	for (i = 0; i < n; i++)
		if (!slot_free(st, off + i))
			return 0;
	return 1;
}

int64_t swap_find_free(const struct swap_table *st, uint64_t lo, uint64_t hi,
		       unsigned int order, uint64_t start)
{
	uint64_t n = 1ULL << order, first = lo, off;

	if (start > lo && start < hi)
		first = lo + ((start - lo) & ~(n - 1));
	for (off = first; off + n <= hi; off += n)
		if (run_free(st, off, n))
			return (int64_t)off;
	for (off = lo; off < first; off += n)
		if (run_free(st, off, n))
			return (int64_t)off;
	return -1;
}

long swap_alloc_scan(struct swap_table *st, struct mem_map *map, uint64_t lo, uint64_t hi,
		     const int64_t *pfns, long nr, int64_t *offs, uint64_t type)
{
	uint64_t off;
	long k = 0;

	for (off = lo; off < hi && k < nr; off++) {
		int64_t pfn;

		if (!slot_free(st, off))
			continue;
		pfn = pfns[k];
		st->cache[off] = pfn;
		map->swap[pfn] = (type << MEM_MAP_SWP_TYPE_SHIFT) | off;
		map->flags[pfn] |= PG_swapcache;
		offs[k++] = (int64_t)off;
	}
	return k;
}

long swap_dup_slots(struct swap_table *st, const int64_t *offs, long n, uint8_t *ok)
{
	long k, took = 0;

	for (k = 0; k < n; k++) {
		uint64_t off = (uint64_t)offs[k];
		uint16_t v = st->swap_map[off];

		ok[k] = !((v == 0 && st->cache[off] < 0) || v >= SWAP_MAP_MAX);
		if (ok[k]) {
			st->swap_map[off] = v + 1;
			took++;
		}
	}
	return took;
}

long swap_cache_del_slots(struct swap_table *st, struct mem_map *map, const int64_t *pfns,
			  const int64_t *offs, long n, int64_t *unused)
{
	long k, nr_unused = 0;

	for (k = 0; k < n; k++)
		if (swap_cache_del(st, map, (uint64_t)offs[k], 1, pfns[k]))
			unused[nr_unused++] = offs[k];
	return nr_unused;
}

long swapin_map_folio(struct mem_map *map, struct swap_table *st, uint64_t *pte,
		      int64_t pfn, int32_t mm_id, int64_t vpn, uint64_t off, unsigned int how)
{
	uint32_t f;
	uint16_t count;
	long ret = SWAPIN_DONE;

	if (pfn < 0 || (uint64_t)pfn >= map->nr_frames || map->order[pfn] != 0 ||
	    off >= st->nr_slots)
		return -EINVAL;
	f = map->flags[pfn];
	if ((f & PG_locked) && !(how & SWAPIN_LOCKED))
		return -EAGAIN;
	if (!(f & PG_uptodate))
		return -EIO;
	count = st->swap_map[off];
	if (count == 0 || count == SWAP_MAP_BAD)
		return -EINVAL;

	f = (f | PG_young) & ~PG_readahead;
	*pte = mk_pte(pfn);
	map->mapping[pfn] = mm_id;
	map->index[pfn] = vpn;
	if (how & SWAPIN_BYPASS) {	/* memory is the only copy: the slot goes */
		map->swap[pfn] = 0;
		f |= PG_dirty;
		st->cache[off] = SWAP_CACHE_NONE;
	}
	st->swap_map[off] = --count;
	if ((how & SWAPIN_FREE_SWAP) && count == 0 &&
	    (f & (PG_swapcache | PG_writeback)) == PG_swapcache) {	/* folio_free_swap */
		map->flags[pfn] = f;
		swap_cache_del(st, map, off, 1, pfn);
		f = map->flags[pfn] | PG_dirty;
		ret |= SWAPIN_UNCACHED;
	}
	if (count == 0 && st->cache[off] < 0)
		ret |= SWAPIN_SLOT_FREE;
	if (how & SWAPIN_WRITE)
		f |= PG_dirty;
	map->flags[pfn] = f;
	return ret;
}

static int page_zero(const uint64_t *words, long nr)
{
	long i;

	if (words[nr - 1])
		return 0;
	for (i = 0; i < nr - 1; i++)
		if (words[i])
			return 0;
	return 1;
}

long swap_writeout_scan(const struct swap_table *st, struct mem_map *map,
			const uint64_t *frames, long page_words, const int64_t *pfns,
			long n, uint64_t type, int64_t *offs, uint8_t *zeromap, uint8_t *cls,
			long *nr_zero)
{
	long k, write = 0;

	for (k = 0; k < n; k++) {	/* this path's batch?  nothing changes before */
		uint64_t entry = map->swap[pfns[k]];

		if (map->order[pfns[k]] || !(map->flags[pfns[k]] & PG_swapcache) ||
		    entry >> MEM_MAP_SWP_TYPE_SHIFT != type)
			return -2;
		offs[k] = (int64_t)(entry & MEM_MAP_SWP_OFFSET_MASK);
		if ((uint64_t)offs[k] >= st->nr_slots)
			return -1;
	}
	*nr_zero = 0;
	for (k = 0; k < n; k++) {
		int64_t pfn = pfns[k];
		uint64_t off = (uint64_t)offs[k];

		if (!st->swap_map[off]) {
			cls[k] = SWAP_WO_SLOW;
			continue;
		}
		if (page_zero(frames + (size_t)pfn * (size_t)page_words, page_words)) {
			zeromap[off] = 1;
			map->flags[pfn] &= ~PG_locked;
			cls[k] = SWAP_WO_ZERO;
			(*nr_zero)++;
		} else {
			zeromap[off] = 0;
			map->flags[pfn] = (map->flags[pfn] | PG_writeback) & ~PG_locked;
			cls[k] = SWAP_WO_WRITE;
			write++;
		}
	}
	return write;
}
