/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * zsmalloc: the size-class allocator behind zram and zswap (mm/zsmalloc.c),
 * over page frames a page source hands out (the machine's frames, or a
 * private arena).  Facts it follows: kernel-facts §4.
 *
 * Locking, as the kernel's: a reader/writer lock per pool, taken for
 * reading by allocation, free and every object access, and for writing by
 * compaction (so it never moves an object while someone copies it) and by
 * the rare growth of the handle and zspage tables; a lock per size class
 * for its zspages, so that allocations in different classes run in
 * parallel.  Every function here may block: callers from Python must have
 * released the GIL.  The page source's hooks are called one at a time,
 * under a lock of their own.
 */
#ifndef _SWAPLAB_ZSMALLOC_H
#define _SWAPLAB_ZSMALLOC_H

#include <stddef.h>
#include <stdint.h>

#define ZS_PAGE_SHIFT		12
#define ZS_PAGE_SIZE		(1u << ZS_PAGE_SHIFT)
#define ZS_HANDLE_SIZE		8
#define OBJ_ALLOCATED_TAG	1
#define OBJ_TAG_BITS		1
#define OBJ_INDEX_BITS		24
#define OBJ_INDEX_MASK		((1u << OBJ_INDEX_BITS) - 1)
#define ZS_MIN_ALLOC_SIZE	32
#define ZS_MAX_ALLOC_SIZE	ZS_PAGE_SIZE
#define ZS_SIZE_CLASS_DELTA	16
#define ZS_SIZE_CLASSES \
	((int)((ZS_MAX_ALLOC_SIZE - ZS_MIN_ALLOC_SIZE + ZS_SIZE_CLASS_DELTA - 1) / \
	       ZS_SIZE_CLASS_DELTA + 1))
#define ZS_MIN_CHAIN		4
#define ZS_MAX_CHAIN		16

enum fullness_group {
	ZS_INUSE_RATIO_0,
	ZS_INUSE_RATIO_10,
	/* 2..9: 10% steps */
	ZS_INUSE_RATIO_99 = 10,
	ZS_INUSE_RATIO_100,
	NR_FULLNESS_GROUPS,
};

/*
 * Where a pool's page frames come from.  @alloc fills @pfns with @nr frame
 * numbers and returns 0, or returns -ENOMEM and takes nothing; @free gives
 * frames back.  Frame @pfn is the ZS_PAGE_SIZE bytes at mem + pfn * 4096.
 */
struct zs_page_source {
	int (*alloc)(void *priv, unsigned int nr, uint32_t *pfns);
	void (*free)(void *priv, unsigned int nr, const uint32_t *pfns);
	void *priv;
};

/* The geometry of one size class, as zs_class_table() computes it. */
struct zs_class_info {
	uint32_t size;		/* object size in bytes */
	uint32_t pages;		/* pages per zspage */
	uint32_t objs;		/* objects per zspage */
	uint32_t index;		/* class actually used (merging) */
};

/* Per-class statistics (zs_class_stats). */
struct zs_class_stat {
	uint64_t objs_allocated;	/* slots in the class's zspages */
	uint64_t objs_used;		/* slots holding an object */
	uint64_t zspages;
};

struct zs_pool;

/*
 * Fill @table (ZS_SIZE_CLASSES entries) with the classes of a pool of chain
 * size @chain (4..16); returns huge_class_size, or -EINVAL for a bad chain.
 */
int zs_class_table(unsigned int chain, struct zs_class_info *table);

/*
 * zs_create_pool: an empty pool over @nr_frames frames at @mem that holds
 * at most @max_pages pages; NULL when out of memory or @chain is bad.
 */
struct zs_pool *zs_create_pool(uint8_t *mem, uint64_t nr_frames, uint64_t max_pages,
			       unsigned int chain, const struct zs_page_source *src);
/* zs_destroy_pool: every zspage's frames go back to the page source. */
void zs_destroy_pool(struct zs_pool *pool);

/* A handle (> 0) for @size bytes, or -EINVAL (0), -ENOSPC (> 4096), -ENOMEM. */
long zs_malloc(struct zs_pool *pool, size_t size);
/* Free an object; its zspage goes when it empties.  -EINVAL for a bad handle. */
int zs_free(struct zs_pool *pool, unsigned long handle);
/* Store @len bytes as the payload of @handle; -EINVAL for a bad handle. */
int zs_obj_write(struct zs_pool *pool, unsigned long handle, const void *src, size_t len);

/*
 * zs_obj_read_begin: the @len payload bytes of @handle, in the pool, or
 * copied into @local_copy (a page) when they straddle two pages.  NULL for a
 * bad handle.  The pool stays read-locked until zs_obj_read_end.
 */
const void *zs_obj_read_begin(struct zs_pool *pool, unsigned long handle, size_t len,
			      void *local_copy);
void zs_obj_read_end(struct zs_pool *pool);

/* zs_compact: pages freed by moving objects of sparse zspages into full ones. */
uint64_t zs_compact(struct zs_pool *pool);
/* zs_can_compact for one class: pages compaction could free. */
uint64_t zs_can_compact(struct zs_pool *pool, unsigned int cls);

uint64_t zs_get_total_pages(const struct zs_pool *pool);
uint64_t zs_pages_compacted(const struct zs_pool *pool);
unsigned int zs_huge_class_size(const struct zs_pool *pool);
unsigned int zs_lookup_class_index(const struct zs_pool *pool, size_t size);
void zs_class_stats(struct zs_pool *pool, unsigned int cls, struct zs_class_stat *st);

/*
 * Introspection for tests and tools: where @handle's object is (zspage id,
 * slot index); a zspage's class and objects in use; the handle stored in a
 * slot.  -EINVAL when the handle, zspage or slot holds nothing.
 */
int zs_obj_location(struct zs_pool *pool, unsigned long handle, uint32_t *zspage,
		    uint32_t *idx);
int zs_zspage_info(struct zs_pool *pool, uint32_t zspage, uint32_t *cls, uint32_t *inuse);
long zs_handle_of(struct zs_pool *pool, uint32_t zspage, uint32_t idx);
/* Number of zspage ids ever used (ids 0..n-1; free ones report -EINVAL). */
uint32_t zs_nr_zspage_ids(struct zs_pool *pool);

#endif /* _SWAPLAB_ZSMALLOC_H */
