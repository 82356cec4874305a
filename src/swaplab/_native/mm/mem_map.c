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
