// SPDX-License-Identifier: GPL-2.0-only
/*
 * Batch walks over the machine's per-frame arrays for the swap core: the
 * pages a swap_iocb covers, and its completion's flag and counter updates.
 * See include/swaplab/mem_map.h.
 */
#include <swaplab/mem_map.h>

static int head_ok(const struct mem_map *map, int64_t pfn)
{
	return pfn >= 0 && (uint64_t)pfn < map->nr_frames &&
	       map->order[pfn] >= 0 && map->order[pfn] <= MEM_MAP_MAX_ORDER &&
	       (uint64_t)pfn + (UINT64_C(1) << map->order[pfn]) <= map->nr_frames;
}

long folios_pages(const struct mem_map *map, const int64_t *heads, long n,
		  int64_t *pfns, int64_t *offsets, long cap)
{
	long i, k = 0;

	for (i = 0; i < n; i++) {
		int64_t pfn = heads[i];
		int64_t off, j, nr;

		if (!head_ok(map, pfn))
			return -1;
		nr = (int64_t)1 << map->order[pfn];
		if (nr > cap - k)
			return -2;
		off = (int64_t)(map->swap[pfn] & MEM_MAP_SWP_OFFSET_MASK);
		for (j = 0; j < nr; j++, k++) {
			pfns[k] = pfn + j;
			offsets[k] = off + j;
		}
	}
	return k;
}

long folios_end_io(struct mem_map *map, const int64_t *heads, long n,
		   uint32_t set, uint32_t clear, long *nr_order,
		   int64_t *ev, long ev_rows, long ev_stride, long item)
{
	long i, pages = 0;

	/* check first, so that a bad batch changes nothing */
	for (i = 0; i < n; i++) {
		if (!head_ok(map, heads[i]))
			return -1;
		if (ev && (map->memcg[heads[i]] < 0 || map->memcg[heads[i]] >= ev_rows))
			return -1;
	}
	if (nr_order)
		for (i = 0; i <= MEM_MAP_MAX_ORDER; i++)
			nr_order[i] = 0;
	for (i = 0; i < n; i++) {
		int64_t pfn = heads[i];
		int order = map->order[pfn];

		map->flags[pfn] = (map->flags[pfn] | set) & ~clear;
		pages += 1L << order;
		if (nr_order)
			nr_order[order]++;
		if (ev)
			ev[(long)map->memcg[pfn] * ev_stride + item] += 1L << order;
	}
	return pages;
}

long mmu_read_present(struct mem_map *map, const uint64_t *ptes, uint64_t nr_ptes,
		      const int64_t *vpns, const uint8_t *writes, long k, long n)
{
	for (; k < n; k++) {
		int64_t vpn = vpns[k];
		uint64_t pte, pfn;

		if (vpn < 0 || (uint64_t)vpn >= nr_ptes)
			return -1;
		pte = ptes[vpn];
		if (writes[k] || !(pte & MEM_MAP_PTE_PRESENT))
			return k;
		pfn = pte >> 1;
		if (pfn >= map->nr_frames)
			return -1;
		map->flags[pfn] |= PG_young;
	}
	return n;
}

static int heads_ok(const struct mem_map *map, const int64_t *heads, long n)
{
	long i;

	for (i = 0; i < n; i++)
		if (!head_ok(map, heads[i]))
			return 0;
	return 1;
}

long folios_test_set(struct mem_map *map, const int64_t *heads, long n, uint32_t mask,
		     uint32_t want, uint32_t set, uint32_t clear, uint8_t *hit)
{
	long i, hits = 0;

	if (!heads_ok(map, heads, n))
		return -1;
	for (i = 0; i < n; i++) {
		uint32_t *flags = &map->flags[heads[i]];

		hit[i] = (*flags & mask) == want;
		if (hit[i]) {
			*flags = (*flags | set) & ~clear;
			hits++;
		}
	}
	return hits;
}

long folios_check_references(struct mem_map *map, const int64_t *heads, long n,
			     uint8_t *ref)
{
	long i, reclaim = 0;

	if (!heads_ok(map, heads, n))
		return -1;
	for (i = 0; i < n; i++) {
		uint32_t *flags = &map->flags[heads[i]];
		uint32_t f = *flags;

		*flags = f & ~(PG_young | PG_referenced);
		if (!(f & PG_young)) {
			ref[i] = FOLIOREF_RECLAIM;
			reclaim++;
		} else if (f & PG_referenced) {
			ref[i] = FOLIOREF_ACTIVATE;
		} else {
			*flags |= PG_referenced;
			ref[i] = FOLIOREF_KEEP;
		}
	}
	return reclaim;
}

long folios_may_free(struct mem_map *map, const int64_t *heads, long n,
		     const int32_t *refs, uint8_t *ok)
{
	long i, nr = 0;

	if (!heads_ok(map, heads, n))
		return -1;
	for (i = 0; i < n; i++) {
		int64_t pfn = heads[i];

		ok[i] = !(map->flags[pfn] & (PG_dirty | PG_writeback)) &&
			map->mapping[pfn] < 0 && refs[pfn] == 0;
		if (ok[i])
			nr++;
		else
			map->flags[pfn] &= ~PG_locked;
	}
	return nr;
}

static int lru_row_live(const struct mem_map *map, const int64_t *lru_seq,
			const struct lru_rows *rows, int64_t pfn, int64_t seq)
{
	uint32_t want = PG_lru | (rows->active ? PG_active : 0);

	return (map->flags[pfn] & (PG_lru | PG_active)) == want && lru_seq[pfn] == seq &&
	       map->memcg[pfn] == rows->memcg_id;
}

long lru_isolate(struct mem_map *map, const int64_t *lru_seq, struct lru_rows *rows,
		 long n, int64_t *out)
{
	long k, got = 0;

	/* find the rows first, so that a bad row changes nothing */
	for (k = rows->head; k < rows->tail && got < n; k++) {
		int64_t pfn = rows->pfn[k];

		if (pfn < 0 || (uint64_t)pfn >= map->nr_frames)
			return -1;
		if (lru_row_live(map, lru_seq, rows, pfn, rows->seq[k]))
			out[got++] = pfn;
	}
	rows->head = k;
	for (k = 0; k < got; k++)
		map->flags[out[k]] &= ~PG_lru;
	return got;
}

long lru_add(struct mem_map *map, int64_t *lru_seq, struct lru_rows *rows,
	     const int64_t *heads, long n, int64_t first_seq)
{
	uint32_t set = PG_lru | (rows->active ? PG_active : 0);
	long i;

	if (!heads_ok(map, heads, n))
		return -1;
	if (n > rows->cap - rows->tail)
		return -2;
	for (i = 0; i < n; i++)
		if (map->flags[heads[i]] & PG_lru)
			return -3;
	for (i = 0; i < n; i++) {
		int64_t pfn = heads[i];

		map->flags[pfn] = (map->flags[pfn] & ~PG_active) | set;
		lru_seq[pfn] = first_seq + i;
		rows->pfn[rows->tail] = pfn;
		rows->seq[rows->tail++] = first_seq + i;
	}
	return n;
}

long lru_compact(const struct mem_map *map, const int64_t *lru_seq, struct lru_rows *rows,
		 int64_t *dst_pfn, int64_t *dst_seq, long dst_cap)
{
	long k, live = 0;

	for (k = rows->head; k < rows->tail; k++) {
		int64_t pfn = rows->pfn[k];

		if (pfn < 0 || (uint64_t)pfn >= map->nr_frames)
			return -1;
		live += lru_row_live(map, lru_seq, rows, pfn, rows->seq[k]);
	}
	if (live > dst_cap)
		return -1;
	live = 0;	/* row k moves to row live <= k: in place is safe */
	for (k = rows->head; k < rows->tail; k++) {
		int64_t pfn = rows->pfn[k], seq = rows->seq[k];

		if (lru_row_live(map, lru_seq, rows, pfn, seq)) {
			dst_pfn[live] = pfn;
			dst_seq[live++] = seq;
		}
	}
	rows->pfn = dst_pfn;
	rows->seq = dst_seq;
	rows->head = 0;
	rows->tail = live;
	rows->cap = dst_cap;
	return live;
}

long frames_clear(struct mem_map *map, const int64_t *pfns, long n, int64_t *charged,
		  int64_t *lru_count, long nr_memcg)
{
	long i;

	for (i = 0; i < n; i++) {
		int64_t pfn = pfns[i];

		if (pfn < 0 || (uint64_t)pfn >= map->nr_frames || map->memcg[pfn] < 0 ||
		    map->memcg[pfn] >= nr_memcg)
			return -1;
	}
	for (i = 0; i < n; i++) {
		int64_t pfn = pfns[i];
		int32_t memcg = map->memcg[pfn];
		uint32_t flags = map->flags[pfn];

		charged[memcg]--;
		if (flags & PG_lru)
			lru_count[memcg * 2 + ((flags & PG_active) ? 1 : 0)]--;
		map->flags[pfn] = 0;
		map->order[pfn] = 0;
		map->swap[pfn] = 0;
		map->memcg[pfn] = 0;
		map->mapping[pfn] = -1;
	}
	return n;
}
