// SPDX-License-Identifier: GPL-2.0-only
/*
 * zsmalloc (include/swaplab/zsmalloc.h): size classes, zspages of 1..chain
 * page frames cut into equal slots, handles that stay valid while
 * compaction moves objects.
 *
 * Object location ("obj"): pfn of the page holding the object's first byte
 * << OBJ_INDEX_BITS | slot index in the zspage.  A handle is an index into
 * the handle table, which holds that word (HANDLE_FREE when unused).
 * A non-huge allocated slot starts with handle << 1 | OBJ_ALLOCATED_TAG; a
 * free one with the index of the next free slot << OBJ_TAG_BITS (the chain
 * built 0 -> 1 -> ... when the zspage is created, OBJ_INDEX_MASK ends it).
 * A huge class's zspage is one page holding one object and no header; its
 * handle is kept in the zspage, as the kernel keeps it in the page.
 *
 * Locks, taken in this order (the kernel's pool->lock, class->lock, and the
 * page allocator's and slab's own):
 *  - pool->lock, a rwlock: read by every object operation, written by
 *    compaction (objects move) and by growth of the handle and zspage
 *    tables (they move in memory);
 *  - class->lock (of the merged class): its fullness lists, its zspages'
 *    free chains, inuse and statistics;
 *  - pool->handle_lock: the handle stack; pool->page_lock: zspage ids,
 *    pages_allocated against max_pages and the page source.
 * An object's bytes belong to its handle's holder, so reads and writes of
 * them need only the pool lock for reading.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <swaplab/zsmalloc.h>

#define HANDLE_FREE	UINT64_MAX
#define ZS_NIL		UINT32_MAX
#define ZS_NO_CLASS	UINT32_MAX
#define ZS_GROW		(UINT32_MAX - 1)	/* alloc_zspage: the id table is full */

struct zspage {
	uint32_t cls;		/* ZS_NO_CLASS: the id is free */
	uint32_t inuse;
	uint32_t freeobj;	/* first free slot; OBJ_INDEX_MASK: none */
	uint32_t fullness;
	uint32_t prev, next;	/* the class's list for its fullness group */
	uint64_t huge_handle;
	uint32_t pages[ZS_MAX_CHAIN];
};

struct size_class {
	pthread_mutex_t lock;
	struct zs_class_info info;
	int huge;
	uint32_t fullness_list[NR_FULLNESS_GROUPS];	/* first zspage id, ZS_NIL */
	uint64_t objs_allocated, objs_used, zspages;
};

struct zs_pool {
	pthread_rwlock_t lock;
	pthread_mutex_t handle_lock, page_lock;
	uint8_t *mem;
	uint64_t nr_frames, max_pages;
	struct zs_page_source src;
	struct size_class classes[ZS_SIZE_CLASSES];
	unsigned int huge_class_size;
	/* frame -> zspage id + 1 (0: not the pool's) */
	uint32_t *page_zspage;
	struct zspage *zspages;
	uint32_t nr_zspages, cap_zspages;
	/* freed ids and handles, reused last-freed first; each stack is kept as
	 * large as what it can hold, so freeing never allocates */
	uint32_t *free_ids;
	uint64_t nr_free_ids, cap_free_ids;
	uint64_t *handles;
	uint64_t nr_handles;	/* written under handle_lock, read atomically */
	uint64_t cap_handles;
	uint64_t *free_handles;
	uint64_t nr_free_handles, cap_free_handles;
	uint64_t pages_allocated;	/* read without the lock: atomic */
	uint64_t pages_compacted;
};

static unsigned int chain_size(unsigned int size, unsigned int chain)
{
	unsigned int i, best = 1, best_waste = ZS_PAGE_SIZE;

	if ((size & (size - 1)) == 0)
		return 1;
	for (i = 1; i <= chain; i++) {
		unsigned int waste = (i * ZS_PAGE_SIZE) % size;

		if (waste < best_waste) {
			best = i;
			best_waste = waste;
		}
	}
	return best;
}

int zs_class_table(unsigned int chain, struct zs_class_info *t)
{
	int i, prev = -1, huge_class_size = 0;

	if (chain < ZS_MIN_CHAIN || chain > ZS_MAX_CHAIN)
		return -EINVAL;
	for (i = ZS_SIZE_CLASSES - 1; i >= 0; i--) {
		unsigned int size = ZS_MIN_ALLOC_SIZE + ZS_SIZE_CLASS_DELTA * (unsigned int)i;

		if (size > ZS_MAX_ALLOC_SIZE)
			size = ZS_MAX_ALLOC_SIZE;
		t[i].size = size;
		t[i].pages = chain_size(size, chain);
		t[i].objs = t[i].pages * ZS_PAGE_SIZE / size;
		t[i].index = (unsigned int)i;
		/* same geometry as the larger class: merged into it */
		if (prev >= 0 && t[i].pages == t[prev].pages && t[i].objs == t[prev].objs) {
			t[i].index = (unsigned int)prev;
			continue;
		}
		if (!huge_class_size && !(t[i].pages == 1 && t[i].objs == 1))
			huge_class_size = (int)size - (ZS_HANDLE_SIZE - 1);
		prev = i;
	}
	return huge_class_size;
}

static unsigned int class_index(size_t size)
{
	size_t i = size <= ZS_MIN_ALLOC_SIZE ? 0 :
		(size - ZS_MIN_ALLOC_SIZE + ZS_SIZE_CLASS_DELTA - 1) / ZS_SIZE_CLASS_DELTA;

	return i < (size_t)ZS_SIZE_CLASSES ? (unsigned int)i : ZS_SIZE_CLASSES - 1;
}

unsigned int zs_lookup_class_index(const struct zs_pool *pool, size_t size)
{
	return pool->classes[class_index(size + ZS_HANDLE_SIZE)].info.index;
}

unsigned int zs_huge_class_size(const struct zs_pool *pool)
{
	return pool->huge_class_size;
}

uint64_t zs_get_total_pages(const struct zs_pool *pool)
{
	return __atomic_load_n(&pool->pages_allocated, __ATOMIC_RELAXED);
}

uint64_t zs_pages_compacted(const struct zs_pool *pool)
{
	return __atomic_load_n(&pool->pages_compacted, __ATOMIC_RELAXED);
}

struct zs_pool *zs_create_pool(uint8_t *mem, uint64_t nr_frames, uint64_t max_pages,
			       unsigned int chain, const struct zs_page_source *src)
{
	struct zs_class_info table[ZS_SIZE_CLASSES];
	struct zs_pool *pool;
	int i, g, huge;

	huge = zs_class_table(chain, table);
	if (huge < 0 || nr_frames > UINT32_MAX)
		return NULL;
	pool = calloc(1, sizeof(*pool));
	if (!pool)
		return NULL;
	pool->page_zspage = calloc(nr_frames ? nr_frames : 1, sizeof(uint32_t));
	if (!pool->page_zspage || pthread_rwlock_init(&pool->lock, NULL)) {
		free(pool->page_zspage);
		free(pool);
		return NULL;
	}
	/* default attributes: these cannot fail on Linux */
	pthread_mutex_init(&pool->handle_lock, NULL);
	pthread_mutex_init(&pool->page_lock, NULL);
	pool->mem = mem;
	pool->nr_frames = nr_frames;
	pool->max_pages = max_pages;
	pool->src = *src;
	pool->huge_class_size = (unsigned int)huge;
	for (i = 0; i < ZS_SIZE_CLASSES; i++) {
		struct size_class *c = &pool->classes[i];

		pthread_mutex_init(&c->lock, NULL);
		c->info = table[i];
		c->huge = table[i].pages == 1 && table[i].objs == 1;
		for (g = 0; g < NR_FULLNESS_GROUPS; g++)
			c->fullness_list[g] = ZS_NIL;
	}
	pool->nr_handles = 1;	/* handle 0 is never given out */
	return pool;
}

/* --- fullness lists ------------------------------------------------------------- */

static unsigned int get_fullness_group(const struct size_class *c, uint32_t inuse)
{
	if (inuse == 0)
		return ZS_INUSE_RATIO_0;
	if (inuse >= c->info.objs)
		return ZS_INUSE_RATIO_100;
	return inuse * 100 / c->info.objs / 10 + 1;
}

static void remove_zspage(struct zs_pool *pool, struct size_class *c, uint32_t id)
{
	struct zspage *z = &pool->zspages[id];

	if (z->prev != ZS_NIL)
		pool->zspages[z->prev].next = z->next;
	else
		c->fullness_list[z->fullness] = z->next;
	if (z->next != ZS_NIL)
		pool->zspages[z->next].prev = z->prev;
	z->prev = z->next = ZS_NIL;
}

/* list_add: a zspage goes to the head of its group's list. */
static void insert_zspage(struct zs_pool *pool, struct size_class *c, uint32_t id,
			  unsigned int fullness)
{
	struct zspage *z = &pool->zspages[id];
	uint32_t head = c->fullness_list[fullness];

	z->fullness = fullness;
	z->prev = ZS_NIL;
	z->next = head;
	if (head != ZS_NIL)
		pool->zspages[head].prev = id;
	c->fullness_list[fullness] = id;
}

static void fix_fullness_group(struct zs_pool *pool, struct size_class *c, uint32_t id)
{
	unsigned int g = get_fullness_group(c, pool->zspages[id].inuse);

	if (g == pool->zspages[id].fullness)
		return;
	remove_zspage(pool, c, id);
	insert_zspage(pool, c, id, g);
}

/* --- zspages -------------------------------------------------------------------- */

static inline uint8_t *frame(const struct zs_pool *pool, uint32_t pfn)
{
	return pool->mem + ((size_t)pfn << ZS_PAGE_SHIFT);
}

/* The address of byte @off of zspage @z (a byte that does not cross pages). */
static inline uint8_t *zspage_byte(const struct zs_pool *pool, const struct zspage *z,
				   size_t off)
{
	return frame(pool, z->pages[off >> ZS_PAGE_SHIFT]) + (off & (ZS_PAGE_SIZE - 1));
}

static inline uint64_t *slot_word(const struct zs_pool *pool, const struct zspage *z,
				  uint32_t idx)
{
	/* slot offsets are multiples of 16: a header word never crosses a page */
	return (uint64_t *)zspage_byte(pool, z, (size_t)idx * pool->classes[z->cls].info.size);
}

static int grow(void **arr, uint64_t *cap, uint64_t need, size_t elem)
{
	uint64_t n = *cap ? *cap : 64;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*arr, n * elem);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

/*
 * A new zspage of class @c, under its class lock: ZS_NIL when out of pages,
 * ZS_GROW when the id table must grow first (which needs the pool lock for
 * writing: the caller drops its locks, calls grow_tables, and retries).
 */
static uint32_t alloc_zspage(struct zs_pool *pool, struct size_class *c, unsigned int cls)
{
	uint32_t pfns[ZS_MAX_CHAIN], id, i, objs = c->info.objs, npages = c->info.pages;
	struct zspage *z;

	pthread_mutex_lock(&pool->page_lock);
	if (zs_get_total_pages(pool) + npages > pool->max_pages)
		goto nil;
	if (!pool->nr_free_ids && pool->nr_zspages >= pool->cap_zspages) {
		pthread_mutex_unlock(&pool->page_lock);
		return ZS_GROW;
	}
	if (pool->src.alloc(pool->src.priv, npages, pfns))
		goto nil;
	for (i = 0; i < npages; i++) {
		if (pfns[i] >= pool->nr_frames) {	/* a broken page source */
			pool->src.free(pool->src.priv, npages, pfns);
			goto nil;
		}
	}
	id = pool->nr_free_ids ? pool->free_ids[--pool->nr_free_ids] : pool->nr_zspages++;
	__atomic_add_fetch(&pool->pages_allocated, npages, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&pool->page_lock);

	z = &pool->zspages[id];
	memset(z, 0, sizeof(*z));
	z->cls = cls;
	memcpy(z->pages, pfns, npages * sizeof(uint32_t));
	for (i = 0; i < npages; i++)
		pool->page_zspage[pfns[i]] = id + 1;
	if (c->huge) {
		z->freeobj = 0;
	} else {
		/* the free chain 0 -> 1 -> ... -> end, through each slot's first word */
		for (i = 0; i < objs; i++)
			*slot_word(pool, z, i) = (uint64_t)(i + 1 < objs ? i + 1 : OBJ_INDEX_MASK)
						 << OBJ_TAG_BITS;
		z->freeobj = 0;
	}
	insert_zspage(pool, c, id, ZS_INUSE_RATIO_0);
	c->objs_allocated += objs;
	c->zspages++;
	return id;
nil:
	pthread_mutex_unlock(&pool->page_lock);
	return ZS_NIL;
}

/* Under the class lock of @c (and the pool lock, for reading or writing). */
static void free_zspage(struct zs_pool *pool, struct size_class *c, uint32_t id)
{
	struct zspage *z = &pool->zspages[id];
	uint32_t i, npages = c->info.pages;

	remove_zspage(pool, c, id);
	for (i = 0; i < npages; i++)
		pool->page_zspage[z->pages[i]] = 0;
	z->cls = ZS_NO_CLASS;
	c->objs_allocated -= c->info.objs;
	c->zspages--;
	pthread_mutex_lock(&pool->page_lock);
	pool->src.free(pool->src.priv, npages, z->pages);
	pool->free_ids[pool->nr_free_ids++] = id;
	__atomic_sub_fetch(&pool->pages_allocated, npages, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&pool->page_lock);
}

/*
 * Room for one more handle and one more zspage id, with the pool lock held
 * for writing (the tables move).  Each stack is kept as large as what it
 * can hold, so freeing never allocates.
 */
static int grow_tables(struct zs_pool *pool)
{
	uint64_t cap = pool->cap_zspages;
	int err = 0;

	pthread_rwlock_wrlock(&pool->lock);
	if (grow((void **)&pool->handles, &pool->cap_handles, pool->nr_handles + 1,
		 sizeof(uint64_t)) ||
	    grow((void **)&pool->free_handles, &pool->cap_free_handles, pool->nr_handles + 1,
		 sizeof(uint64_t)) ||
	    grow((void **)&pool->zspages, &cap, (uint64_t)pool->nr_zspages + 1,
		 sizeof(struct zspage)) ||
	    cap > ZS_GROW - 1 ||
	    grow((void **)&pool->free_ids, &pool->cap_free_ids, cap, sizeof(uint32_t)))
		err = -ENOMEM;
	else
		pool->cap_zspages = (uint32_t)cap;	/* free_ids holds them all */
	pthread_rwlock_unlock(&pool->lock);
	return err;
}

/* The fullest zspage of @c with a free slot (ZS_NIL: none). */
static uint32_t find_get_zspage(const struct size_class *c)
{
	int g;

	for (g = ZS_INUSE_RATIO_99; g >= ZS_INUSE_RATIO_0; g--)
		if (c->fullness_list[g] != ZS_NIL)
			return c->fullness_list[g];
	return ZS_NIL;
}

/* Take the first free slot of zspage @id for @handle; returns its obj word. */
static uint64_t obj_malloc(struct zs_pool *pool, struct size_class *c, uint32_t id,
			   uint64_t handle)
{
	struct zspage *z = &pool->zspages[id];
	uint32_t idx = z->freeobj;
	size_t off = (size_t)idx * c->info.size;
	uint64_t *w;

	if (c->huge) {
		z->huge_handle = handle;
		z->freeobj = OBJ_INDEX_MASK;
	} else {
		w = slot_word(pool, z, idx);
		z->freeobj = (uint32_t)(*w >> OBJ_TAG_BITS);
		*w = handle << OBJ_TAG_BITS | OBJ_ALLOCATED_TAG;
	}
	z->inuse++;
	c->objs_used++;
	fix_fullness_group(pool, c, id);
	return (uint64_t)z->pages[off >> ZS_PAGE_SHIFT] << OBJ_INDEX_BITS | idx;
}

/* Put slot @idx of zspage @id back on its free chain. */
static void obj_free(struct zs_pool *pool, struct size_class *c, uint32_t id, uint32_t idx)
{
	struct zspage *z = &pool->zspages[id];

	if (c->huge)
		z->huge_handle = 0;
	else
		*slot_word(pool, z, idx) = (uint64_t)z->freeobj << OBJ_TAG_BITS;
	z->freeobj = idx;
	z->inuse--;
	c->objs_used--;
	fix_fullness_group(pool, c, id);
}

/* zspage id and slot of an obj word (the caller checked the handle). */
static void obj_to_location(const struct zs_pool *pool, uint64_t obj, uint32_t *id,
			    uint32_t *idx)
{
	*id = pool->page_zspage[obj >> OBJ_INDEX_BITS] - 1;
	*idx = (uint32_t)(obj & OBJ_INDEX_MASK);
}

static int handle_valid(const struct zs_pool *pool, unsigned long handle)
{
	return handle > 0 && handle < __atomic_load_n(&pool->nr_handles, __ATOMIC_ACQUIRE) &&
	       pool->handles[handle] != HANDLE_FREE;
}

/* A free handle, 0 when the table must grow first; under the pool lock. */
static uint64_t alloc_handle(struct zs_pool *pool)
{
	uint64_t handle = 0;

	pthread_mutex_lock(&pool->handle_lock);
	if (pool->nr_free_handles) {
		handle = pool->free_handles[--pool->nr_free_handles];
	} else if (pool->nr_handles < pool->cap_handles) {
		handle = pool->nr_handles;
		pool->handles[handle] = HANDLE_FREE;
		__atomic_store_n(&pool->nr_handles, handle + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&pool->handle_lock);
	return handle;
}

static void free_handle(struct zs_pool *pool, uint64_t handle)
{
	pthread_mutex_lock(&pool->handle_lock);
	pool->handles[handle] = HANDLE_FREE;
	pool->free_handles[pool->nr_free_handles++] = handle;
	pthread_mutex_unlock(&pool->handle_lock);
}

/* --- the API -------------------------------------------------------------------- */

long zs_malloc(struct zs_pool *pool, size_t size)
{
	struct size_class *c;
	unsigned int cls;
	uint64_t handle;
	uint32_t id;

	if (size == 0)
		return -EINVAL;
	if (size > ZS_MAX_ALLOC_SIZE)
		return -ENOSPC;
	cls = zs_lookup_class_index(pool, size);
	c = &pool->classes[cls];
	for (;;) {
		pthread_rwlock_rdlock(&pool->lock);
		handle = alloc_handle(pool);
		if (handle) {
			pthread_mutex_lock(&c->lock);
			id = find_get_zspage(c);
			if (id == ZS_NIL)
				id = alloc_zspage(pool, c, cls);
			if (id != ZS_NIL && id != ZS_GROW)
				break;
			pthread_mutex_unlock(&c->lock);
			free_handle(pool, handle);
			if (id == ZS_NIL) {
				pthread_rwlock_unlock(&pool->lock);
				return -ENOMEM;
			}
		}
		pthread_rwlock_unlock(&pool->lock);
		if (grow_tables(pool))
			return -ENOMEM;
	}
	pool->handles[handle] = obj_malloc(pool, c, id, handle);
	pthread_mutex_unlock(&c->lock);
	pthread_rwlock_unlock(&pool->lock);
	return (long)handle;
}

int zs_free(struct zs_pool *pool, unsigned long handle)
{
	struct size_class *c;
	uint32_t id, idx;

	pthread_rwlock_rdlock(&pool->lock);
	if (!handle_valid(pool, handle)) {
		pthread_rwlock_unlock(&pool->lock);
		return -EINVAL;
	}
	obj_to_location(pool, pool->handles[handle], &id, &idx);
	c = &pool->classes[pool->zspages[id].cls];
	free_handle(pool, handle);
	pthread_mutex_lock(&c->lock);
	obj_free(pool, c, id, idx);
	if (pool->zspages[id].inuse == 0)
		free_zspage(pool, c, id);
	pthread_mutex_unlock(&c->lock);
	pthread_rwlock_unlock(&pool->lock);
	return 0;
}

/* Byte offset of @handle's payload in its zspage, and the zspage. */
static struct zspage *payload(const struct zs_pool *pool, unsigned long handle, size_t *off,
			      size_t *room)
{
	uint32_t id, idx;
	struct zspage *z;
	const struct size_class *c;

	obj_to_location(pool, pool->handles[handle], &id, &idx);
	z = &pool->zspages[id];
	c = &pool->classes[z->cls];
	*off = (size_t)idx * c->info.size + (c->huge ? 0 : ZS_HANDLE_SIZE);
	*room = c->info.size - (c->huge ? 0 : ZS_HANDLE_SIZE);
	return z;
}

/* Copy @len bytes at byte @off of zspage @z to/from @buf, across a page border. */
static void zspage_copy(const struct zs_pool *pool, const struct zspage *z, size_t off,
			void *buf, size_t len, int to_pool)
{
	size_t first = ZS_PAGE_SIZE - (off & (ZS_PAGE_SIZE - 1));

	if (first > len)
		first = len;
	if (to_pool) {
		memcpy(zspage_byte(pool, z, off), buf, first);
		if (len > first)
			memcpy(zspage_byte(pool, z, off + first), (uint8_t *)buf + first,
			       len - first);
	} else {
		memcpy(buf, zspage_byte(pool, z, off), first);
		if (len > first)
			memcpy((uint8_t *)buf + first, zspage_byte(pool, z, off + first),
			       len - first);
	}
}

int zs_obj_write(struct zs_pool *pool, unsigned long handle, const void *src, size_t len)
{
	struct zspage *z;
	size_t off, room;

	pthread_rwlock_rdlock(&pool->lock);
	if (!handle_valid(pool, handle)) {
		pthread_rwlock_unlock(&pool->lock);
		return -EINVAL;
	}
	z = payload(pool, handle, &off, &room);
	if (len > room) {
		pthread_rwlock_unlock(&pool->lock);
		return -EINVAL;
	}
	zspage_copy(pool, z, off, (void *)src, len, 1);
	pthread_rwlock_unlock(&pool->lock);
	return 0;
}

const void *zs_obj_read_begin(struct zs_pool *pool, unsigned long handle, size_t len,
			      void *local_copy)
{
	struct zspage *z;
	size_t off, room;

	pthread_rwlock_rdlock(&pool->lock);
	if (!handle_valid(pool, handle)) {
		pthread_rwlock_unlock(&pool->lock);
		return NULL;
	}
	z = payload(pool, handle, &off, &room);
	if (len > room) {
		pthread_rwlock_unlock(&pool->lock);
		return NULL;
	}
	if ((off & (ZS_PAGE_SIZE - 1)) + len <= ZS_PAGE_SIZE)
		return zspage_byte(pool, z, off);
	zspage_copy(pool, z, off, local_copy, len, 0);
	return local_copy;
}

void zs_obj_read_end(struct zs_pool *pool)
{
	pthread_rwlock_unlock(&pool->lock);
}

/* --- compaction ----------------------------------------------------------------- */

static uint64_t class_can_compact(const struct size_class *c)
{
	uint64_t wasted = c->objs_allocated - c->objs_used;

	return wasted / c->info.objs * c->info.pages;
}

uint64_t zs_can_compact(struct zs_pool *pool, unsigned int cls)
{
	struct size_class *c = &pool->classes[cls];
	uint64_t n;

	pthread_mutex_lock(&c->lock);
	n = class_can_compact(c);
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* isolate_src_zspage: the least-used zspage (groups 10% upward), off its list. */
static uint32_t isolate_src(struct zs_pool *pool, struct size_class *c)
{
	int g;

	for (g = ZS_INUSE_RATIO_10; g <= ZS_INUSE_RATIO_99; g++) {
		uint32_t id = c->fullness_list[g];

		if (id != ZS_NIL) {
			remove_zspage(pool, c, id);
			return id;
		}
	}
	return ZS_NIL;
}

/* isolate_dst_zspage: the most-used non-full zspage (99% downward), off its list. */
static uint32_t isolate_dst(struct zs_pool *pool, struct size_class *c)
{
	int g;

	for (g = ZS_INUSE_RATIO_99; g >= ZS_INUSE_RATIO_10; g--) {
		uint32_t id = c->fullness_list[g];

		if (id != ZS_NIL) {
			remove_zspage(pool, c, id);
			return id;
		}
	}
	return ZS_NIL;
}

/* putback_zspage: onto the list of its fullness group; returns the group. */
static unsigned int putback(struct zs_pool *pool, struct size_class *c, uint32_t id)
{
	unsigned int g = get_fullness_group(c, pool->zspages[id].inuse);

	insert_zspage(pool, c, id, g);
	return g;
}

/*
 * migrate_zspage: move @src's objects into @dst until @src is empty or @dst
 * full; handles are rewritten, the slots' bytes (header included) copied.
 * Both are off their lists, so obj_malloc/obj_free's list fixes are done
 * here by hand: inuse changes only.
 */
static void migrate_zspage(struct zs_pool *pool, struct size_class *c, uint32_t src,
			   uint32_t dst)
{
	uint8_t buf[ZS_MAX_ALLOC_SIZE];
	uint32_t idx, size = c->info.size;

	for (idx = 0; idx < c->info.objs && pool->zspages[src].inuse; idx++) {
		struct zspage *s = &pool->zspages[src], *d = &pool->zspages[dst];
		uint64_t word = *slot_word(pool, s, idx), handle;
		uint32_t didx;
		uint64_t *dw;

		if (!(word & OBJ_ALLOCATED_TAG))
			continue;
		if (d->inuse >= c->info.objs)
			break;
		handle = word >> OBJ_TAG_BITS;
		zspage_copy(pool, s, (size_t)idx * size, buf, size, 0);
		didx = d->freeobj;
		dw = slot_word(pool, d, didx);
		d->freeobj = (uint32_t)(*dw >> OBJ_TAG_BITS);
		zspage_copy(pool, d, (size_t)didx * size, buf, size, 1);
		d->inuse++;
		pool->handles[handle] = (uint64_t)d->pages[((size_t)didx * size) >> ZS_PAGE_SHIFT]
					<< OBJ_INDEX_BITS | didx;
		*slot_word(pool, s, idx) = (uint64_t)s->freeobj << OBJ_TAG_BITS;
		s->freeobj = idx;
		s->inuse--;
	}
}

static uint64_t compact_class(struct zs_pool *pool, struct size_class *c)
{
	uint32_t src, dst = ZS_NIL;
	uint64_t freed = 0;

	while (class_can_compact(c)) {
		if (dst == ZS_NIL) {
			dst = isolate_dst(pool, c);
			if (dst == ZS_NIL)
				break;
		}
		src = isolate_src(pool, c);
		if (src == ZS_NIL)
			break;
		migrate_zspage(pool, c, src, dst);
		if (putback(pool, c, src) == ZS_INUSE_RATIO_0) {
			free_zspage(pool, c, src);
			freed += c->info.pages;
		}
		if (pool->zspages[dst].inuse >= c->info.objs) {
			putback(pool, c, dst);
			dst = ZS_NIL;
		}
	}
	if (dst != ZS_NIL)
		putback(pool, c, dst);
	return freed;
}

uint64_t zs_compact(struct zs_pool *pool)
{
	uint64_t freed = 0;
	int i;

	pthread_rwlock_wrlock(&pool->lock);
	for (i = ZS_SIZE_CLASSES - 1; i >= 0; i--) {
		struct size_class *c = &pool->classes[i];

		if (c->info.index != (unsigned int)i || c->huge)
			continue;
		freed += compact_class(pool, c);
	}
	__atomic_add_fetch(&pool->pages_compacted, freed, __ATOMIC_RELAXED);
	pthread_rwlock_unlock(&pool->lock);
	return freed;
}

/* --- statistics and introspection ----------------------------------------------- */

/* (zspage introspection reads other classes' zspages: the pool lock for writing) */

void zs_class_stats(struct zs_pool *pool, unsigned int cls, struct zs_class_stat *st)
{
	struct size_class *c = &pool->classes[cls];

	pthread_mutex_lock(&c->lock);
	st->objs_allocated = c->objs_allocated;
	st->objs_used = c->objs_used;
	st->zspages = c->zspages;
	pthread_mutex_unlock(&c->lock);
}

int zs_obj_location(struct zs_pool *pool, unsigned long handle, uint32_t *zspage,
		    uint32_t *idx)
{
	int ret = -EINVAL;

	pthread_rwlock_rdlock(&pool->lock);
	if (handle_valid(pool, handle)) {
		obj_to_location(pool, pool->handles[handle], zspage, idx);
		ret = 0;
	}
	pthread_rwlock_unlock(&pool->lock);
	return ret;
}

int zs_zspage_info(struct zs_pool *pool, uint32_t id, uint32_t *cls, uint32_t *inuse)
{
	int ret = -EINVAL;

	pthread_rwlock_wrlock(&pool->lock);
	if (id < pool->nr_zspages && pool->zspages[id].cls != ZS_NO_CLASS) {
		*cls = pool->zspages[id].cls;
		*inuse = pool->zspages[id].inuse;
		ret = 0;
	}
	pthread_rwlock_unlock(&pool->lock);
	return ret;
}

long zs_handle_of(struct zs_pool *pool, uint32_t id, uint32_t idx)
{
	long ret = -EINVAL;

	pthread_rwlock_wrlock(&pool->lock);
	if (id < pool->nr_zspages && pool->zspages[id].cls != ZS_NO_CLASS) {
		const struct zspage *z = &pool->zspages[id];
		const struct size_class *c = &pool->classes[z->cls];

		if (c->huge) {
			if (idx == 0 && z->inuse)
				ret = (long)z->huge_handle;
		} else if (idx < c->info.objs) {
			uint64_t w = *slot_word(pool, z, idx);

			if (w & OBJ_ALLOCATED_TAG)
				ret = (long)(w >> OBJ_TAG_BITS);
		}
	}
	pthread_rwlock_unlock(&pool->lock);
	return ret;
}

uint32_t zs_nr_zspage_ids(struct zs_pool *pool)
{
	uint32_t n;

	pthread_rwlock_wrlock(&pool->lock);
	n = pool->nr_zspages;
	pthread_rwlock_unlock(&pool->lock);
	return n;
}

void zs_destroy_pool(struct zs_pool *pool)
{
	uint32_t id;

	if (!pool)
		return;
	for (id = 0; id < pool->nr_zspages; id++) {
		struct zspage *z = &pool->zspages[id];

		if (z->cls != ZS_NO_CLASS)
			pool->src.free(pool->src.priv, pool->classes[z->cls].info.pages, z->pages);
	}
	for (id = 0; id < ZS_SIZE_CLASSES; id++)
		pthread_mutex_destroy(&pool->classes[id].lock);
	pthread_mutex_destroy(&pool->page_lock);
	pthread_mutex_destroy(&pool->handle_lock);
	pthread_rwlock_destroy(&pool->lock);
	free(pool->page_zspage);
	free(pool->zspages);
	free(pool->free_ids);
	free(pool->handles);
	free(pool->free_handles);
	free(pool);
}
