/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * zram's per-slot mechanics (drivers/block/zram/zram_drv.c): the slot table,
 * the per-slot lock, the page write and read paths and their batch forms,
 * slot_free and the counters behind mm_stat, io_stat and bd_stat.  sysfs,
 * writeback and recompression are policy and live in Python; they reach the
 * slots through these functions.  Facts: kernel-facts §3.
 */
#ifndef _SWAPLAB_ZRAM_H
#define _SWAPLAB_ZRAM_H

#include <pthread.h>
#include <stdint.h>

#include <swaplab/zsmalloc.h>

#define ZRAM_PAGE_SIZE		4096u
#define ZRAM_FLAG_SHIFT		13	/* PAGE_SHIFT + 1 */
#define ZRAM_SIZE_MASK		((1u << ZRAM_FLAG_SHIFT) - 1)

enum zram_pageflags {
	ZRAM_SAME = ZRAM_FLAG_SHIFT,
	ZRAM_ENTRY_LOCK,
	ZRAM_WB,
	ZRAM_PP_SLOT,
	ZRAM_HUGE,
	ZRAM_IDLE,
	ZRAM_INCOMPRESSIBLE,
	ZRAM_COMP_PRIORITY_BIT1,
	ZRAM_COMP_PRIORITY_BIT2,
	__NR_ZRAM_PAGEFLAGS,
};
#define ZRAM_COMP_PRIORITY_MASK	0x3
#define ZRAM_MAX_COMPS		4

/* 16 bytes a slot, as the kernel's with CONFIG_ZRAM_TRACK_ENTRY_ACTIME. */
struct zram_table_entry {
	uint64_t handle;	/* zsmalloc handle | same-fill word | backing block */
	uint32_t flags;		/* size in bits 0..12, then enum zram_pageflags */
	uint32_t ac_time;	/* last access, seconds */
};

/* The device's counters, in the order swaplab's Python side names them. */
enum zram_stat_item {
	ZRAM_STAT_COMPR_DATA_SIZE,
	ZRAM_STAT_FAILED_READS,
	ZRAM_STAT_FAILED_WRITES,
	ZRAM_STAT_NOTIFY_FREE,
	ZRAM_STAT_SAME_PAGES,
	ZRAM_STAT_HUGE_PAGES,
	ZRAM_STAT_HUGE_PAGES_SINCE,
	ZRAM_STAT_PAGES_STORED,
	ZRAM_STAT_MAX_USED_PAGES,
	ZRAM_STAT_MISS_FREE,
	ZRAM_STAT_BD_COUNT,
	ZRAM_STAT_BD_READS,
	ZRAM_STAT_BD_WRITES,
	NR_ZRAM_STATS,
};

/* Fault points a caller may ask one page's write to fail at (testing). */
enum zram_inject {
	ZRAM_INJECT_ALLOC = 1,		/* zs_malloc finds no memory */
	ZRAM_INJECT_LIMIT = 2,		/* the mem_limit check fails */
	ZRAM_INJECT_CORRUPT = 4,	/* the stored object is overwritten with 0xff */
};

/* Why a batch stopped before its end (besides an errno). */
#define ZRAM_NEEDS_CALLER	1	/* a slot the C paths do not serve (see below) */

#define ZRAM_CACHELINE	64

/*
 * Laid out for several writers at once: what every page reads (the table,
 * the pool, the codecs) on a line of its own that nobody writes after setup,
 * the counters every page writes on theirs, the wait queue on its own.
 */
struct zram_meta {
	struct zram_table_entry *table;
	uint64_t nr_pages;
	struct zs_pool *pool;
	unsigned int huge_class_size;
	uint64_t limit_pages;
	/* per priority: the compiled codec (enum swaplab_codec) and level, or -1 */
	int algo[ZRAM_MAX_COMPS];
	int level[ZRAM_MAX_COMPS];
	uint64_t stats[NR_ZRAM_STATS] __attribute__((aligned(ZRAM_CACHELINE)));	/* atomics */
	/* the one wait queue of every slot lock (wait_on_bit's hashed queue) */
	pthread_mutex_t wait_lock __attribute__((aligned(ZRAM_CACHELINE)));
	pthread_cond_t wait;
	int waiters;
};

/* The counters are atomics: updated by every writer and reader without a lock. */
static inline void zram_stat_add(struct zram_meta *meta, enum zram_stat_item i, int64_t n)
{
	__atomic_add_fetch(&meta->stats[i], (uint64_t)n, __ATOMIC_RELAXED);
}

static inline void zram_stat_set(struct zram_meta *meta, enum zram_stat_item i, uint64_t v)
{
	__atomic_store_n(&meta->stats[i], v, __ATOMIC_RELAXED);
}

/* Raise counter @i to @v if it is below (max_used_pages). */
static inline void zram_stat_max(struct zram_meta *meta, enum zram_stat_item i, uint64_t v)
{
	uint64_t cur = __atomic_load_n(&meta->stats[i], __ATOMIC_RELAXED);

	while (v > cur && !__atomic_compare_exchange_n(&meta->stats[i], &cur, v, 1,
						       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

/* zram_meta_alloc: a zeroed table of @nr_pages slots over @pool; NULL: ENOMEM. */
struct zram_meta *zram_meta_alloc(uint64_t nr_pages, struct zs_pool *pool);
/*
 * zram_meta_free: the table and its wait queue.  The objects are not freed
 * one by one: they live in the pool, which belongs to the caller and gives
 * every frame back when it is destroyed (zram_reset_device's order).
 */
void zram_meta_free(struct zram_meta *meta);

void zram_slot_lock(struct zram_meta *meta, uint64_t index);
int zram_slot_trylock(struct zram_meta *meta, uint64_t index);
void zram_slot_unlock(struct zram_meta *meta, uint64_t index);

/*
 * slot_free in the kernel's order (caller holds the slot lock).  Returns the
 * backing-device block a written-back slot held (the caller releases it), or
 * -1.
 */
int64_t zram_slot_free(struct zram_meta *meta, uint64_t index);

/* slot_free_notify: notify_free++, trylock (miss_free++ when held), free. */
int64_t zram_slot_free_notify(struct zram_meta *meta, uint64_t index);

/*
 * The pages of a batch: page k is the ZRAM_PAGE_SIZE bytes at
 * base + rows[k] * ZRAM_PAGE_SIZE, stored at slot idx[k].
 */
struct zram_batch {
	uint8_t *base;
	const int64_t *rows;
	const int64_t *idx;
	uint64_t n;
	uint32_t now;			/* ac_time stamp of pages read or written */
};

/*
 * zram_write_pages: zram_write_page for page 0, 1, ... in order, stopping at
 * the first error; each page stored is marked accessed.  With @objs (packed
 * compressed outputs, lengths @lens, one per page, ignored for same-filled
 * pages) the pages are not compressed again; without, primary codec
 * algo[0] compresses them.  @inject (enum zram_inject) applies to every
 * page.  Returns 0 or the page's negative errno; *@done = pages stored.
 * Blocks freed from written-back slots are appended to @wb (n entries).
 */
int zram_write_pages(struct zram_meta *meta, const struct zram_batch *b, const uint8_t *objs,
		     const int32_t *lens, unsigned int inject, uint64_t *done, int64_t *wb,
		     uint64_t *nr_wb);

/*
 * zram_read_pages: read_from_zspool + mark_slot_accessed for page 0, 1, ...,
 * stopping at the first failure (-EINVAL: the object did not decode) or at a
 * slot these paths do not serve: written back, or compressed by a codec
 * that is not compiled (ZRAM_NEEDS_CALLER).  *@done = pages read.
 */
int zram_read_pages(struct zram_meta *meta, const struct zram_batch *b, uint64_t *done);

/*
 * read_from_zspool for a slot whose lock the caller holds: 0, -EINVAL, or
 * ZRAM_NEEDS_CALLER for a written-back slot or one compressed by a codec
 * that is not compiled.  The slot is not marked accessed.
 */
int zram_read_slot(struct zram_meta *meta, uint64_t index, uint8_t *page);

/* A page of one machine word repeated: 1 and the word in *@fill, or 0. */
int zram_page_same_filled(const void *page, uint64_t *fill);

#endif /* _SWAPLAB_ZRAM_H */
