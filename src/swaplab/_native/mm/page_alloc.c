// SPDX-License-Identifier: GPL-2.0-only
/*
 * The buddy allocator over per-frame arrays (see swaplab/page_alloc.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <swaplab/page_alloc.h>

static void add_to_free_list(struct buddy_zone *zone, int64_t pfn, unsigned int order)
{
	int64_t first = zone->head[order];

	zone->free_order[pfn] = (int8_t)order;
	zone->prev[pfn] = BUDDY_NONE;
	zone->next[pfn] = first;
	if (first != BUDDY_NONE)
		zone->prev[first] = pfn;
	zone->head[order] = pfn;
	zone->nr_blocks[order]++;
}

static void del_from_free_list(struct buddy_zone *zone, int64_t pfn, unsigned int order)
{
	int64_t prev = zone->prev[pfn], next = zone->next[pfn];

	if (prev != BUDDY_NONE)
		zone->next[prev] = next;
	else
		zone->head[order] = next;
	if (next != BUDDY_NONE)
		zone->prev[next] = prev;
	zone->free_order[pfn] = -1;
	zone->nr_blocks[order]--;
}

int buddy_init(struct buddy_zone *zone, int64_t nr_frames)
{
	int64_t pfn = 0;
	unsigned int order;

	memset(zone, 0, sizeof(*zone));
	if (nr_frames <= 0)
		return -EINVAL;
	zone->next = malloc((size_t)nr_frames * sizeof(*zone->next));
	zone->prev = malloc((size_t)nr_frames * sizeof(*zone->prev));
	zone->free_order = malloc((size_t)nr_frames);
	if (!zone->next || !zone->prev || !zone->free_order) {
		buddy_destroy(zone);
		return -ENOMEM;
	}
	zone->nr_frames = nr_frames;
	memset(zone->free_order, -1, (size_t)nr_frames);
	for (order = 0; order <= BUDDY_MAX_ORDER; order++)
		zone->head[order] = BUDDY_NONE;
	/*
	 * The largest aligned blocks.  Each list is built from the top down, so
	 * its low frames come first and allocation starts at the bottom.
	 */
	pfn = nr_frames;
	while (pfn > 0) {
		/* the block ending at pfn: its lowest set bit, at most MAX_ORDER */
		order = 0;
		while (order < BUDDY_MAX_ORDER && !(pfn & (INT64_C(1) << order)))
			order++;
		pfn -= INT64_C(1) << order;
		add_to_free_list(zone, pfn, order);
		zone->nr_free += INT64_C(1) << order;
	}
	return 0;
}

void buddy_destroy(struct buddy_zone *zone)
{
	free(zone->next);
	free(zone->prev);
	free(zone->free_order);
	memset(zone, 0, sizeof(*zone));
}

/* Split the block of order @high at @pfn down to @low: the upper halves go free. */
static void expand(struct buddy_zone *zone, int64_t pfn, unsigned int low, unsigned int high)
{
	while (high > low) {
		high--;
		add_to_free_list(zone, pfn + (INT64_C(1) << high), high);
	}
}

int64_t buddy_alloc(struct buddy_zone *zone, unsigned int order)
{
	unsigned int cur;
	int64_t pfn;

	if (order > BUDDY_MAX_ORDER)
		return BUDDY_NONE;
	for (cur = order; cur <= BUDDY_MAX_ORDER; cur++) {
		pfn = zone->head[cur];
		if (pfn == BUDDY_NONE)
			continue;
		del_from_free_list(zone, pfn, cur);
		expand(zone, pfn, order, cur);
		zone->nr_free -= INT64_C(1) << order;
		return pfn;
	}
	return BUDDY_NONE;
}

long buddy_alloc_bulk(struct buddy_zone *zone, long n, int64_t *pfns)
{
	long k;

	if (n < 0 || n > zone->nr_free)
		return -1;
	for (k = 0; k < n; k++)
		pfns[k] = buddy_alloc(zone, 0);	/* cannot fail: nr_free frames are free */
	return n;
}

/* Whether a free block holds frame @pfn (a head at or below it, as large). */
static int frame_is_free(const struct buddy_zone *zone, int64_t pfn)
{
	unsigned int o;
	int64_t head;

	for (o = 0; o <= BUDDY_MAX_ORDER; o++) {
		head = pfn & ~((INT64_C(1) << o) - 1);
		if (zone->free_order[head] >= (int8_t)o)
			return 1;
	}
	return 0;
}

int buddy_free(struct buddy_zone *zone, int64_t pfn, unsigned int order)
{
	int64_t buddy;

	if (order > BUDDY_MAX_ORDER || pfn < 0 || (pfn & ((INT64_C(1) << order) - 1)) ||
	    pfn + (INT64_C(1) << order) > zone->nr_frames || frame_is_free(zone, pfn))
		return -EINVAL;
	zone->nr_free += INT64_C(1) << order;
	while (order < BUDDY_MAX_ORDER) {
		buddy = pfn ^ (INT64_C(1) << order);
		if (buddy >= zone->nr_frames || zone->free_order[buddy] != (int8_t)order)
			break;
		del_from_free_list(zone, buddy, order);
		pfn &= buddy;
		order++;
	}
	add_to_free_list(zone, pfn, order);
	return 0;
}
