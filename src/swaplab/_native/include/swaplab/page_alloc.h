/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The buddy allocator of swaplab's one memory zone (mm/page_alloc.c): free
 * blocks of 2^order frames, order 0..BUDDY_MAX_ORDER, each aligned to its
 * size, kept on one free list per order.  Allocation takes the first block
 * of the smallest order that fits and gives the upper halves back to the
 * lower orders' lists (expand); freeing merges a block with its buddy
 * (pfn ^ 2^order) while the buddy is a free block of the same order
 * (__free_one_page).  The lists are links over per-frame arrays, as the
 * kernel threads them through struct page: no allocation per block.
 * Callers serialise (swaplab.mm.page_alloc holds its zone lock).
 */
#ifndef _SWAPLAB_PAGE_ALLOC_H
#define _SWAPLAB_PAGE_ALLOC_H

#include <stdint.h>

#define BUDDY_MAX_ORDER		10	/* MAX_PAGE_ORDER on x86_64 */
#define BUDDY_NONE		(-1)

struct buddy_zone {
	int64_t nr_frames;
	int64_t *next, *prev;		/* list links of each free block's head frame */
	int8_t *free_order;		/* the order of the free block headed here, or -1 */
	int64_t head[BUDDY_MAX_ORDER + 1];	/* first block of each list, or BUDDY_NONE */
	int64_t nr_blocks[BUDDY_MAX_ORDER + 1];
	int64_t nr_free;		/* free frames */
};

/* Every frame free, as the largest aligned blocks; 0 or -ENOMEM. */
int buddy_init(struct buddy_zone *zone, int64_t nr_frames);
void buddy_destroy(struct buddy_zone *zone);

/* The head frame of a new block of 2^@order frames, or BUDDY_NONE. */
int64_t buddy_alloc(struct buddy_zone *zone, unsigned int order);

/*
 * @n order-0 frames into @pfns (alloc_pages_bulk): @n, or -1 with nothing
 * taken when fewer are free.
 */
long buddy_alloc_bulk(struct buddy_zone *zone, long n, int64_t *pfns);

/*
 * Give back the block of 2^@order frames at @pfn: 0, or -EINVAL (nothing
 * changed) when it is misaligned, outside the zone, or its first frame lies
 * in a free block already (a double free).
 */
int buddy_free(struct buddy_zone *zone, int64_t pfn, unsigned int order);

#endif /* _SWAPLAB_PAGE_ALLOC_H */
