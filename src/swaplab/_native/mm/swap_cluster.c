// SPDX-License-Identifier: GPL-2.0-only
/*
 * The cluster lists of a swap area and the order-0 allocation walk over
 * them.  See include/swaplab/swap_cluster.h.
 */
#include <stddef.h>

#include <swaplab/swap_cluster.h>

void clusters_init(struct swap_clusters *cl)
{
	long i;

	for (i = 0; i < 2 * CLUSTER_NR_LISTS; i++)
		cl->heads[i] = CLUSTER_NIL;
	for (i = 0; i < cl->nr; i++) {
		cl->links[2 * i] = CLUSTER_NIL;
		cl->links[2 * i + 1] = CLUSTER_NIL;
		cl->flags[i] = CLUSTER_FLAG_NONE;
	}
}

static void list_del_cluster(struct swap_clusters *cl, int list, long c)
{
	int32_t next = cl->links[2 * c], prev = cl->links[2 * c + 1];

	if (prev == CLUSTER_NIL)
		cl->heads[2 * list] = next;
	else
		cl->links[2 * prev] = next;
	if (next == CLUSTER_NIL)
		cl->heads[2 * list + 1] = prev;
	else
		cl->links[2 * next + 1] = prev;
	cl->links[2 * c] = CLUSTER_NIL;
	cl->links[2 * c + 1] = CLUSTER_NIL;
}

static void list_add_tail_cluster(struct swap_clusters *cl, int list, long c)
{
	int32_t last = cl->heads[2 * list + 1];

	cl->links[2 * c] = CLUSTER_NIL;
	cl->links[2 * c + 1] = last;
	if (last == CLUSTER_NIL)
		cl->heads[2 * list] = (int32_t)c;
	else
		cl->links[2 * last] = (int32_t)c;
	cl->heads[2 * list + 1] = (int32_t)c;
}

void cluster_move(struct swap_clusters *cl, long c, unsigned int flag)
{
	int list = cluster_list_id(cl->flags[c], cl->order[c]);

	if (list >= 0)
		list_del_cluster(cl, list, c);
	cl->flags[c] = (uint8_t)flag;
	if (flag == CLUSTER_FLAG_FREE)
		cl->order[c] = 0;
	list = cluster_list_id(flag, cl->order[c]);
	if (list >= 0)
		list_add_tail_cluster(cl, list, c);
}

int cluster_relocate(struct swap_clusters *cl, long c)
{
	int32_t n = cl->count[c];
	uint8_t flag = cl->flags[c];

	if (n == 0) {
		cluster_move(cl, c, CLUSTER_FLAG_FREE);
		return 1;
	}
	if (n >= SWAPFILE_CLUSTER)
		cluster_move(cl, c, CLUSTER_FLAG_FULL);
	else if (flag == CLUSTER_FLAG_FREE || flag == CLUSTER_FLAG_FULL)
		cluster_move(cl, c, CLUSTER_FLAG_NONFULL);
	return 0;
}

/*
 * The free slots after @hint to the end of its cluster for the folios at
 * @pfns[0..@nr), as swap_alloc_walk says; how many, -1 when the cluster is
 * not usable (nothing taken), -2 when its lock is busy, -3 when the lock
 * callback failed.
 */
static long take_run(struct swap_table *st, struct mem_map *map, struct swap_clusters *cl,
		     const struct cluster_lock_ops *locks, uint64_t max, int64_t *hint,
		     int64_t *area_next, const int64_t *pfns, long nr, int64_t *offs,
		     uint64_t type)
{
	uint64_t h = (uint64_t)*hint, end, nxt;
	long c = (long)(h / SWAPFILE_CLUSTER), n;
	int got;

	if (h >= max || !cluster_usable(cl, c, 0))
		return -1;
	got = locks->trylock(locks->arg, c);
	if (got <= 0)
		return got < 0 ? -3 : -2;
	end = (uint64_t)(c + 1) * SWAPFILE_CLUSTER;
	if (end > st->nr_slots)
		end = st->nr_slots;
	n = swap_alloc_scan(st, map, h, end, pfns, nr, offs, type);
	if (n) {
		cl->count[c] += (int32_t)n;
		cluster_relocate(cl, c);
		/* the hints never leave the cluster (cleared when it is used up) */
		nxt = (uint64_t)offs[n - 1] + 1;
		*area_next = nxt % SWAPFILE_CLUSTER ? (int64_t)nxt : 0;
		*hint = nxt % SWAPFILE_CLUSTER ? (int64_t)nxt : CLUSTER_NIL;
	}
	locks->unlock(locks->arg, c);
	return n;
}

/* Is the cluster of slot @off usable for order 0 (CLUSTER_NIL, or @max on: no)? */
static int offset_usable(const struct swap_clusters *cl, uint64_t max, int64_t off)
{
	return off >= 0 && (uint64_t)off < max &&
	       cluster_usable(cl, (long)((uint64_t)off / SWAPFILE_CLUSTER), 0);
}

/*
 * Where folio_alloc_swap would put the next folio once nothing is left after
 * the hint, when that is plain: the first slot of the nonfull list's first
 * cluster, provided the walk may choose a cluster and neither the hint's
 * cluster nor the area's next offset (0: none) is usable (those it would
 * scan again from their start).  CLUSTER_NIL when the choice is
 * folio_alloc_swap's.
 */
static int64_t next_cluster_hint(const struct swap_clusters *cl, uint64_t max, int64_t hint,
				 int64_t area_next, int may_next)
{
	long c;

	if (!may_next || offset_usable(cl, max, hint) ||
	    offset_usable(cl, max, area_next ? area_next : CLUSTER_NIL))
		return CLUSTER_NIL;
	c = cluster_first(cl, CLUSTER_LIST_NONFULL);
	return c == CLUSTER_NIL ? CLUSTER_NIL : (int64_t)c * SWAPFILE_CLUSTER;
}

long swap_alloc_walk(struct swap_table *st, struct mem_map *map, struct swap_clusters *cl,
		     const struct cluster_lock_ops *locks, uint64_t max, int64_t *hint,
		     int64_t *area_next, int may_next, const int64_t *pfns, long nr,
		     int64_t *offs, uint64_t type, int *why)
{
	long k = 0, got;
	int64_t next;

	*why = SWAP_WALK_DONE;
	while (k < nr) {
		got = *hint >= 0 ? take_run(st, map, cl, locks, max, hint, area_next, pfns + k,
					    nr - k, offs + k, type) : -1;
		if (got == 0 || got == -1) {	/* nothing after the hint */
			next = next_cluster_hint(cl, max, *hint, *area_next, may_next);
			if (next == CLUSTER_NIL) {
				*why = SWAP_WALK_SLOW;
				break;
			}
			*hint = next;
			got = take_run(st, map, cl, locks, max, hint, area_next, pfns + k, nr - k,
				       offs + k, type);
			if (got == 0 || got == -1) {
				*why = SWAP_WALK_SLOW;
				break;
			}
		}
		if (got < 0) {
			*why = got == -2 ? SWAP_WALK_BUSY : SWAP_WALK_ERROR;
			break;
		}
		k += got;
	}
	return k;
}
