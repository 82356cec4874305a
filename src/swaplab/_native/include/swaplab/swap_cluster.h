/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * One swap area's clusters (struct swap_cluster_info) and the lists they
 * sit on, as arrays: per cluster of SWAPFILE_CLUSTER slots its count of
 * slots in use (references or a cache folio; bad slots count too), its
 * flag (which list), the order it serves, and its list links; per list its
 * first and last cluster.  A cluster is on exactly one list (free, full,
 * nonfull[order] or frag[order]) once the area is set up; lists keep
 * insertion order, moves go to the tail (list_move_tail).  The arrays belong
 * to swaplab.mm.swapfile.SwapInfo; the caller holds the area's list lock
 * (si->lock) for every step here.
 */
#ifndef _SWAPLAB_SWAP_CLUSTER_H
#define _SWAPLAB_SWAP_CLUSTER_H

#include <stdint.h>

#include <swaplab/swap_table.h>

#define SWAPFILE_CLUSTER	512
#define SWAP_NR_ORDERS		10

enum cluster_flag {
	CLUSTER_FLAG_NONE = 0,	/* on no list (only while the area is set up) */
	CLUSTER_FLAG_FREE = 1,
	CLUSTER_FLAG_NONFULL = 2,
	CLUSTER_FLAG_FRAG = 3,
	CLUSTER_FLAG_FULL = 4,
};

/* The lists: free, full, then nonfull and frag per order. */
#define CLUSTER_LIST_FREE	0
#define CLUSTER_LIST_FULL	1
#define CLUSTER_LIST_NONFULL	2
#define CLUSTER_LIST_FRAG	(CLUSTER_LIST_NONFULL + SWAP_NR_ORDERS)
#define CLUSTER_NR_LISTS	(CLUSTER_LIST_FRAG + SWAP_NR_ORDERS)

#define CLUSTER_NIL		(-1)	/* no cluster: a list's end */

struct swap_clusters {
	int32_t *count;		/* slots in use */
	uint8_t *flags;		/* enum cluster_flag */
	uint8_t *order;		/* the order the cluster serves */
	int32_t *links;		/* [2 c] next, [2 c + 1] prev */
	int32_t *heads;		/* [2 l] first, [2 l + 1] last of list l */
	long nr;		/* clusters */
};

/* The list a cluster with @flag serving @order sits on (-1: none). */
static inline int cluster_list_id(unsigned int flag, unsigned int order)
{
	switch (flag) {
	case CLUSTER_FLAG_FREE:
		return CLUSTER_LIST_FREE;
	case CLUSTER_FLAG_FULL:
		return CLUSTER_LIST_FULL;
	case CLUSTER_FLAG_NONFULL:
		return CLUSTER_LIST_NONFULL + (int)order;
	case CLUSTER_FLAG_FRAG:
		return CLUSTER_LIST_FRAG + (int)order;
	default:
		return -1;
	}
}

/* cluster_is_usable for @order: serving @order, neither free nor full. */
static inline int cluster_usable(const struct swap_clusters *cl, long c, unsigned int order)
{
	return cl->order[c] == order && cl->flags[c] != CLUSTER_FLAG_FREE &&
	       cl->flags[c] != CLUSTER_FLAG_FULL;
}

/* Empty every list; each cluster on none (CLUSTER_FLAG_NONE). */
void clusters_init(struct swap_clusters *cl);

/*
 * cluster_move - take cluster @c off its list (if any) and put it at the
 * tail of the list of @flag; a cluster moved to the free list serves
 * order 0 again.
 */
void cluster_move(struct swap_clusters *cl, long c, unsigned int flag);

/*
 * cluster_relocate - put cluster @c on the list its count says after an
 * allocation or a free: no slot in use -> free, every slot -> full, and a
 * cluster that was free or full and is neither now -> nonfull of its
 * order; a nonfull or frag cluster stays where it is.  Returns 1 when it
 * became free (the caller discards its slots), else 0.
 */
int cluster_relocate(struct swap_clusters *cl, long c);

/* The first cluster of list @list, or CLUSTER_NIL. */
static inline long cluster_first(const struct swap_clusters *cl, int list)
{
	return cl->heads[2 * list];
}

/* The cluster after @c on its list, or CLUSTER_NIL. */
static inline long cluster_next(const struct swap_clusters *cl, long c)
{
	return cl->links[2 * c];
}

/* A cluster lock the walk takes: try (nonzero: held now) and release. */
struct cluster_lock_ops {
	int (*trylock)(void *arg, long c);
	void (*unlock)(void *arg, long c);
	void *arg;
};

/* How swap_alloc_walk stopped (*@why). */
enum swap_walk_stop {
	SWAP_WALK_DONE = 0,	/* every folio has a slot */
	SWAP_WALK_SLOW = 1,	/* the next folio is folio_alloc_swap's to place */
	SWAP_WALK_BUSY = 2,	/* a cluster lock was busy: the slow path waits */
	SWAP_WALK_ERROR = 3,	/* a lock callback failed (its error is set) */
};

/*
 * swap_alloc_walk - order-0 slots for the folios at @pfns[0..@nr), in
 * order, as that many folio_alloc_swap calls on an area that is the only
 * one with room would place them while their allocation stays plain: each
 * continues at the per-CPU hint *@hint (CLUSTER_NIL: none), taking the free
 * slots after it to the end of its cluster, one a folio (each folio enters
 * the swap cache there, as swap_alloc_scan); when that cluster has none
 * left after the hint and @may_next, the next folio would go to the first
 * cluster on the nonfull list of order 0 (cluster_alloc_swap_entry's first
 * choice) provided neither the hint's cluster nor the area's own next
 * offset *@area_next is still usable; otherwise the walk stops and the
 * next folio is the caller's (folio_alloc_swap scans a usable cluster from
 * its start again).  Each cluster is taken with @locks' trylock; a busy
 * one stops the walk.  Counts, lists, *@hint and *@area_next (0: none)
 * follow each cluster's allocation; slot k's offset goes to @offs[k].
 * Returns how many folios got a slot, the reason it stopped in *@why.  The
 * caller holds the area's list lock and the flag lock, and charged the
 * slots to the folios' cgroup.
 */
long swap_alloc_walk(struct swap_table *st, struct mem_map *map, struct swap_clusters *cl,
		     const struct cluster_lock_ops *locks, uint64_t max, int64_t *hint,
		     int64_t *area_next, int may_next, const int64_t *pfns, long nr,
		     int64_t *offs, uint64_t type, int *why);

#endif /* _SWAPLAB_SWAP_CLUSTER_H */
