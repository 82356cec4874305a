// SPDX-License-Identifier: GPL-2.0-only
/*
 * zram's slots, their lock and the page paths over them
 * (include/swaplab/zram.h).
 *
 * The lock is bit ZRAM_ENTRY_LOCK of the slot's flags word, taken by
 * compare-and-swap so that a failed attempt never writes the word its
 * holder is changing.  Waiters sleep on one condition variable for the
 * whole table (the kernel's hashed bit wait queue, with one bucket): O(1)
 * memory a slot, and unlock wakes only when someone waits.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <swaplab/codec.h>
#include <swaplab/zram.h>

#define BIT(n)		(1u << (n))
#define LOCK_BIT	BIT(ZRAM_ENTRY_LOCK)
#define PRIO_SHIFT	ZRAM_COMP_PRIORITY_BIT1

struct zram_meta *zram_meta_alloc(uint64_t nr_pages, struct zs_pool *pool)
{
	size_t size = (sizeof(struct zram_meta) + ZRAM_CACHELINE - 1) & ~(size_t)(ZRAM_CACHELINE - 1);
	struct zram_meta *meta = aligned_alloc(ZRAM_CACHELINE, size);
	int i;

	if (!meta)
		return NULL;
	memset(meta, 0, size);
	/* calloc of a large table maps zero pages: untouched slots cost nothing */
	meta->table = calloc(nr_pages ? nr_pages : 1, sizeof(*meta->table));
	if (!meta->table || pthread_mutex_init(&meta->wait_lock, NULL)) {
		free(meta->table);
		free(meta);
		return NULL;
	}
	if (pthread_cond_init(&meta->wait, NULL)) {
		pthread_mutex_destroy(&meta->wait_lock);
		free(meta->table);
		free(meta);
		return NULL;
	}
	meta->nr_pages = nr_pages;
	meta->pool = pool;
	meta->huge_class_size = zs_huge_class_size(pool);
	for (i = 0; i < ZRAM_MAX_COMPS; i++)
		meta->algo[i] = -1;
	return meta;
}

void zram_meta_free(struct zram_meta *meta)
{
	if (!meta)
		return;
	pthread_cond_destroy(&meta->wait);
	pthread_mutex_destroy(&meta->wait_lock);
	free(meta->table);
	free(meta);
}

/* --- the slot lock -------------------------------------------------------------- */

int zram_slot_trylock(struct zram_meta *meta, uint64_t index)
{
	uint32_t *w = &meta->table[index].flags;
	uint32_t old = __atomic_load_n(w, __ATOMIC_RELAXED);

	while (!(old & LOCK_BIT))
		if (__atomic_compare_exchange_n(w, &old, old | LOCK_BIT, 1, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return 1;
	return 0;
}

void zram_slot_lock(struct zram_meta *meta, uint64_t index)
{
	const uint32_t *w = &meta->table[index].flags;

	while (!zram_slot_trylock(meta, index)) {
		pthread_mutex_lock(&meta->wait_lock);
		__atomic_add_fetch(&meta->waiters, 1, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(w, __ATOMIC_SEQ_CST) & LOCK_BIT)
			pthread_cond_wait(&meta->wait, &meta->wait_lock);
		__atomic_sub_fetch(&meta->waiters, 1, __ATOMIC_SEQ_CST);
		pthread_mutex_unlock(&meta->wait_lock);
	}
}

void zram_slot_unlock(struct zram_meta *meta, uint64_t index)
{
	__atomic_and_fetch(&meta->table[index].flags, ~LOCK_BIT, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&meta->waiters, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&meta->wait_lock);
		pthread_cond_broadcast(&meta->wait);
		pthread_mutex_unlock(&meta->wait_lock);
	}
}

/* The holder's view and update of its slot's flags (the lock bit kept). */
static inline uint32_t slot_flags(const struct zram_meta *meta, uint64_t index)
{
	return __atomic_load_n(&meta->table[index].flags, __ATOMIC_RELAXED);
}

static inline void set_slot_flags(struct zram_meta *meta, uint64_t index, uint32_t f)
{
	__atomic_store_n(&meta->table[index].flags, f, __ATOMIC_RELAXED);
}

/* --- slot_free ------------------------------------------------------------------ */

int64_t zram_slot_free(struct zram_meta *meta, uint64_t index)
{
	struct zram_table_entry *e = &meta->table[index];
	uint32_t f = slot_flags(meta, index);
	int64_t blk = -1;

	e->ac_time = 0;
	f &= ~(BIT(ZRAM_IDLE) | BIT(ZRAM_INCOMPRESSIBLE) | BIT(ZRAM_PP_SLOT) |
	       ZRAM_COMP_PRIORITY_MASK << PRIO_SHIFT);
	if (f & BIT(ZRAM_HUGE)) {
		f &= ~BIT(ZRAM_HUGE);
		zram_stat_add(meta, ZRAM_STAT_HUGE_PAGES, -1);
	}
	if (f & BIT(ZRAM_WB)) {
		f &= ~BIT(ZRAM_WB);
		blk = (int64_t)e->handle;	/* released by the caller (bitmap, bd_count) */
	} else if (f & BIT(ZRAM_SAME)) {
		f &= ~BIT(ZRAM_SAME);
		zram_stat_add(meta, ZRAM_STAT_SAME_PAGES, -1);
	} else {
		if (!e->handle) {
			set_slot_flags(meta, index, f);
			return -1;
		}
		zs_free(meta->pool, e->handle);
		zram_stat_add(meta, ZRAM_STAT_COMPR_DATA_SIZE, -(int64_t)(f & ZRAM_SIZE_MASK));
	}
	zram_stat_add(meta, ZRAM_STAT_PAGES_STORED, -1);
	e->handle = 0;
	set_slot_flags(meta, index, f & ~ZRAM_SIZE_MASK);
	return blk;
}

int64_t zram_slot_free_notify(struct zram_meta *meta, uint64_t index)
{
	int64_t blk;

	zram_stat_add(meta, ZRAM_STAT_NOTIFY_FREE, 1);
	if (!zram_slot_trylock(meta, index)) {
		zram_stat_add(meta, ZRAM_STAT_MISS_FREE, 1);
		return -1;
	}
	blk = zram_slot_free(meta, index);
	zram_slot_unlock(meta, index);
	return blk;
}

/* --- the write path ------------------------------------------------------------- */

static inline uint64_t page_word(const uint8_t *page, size_t i)
{
	uint64_t w;

	memcpy(&w, page + i * sizeof(w), sizeof(w));	/* any alignment */
	return w;
}

int zram_page_same_filled(const void *page, uint64_t *fill)
{
	size_t i, n = ZRAM_PAGE_SIZE / sizeof(uint64_t);
	uint64_t v = page_word(page, 0);

	if (v != page_word(page, n - 1))
		return 0;
	for (i = 1; i < n - 1; i++)
		if (page_word(page, i) != v)
			return 0;
	*fill = v;
	return 1;
}

/*
 * Point slot @index at its new contents and mark it accessed, freeing what
 * it held; the one slot-lock section of a write.
 */
static void commit_slot(struct zram_meta *meta, uint64_t index, uint64_t handle, uint32_t f,
			uint32_t now, int64_t *wb, uint64_t *nr_wb)
{
	int64_t blk;

	zram_slot_lock(meta, index);
	blk = zram_slot_free(meta, index);
	if (blk >= 0)
		wb[(*nr_wb)++] = blk;
	meta->table[index].handle = handle;
	meta->table[index].ac_time = now;
	/* slot_free left nothing but the lock bit */
	set_slot_flags(meta, index, LOCK_BIT | f);
	zram_slot_unlock(meta, index);
}

/*
 * zram_write_page's steps after the same-filled test, for one page whose
 * compressed form is @obj (@len bytes).  Returns 0 and the handle and size
 * stored, or a negative errno with nothing kept.
 */
static int store_object(struct zram_meta *meta, const uint8_t *page, const uint8_t *obj,
			size_t len, unsigned int inject, uint64_t *handle, uint32_t *size)
{
	static const uint8_t poison[ZRAM_PAGE_SIZE] = {[0 ... ZRAM_PAGE_SIZE - 1] = 0xff};
	int huge = len >= meta->huge_class_size;
	uint64_t total;
	long h;

	if (huge) {
		len = ZRAM_PAGE_SIZE;
		obj = page;
	}
	h = zs_malloc(meta->pool, len);
	if (h > 0 && (inject & ZRAM_INJECT_ALLOC)) {
		zs_free(meta->pool, (unsigned long)h);
		h = -ENOMEM;
	}
	if (h < 0)
		return (int)h;
	/* zram_can_store_page: checked after the allocation, as the kernel does */
	total = zs_get_total_pages(meta->pool);
	zram_stat_max(meta, ZRAM_STAT_MAX_USED_PAGES, total);
	if ((meta->limit_pages && total > meta->limit_pages) || (inject & ZRAM_INJECT_LIMIT)) {
		zs_free(meta->pool, (unsigned long)h);
		return -ENOMEM;
	}
	zs_obj_write(meta->pool, (unsigned long)h, obj, len);
	if (!huge && (inject & ZRAM_INJECT_CORRUPT))
		zs_obj_write(meta->pool, (unsigned long)h, poison, len);
	*handle = (uint64_t)h;
	*size = (uint32_t)len;
	return 0;
}

int zram_write_pages(struct zram_meta *meta, const struct zram_batch *b, const uint8_t *objs,
		     const int32_t *lens, unsigned int inject, uint64_t *done, int64_t *wb,
		     uint64_t *nr_wb)
{
	uint64_t wrkmem[CODEC_WRKMEM / sizeof(uint64_t)];
	uint8_t dst[2 * ZRAM_PAGE_SIZE];
	size_t pos = 0;
	uint64_t k;
	int err = 0;

	*nr_wb = 0;
	for (k = 0; k < b->n; k++) {
		const uint8_t *page = b->base + (size_t)b->rows[k] * ZRAM_PAGE_SIZE;
		const uint8_t *obj = dst;
		uint64_t index = (uint64_t)b->idx[k], handle = 0;
		uint32_t size = 0;
		size_t len = 0;

		if (objs) {
			obj = objs + pos;
			len = (size_t)lens[k];
			pos += len;
		}
		if (zram_page_same_filled(page, &handle)) {
			commit_slot(meta, index, handle, BIT(ZRAM_SAME), b->now, wb, nr_wb);
			zram_stat_add(meta, ZRAM_STAT_SAME_PAGES, 1);
			zram_stat_add(meta, ZRAM_STAT_PAGES_STORED, 1);
			continue;
		}
		if (!objs) {
			len = codec_compress(meta->algo[0], page, ZRAM_PAGE_SIZE, dst, sizeof(dst),
					     meta->level[0], wrkmem);
			if (!len) {
				err = -EINVAL;	/* "Compression failed!" */
				break;
			}
		}
		err = store_object(meta, page, obj, len, inject, &handle, &size);
		if (err)
			break;
		commit_slot(meta, index, handle,
			    size | (size == ZRAM_PAGE_SIZE ? BIT(ZRAM_HUGE) : 0), b->now, wb, nr_wb);
		zram_stat_add(meta, ZRAM_STAT_PAGES_STORED, 1);
		zram_stat_add(meta, ZRAM_STAT_COMPR_DATA_SIZE, size);
		if (size == ZRAM_PAGE_SIZE) {
			zram_stat_add(meta, ZRAM_STAT_HUGE_PAGES, 1);
			zram_stat_add(meta, ZRAM_STAT_HUGE_PAGES_SINCE, 1);
		}
	}
	*done = k;
	return err;
}

/* --- the read path -------------------------------------------------------------- */

int zram_read_slot(struct zram_meta *meta, uint64_t index, uint8_t *page)
{
	const struct zram_table_entry *e = &meta->table[index];
	uint32_t f = slot_flags(meta, index), size = f & ZRAM_SIZE_MASK;
	uint8_t local_copy[ZRAM_PAGE_SIZE];
	const uint8_t *src;
	int algo, ret = 0;

	if (f & BIT(ZRAM_WB))
		return ZRAM_NEEDS_CALLER;
	if ((f & BIT(ZRAM_SAME)) || !e->handle) {
		uint64_t *w = (uint64_t *)page, fill = e->handle;
		size_t i;

		for (i = 0; i < ZRAM_PAGE_SIZE / sizeof(uint64_t); i++)
			w[i] = fill;
		return 0;
	}
	algo = meta->algo[(f >> PRIO_SHIFT) & ZRAM_COMP_PRIORITY_MASK];
	if (!(f & BIT(ZRAM_HUGE)) && algo < 0)
		return ZRAM_NEEDS_CALLER;
	src = zs_obj_read_begin(meta->pool, e->handle, size, local_copy);
	if (!src)
		return -EINVAL;
	if (f & BIT(ZRAM_HUGE))
		memcpy(page, src, ZRAM_PAGE_SIZE);
	else if (codec_decompress(algo, src, size, page, ZRAM_PAGE_SIZE) != ZRAM_PAGE_SIZE)
		ret = -EINVAL;
	zs_obj_read_end(meta->pool);
	return ret;
}

int zram_read_pages(struct zram_meta *meta, const struct zram_batch *b, uint64_t *done)
{
	uint64_t k;
	int err = 0;

	for (k = 0; k < b->n; k++) {
		uint64_t index = (uint64_t)b->idx[k];

		zram_slot_lock(meta, index);
		err = zram_read_slot(meta, index, b->base + (size_t)b->rows[k] * ZRAM_PAGE_SIZE);
		if (!err) {	/* mark_slot_accessed */
			set_slot_flags(meta, index, slot_flags(meta, index) &
				       ~(BIT(ZRAM_IDLE) | BIT(ZRAM_PP_SLOT)));
			meta->table[index].ac_time = b->now;
		}
		zram_slot_unlock(meta, index);
		if (err)
			break;
	}
	*done = k;
	return err;
}
