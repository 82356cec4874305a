// SPDX-License-Identifier: GPL-2.0-only
/*
 * swaplab._native.SwapTable: one swap area's swap_map and swap-cache
 * arrays (swaplab.mm.swapfile.SwapInfo) held as buffers, and the steps of
 * mm/swap_table.c on them.  The methods take plain ints (METH_FASTCALL:
 * they run on every fault), do not release the GIL and never wait; the
 * caller holds the cluster lock (and, for swapin_map, the flag lock).
 * The interface and its documentation are swaplab.mm.swapfile.
 */
#include "bindings.h"

#include <errno.h>
#include <string.h>

#include <swaplab/swap_cluster.h>
#include <swaplab/swap_table.h>

typedef struct {
	PyObject_HEAD
	struct swap_table st;
	Py_buffer views[2];	/* swap_map, cache */
	int nr_views;
} SwapTableObject;

static void SwapTable_release(SwapTableObject *self)
{
	while (self->nr_views > 0)
		PyBuffer_Release(&self->views[--self->nr_views]);
	memset(&self->st, 0, sizeof(self->st));
}

static int SwapTable_init(SwapTableObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"swap_map", "cache", NULL};
	PyObject *map_o, *cache_o;
	const char *fmt;
	Py_buffer *v;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO:SwapTable", kwlist, &map_o, &cache_o))
		return -1;
	SwapTable_release(self);
	v = &self->views[0];
	if (PyObject_GetBuffer(map_o, v, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
		return -1;
	self->nr_views = 1;
	fmt = v->format;
	if (fmt && (fmt[0] == '<' || fmt[0] == '=' || fmt[0] == '@'))
		fmt++;
	if (v->ndim != 1 || v->itemsize != 2 || !fmt || strcmp(fmt, "H")) {
		raise_einval("SwapTable: swap_map must be a 1-D uint16 array");
		goto fail;
	}
	if (int64_buffer_arg(cache_o, &self->views[1], 1, "SwapTable: cache") < 0)
		goto fail;
	self->nr_views = 2;
	if (self->views[1].ndim != 1 || self->views[1].shape[0] != v->shape[0]) {
		raise_einval("SwapTable: cache has %zd slots, swap_map %zd",
			     self->views[1].shape[0], v->shape[0]);
		goto fail;
	}
	self->st.swap_map = v->buf;
	self->st.cache = self->views[1].buf;
	self->st.nr_slots = (uint64_t)v->shape[0];
	return 0;
fail:
	SwapTable_release(self);
	return -1;
}

static void SwapTable_dealloc(SwapTableObject *self)
{
	SwapTable_release(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int table_ready(SwapTableObject *self)
{
	if (self->st.swap_map)
		return 0;
	PyErr_SetString(PyExc_RuntimeError, "SwapTable is not initialised");
	return -1;
}

/* (off, nr) of a method call, checked against the table; 0 or -1. */
static int slot_range(SwapTableObject *self, PyObject *const *args, Py_ssize_t nargs,
		      Py_ssize_t n, long long *out, const char *name)
{
	if (table_ready(self) < 0)
		return -1;
	if (fast_ints(args, nargs, n, out, name) < 0)
		return -1;
	if (out[0] < 0 || out[1] > 512 ||
	    !swap_table_range_ok(&self->st, (uint64_t)out[0], (long)out[1])) {
		raise_einval("%s: slots %lld (+%lld) outside the table of %llu", name, out[0],
			     out[1], (unsigned long long)self->st.nr_slots);
		return -1;
	}
	return 0;
}

/*
 * The MemMap a method takes as its first argument, once the table and the
 * number of arguments (@n) are checked; NULL with an exception set.
 */
static struct mem_map *map_call(SwapTableObject *self, PyObject *const *args,
				Py_ssize_t nargs, Py_ssize_t n, const char *name)
{
	if (table_ready(self) < 0)
		return NULL;
	if (nargs != n) {
		PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, n,
			     nargs);
		return NULL;
	}
	return mem_map_of(args[0]);
}

/* The MemMap and the (off, nr, pfn) of cache_add / cache_del, checked; 0 or -1. */
static struct mem_map *folio_slots(SwapTableObject *self, PyObject *const *args,
				   Py_ssize_t nargs, Py_ssize_t n, long long *out,
				   const char *name)
{
	struct mem_map *map = map_call(self, args, nargs, n, name);

	if (!map || slot_range(self, args + 1, n - 1, n - 1, out, name) < 0)
		return NULL;
	if (out[2] < 0 || (uint64_t)out[2] >= map->nr_frames) {
		raise_einval("%s: pfn %lld outside the map of %llu frames", name, out[2],
			     (unsigned long long)map->nr_frames);
		return NULL;
	}
	return map;
}

PyDoc_STRVAR(cache_alloc_doc,
"cache_alloc(mem_map, zone, off, entry, memcg) -> pfn | -EEXIST | -ENOENT | -ENOMEM\n\n"
"A new order-0 folio for slot off, in the swap cache there\n"
"(swap_cache_alloc_folio): a frame of zone charged to cgroup memcg,\n"
"locked, swap-backed, PG_lru, with entry and PG_swapcache.");

static PyObject *SwapTable_cache_alloc(SwapTableObject *self, PyObject *const *args,
				       Py_ssize_t nargs)
{
	struct buddy_zone *zone;
	struct mem_map *map;
	long long a[3];

	map = map_call(self, args, nargs, 5, "cache_alloc");
	if (!map)
		return NULL;
	zone = buddy_zone_of(args[1]);
	if (!zone || fast_ints(args + 2, 3, 3, a, "cache_alloc") < 0)
		return NULL;
	if ((uint64_t)zone->nr_frames != map->nr_frames) {
		raise_einval("cache_alloc: a zone of %lld frames for a map of %llu",
			     (long long)zone->nr_frames, (unsigned long long)map->nr_frames);
		return NULL;
	}
	if (a[0] < 0 || (uint64_t)a[0] >= self->st.nr_slots) {
		raise_einval("cache_alloc: slot %lld outside the table of %llu", a[0],
			     (unsigned long long)self->st.nr_slots);
		return NULL;
	}
	if (a[2] < 0 || a[2] > INT32_MAX) {
		raise_einval("cache_alloc: cgroup id %lld", a[2]);
		return NULL;
	}
	return PyLong_FromLongLong(swap_cache_alloc_folio(&self->st, map, zone, (uint64_t)a[0],
							  (uint64_t)a[1], (int32_t)a[2]));
}

PyDoc_STRVAR(cache_add_doc,
"cache_add(mem_map, off, nr, pfn, entry) -> 0 | -EEXIST | -ENOENT\n\n"
"Cache the folio at pfn in slots [off, off + nr) and give it entry and\n"
"PG_swapcache (swap_cache_add).");

static PyObject *SwapTable_cache_add(SwapTableObject *self, PyObject *const *args,
				     Py_ssize_t nargs)
{
	struct mem_map *map;
	long long a[4];

	map = folio_slots(self, args, nargs, 5, a, "cache_add");
	if (!map)
		return NULL;
	return PyLong_FromLong(swap_cache_add(&self->st, map, (uint64_t)a[0], (long)a[1], a[2],
					      (uint64_t)a[3]));
}

PyDoc_STRVAR(cache_del_doc,
"cache_del(mem_map, off, nr, pfn) -> unused\n\n"
"Take the folio at pfn out of the cache of slots [off, off + nr); return how\n"
"many of them have no reference.");

static PyObject *SwapTable_cache_del(SwapTableObject *self, PyObject *const *args,
				     Py_ssize_t nargs)
{
	struct mem_map *map;
	long long a[3];

	map = folio_slots(self, args, nargs, 4, a, "cache_del");
	if (!map)
		return NULL;
	return PyLong_FromLong(swap_cache_del(&self->st, map, (uint64_t)a[0], (long)a[1], a[2]));
}

PyDoc_STRVAR(put_doc,
"put(off, nr) -> unused | -EINVAL\n\n"
"Drop one reference from each slot of [off, off + nr); return how many are\n"
"left unused (no reference, no cache folio), or -EINVAL (nothing changed).");

/* A per-slot step of (off, nr) with its result as an int. */
static PyObject *slot_step(SwapTableObject *self, PyObject *const *args, Py_ssize_t nargs,
			   const char *name, long (*step)(struct swap_table *, uint64_t, long))
{
	long long a[2];

	if (slot_range(self, args, nargs, 2, a, name) < 0)
		return NULL;
	return PyLong_FromLong(step(&self->st, (uint64_t)a[0], (long)a[1]));
}

static PyObject *SwapTable_put(SwapTableObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	return slot_step(self, args, nargs, "put", swap_put);
}

PyDoc_STRVAR(dup_doc,
"dup(off, nr) -> 0 | -ENOENT | -ENOMEM\n\n"
"Take one more reference on each slot of [off, off + nr).");

static PyObject *SwapTable_dup(SwapTableObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	return slot_step(self, args, nargs, "dup", swap_dup);
}

PyDoc_STRVAR(swapin_map_doc,
"swapin_map(mem_map, ptes, vpn, pfn, mm_id, off, how) -> what | -errno\n\n"
"The end of a swap-in fault on an order-0 folio (swapin_map_folio): map pfn\n"
"at ptes[vpn] (a uint64 array), drop the fault's reference on slot off and,\n"
"as how says, the swap copy.  Returns SWAPIN_* bits, or -EAGAIN (the folio\n"
"is locked), -EIO (not uptodate), -EINVAL; nothing changed on error.");

static PyObject *SwapTable_swapin_map(SwapTableObject *self, PyObject *const *args,
				      Py_ssize_t nargs)
{
	struct mem_map *map;
	Py_buffer ptes;
	long long a[5];
	long ret;

	map = map_call(self, args, nargs, 7, "swapin_map");
	if (!map || fast_ints(args + 2, 5, 5, a, "swapin_map") < 0)
		return NULL;
	if (PyObject_GetBuffer(args[1], &ptes, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
		return NULL;
	if (ptes.itemsize != 8 || a[0] < 0 || a[0] >= ptes.len / 8 || a[4] < 0 ||
	    a[2] < INT32_MIN || a[2] > INT32_MAX) {
		PyBuffer_Release(&ptes);
		return raise_einval("swapin_map: page %lld outside the mm's %zd PTEs, or mm %lld",
				    a[0], ptes.len / 8, a[2]);
	}
	ret = swapin_map_folio(map, &self->st, (uint64_t *)ptes.buf + a[0], a[1],
			       (int32_t)a[2], a[0], (uint64_t)a[3], (unsigned int)a[4]);
	PyBuffer_Release(&ptes);
	return PyLong_FromLong(ret);
}

/* Every offset of @offs inside the table; 0, or -1 with OSError(EINVAL). */
static int offsets_ok(SwapTableObject *self, const int64_t *offs, Py_ssize_t n,
		      const char *name)
{
	Py_ssize_t k;

	for (k = 0; k < n; k++)
		if (offs[k] < 0 || (uint64_t)offs[k] >= self->st.nr_slots) {
			raise_einval("%s: slot %lld outside the table of %llu", name,
				     (long long)offs[k], (unsigned long long)self->st.nr_slots);
			return -1;
		}
	return 0;
}

/* Every frame of @pfns inside @map; 0, or -1 with OSError(EINVAL). */
static int pfns_ok(const struct mem_map *map, const int64_t *pfns, Py_ssize_t n,
		   const char *name)
{
	Py_ssize_t k;

	for (k = 0; k < n; k++)
		if (pfns[k] < 0 || (uint64_t)pfns[k] >= map->nr_frames) {
			raise_einval("%s: pfn %lld outside the map of %llu frames", name,
				     (long long)pfns[k], (unsigned long long)map->nr_frames);
			return -1;
		}
	return 0;
}

PyDoc_STRVAR(find_free_doc,
"find_free(lo, hi, order, start) -> offset | -1\n\n"
"The first free run of 2**order aligned slots in [lo, hi), looking from\n"
"start to hi and then from lo (swap_find_free).");

static PyObject *SwapTable_find_free(SwapTableObject *self, PyObject *const *args,
				     Py_ssize_t nargs)
{
	long long a[4];

	if (table_ready(self) < 0 || fast_ints(args, nargs, 4, a, "find_free") < 0)
		return NULL;
	if (a[0] < 0 || a[1] < a[0] || (uint64_t)a[1] > self->st.nr_slots || a[2] < 0 ||
	    a[2] > 9 || ((a[0] | a[1]) & ((1LL << a[2]) - 1)))
		return raise_einval("find_free: slots [%lld, %lld) of order %lld: not aligned "
				    "or outside the table of %llu", a[0], a[1], a[2],
				    (unsigned long long)self->st.nr_slots);
	return PyLong_FromLongLong(swap_find_free(&self->st, (uint64_t)a[0], (uint64_t)a[1],
						  (unsigned int)a[2], (uint64_t)a[3]));
}

PyDoc_STRVAR(alloc_scan_doc,
"alloc_scan(mem_map, lo, hi, pfns, offs, type) -> n\n\n"
"Take the free slots of [lo, hi) in offset order for the order-0 folios at\n"
"pfns (int64), one each, at most min(len(pfns), len(offs)), adding each\n"
"folio to the swap cache: slot k is cached by pfns[k], that folio gets the\n"
"entry (type, slot) and PG_swapcache, and the offset goes to offs[k] (a\n"
"writable int64 array).  Returns how many were taken (swap_alloc_scan).\n"
"The caller holds the cluster lock and the flag lock.");

static PyObject *SwapTable_alloc_scan(SwapTableObject *self, PyObject *const *args,
				      Py_ssize_t nargs)
{
	Py_buffer pfns, offs;
	struct mem_map *map;
	PyObject *ret = NULL;
	long long a[3];
	long n;

	map = map_call(self, args, nargs, 6, "alloc_scan");
	if (!map || fast_ints(args + 1, 2, 2, a, "alloc_scan") < 0 ||
	    fast_ints(args + 5, 1, 1, a + 2, "alloc_scan") < 0)
		return NULL;
	if (a[0] < 0 || a[1] < a[0] || (uint64_t)a[1] > self->st.nr_slots || a[2] < 0 ||
	    a[2] >= 1LL << (64 - MEM_MAP_SWP_TYPE_SHIFT))
		return raise_einval("alloc_scan: slots [%lld, %lld) of type %lld: outside the "
				    "table of %llu", a[0], a[1], a[2],
				    (unsigned long long)self->st.nr_slots);
	if (int64_buffer_arg(args[3], &pfns, 0, "alloc_scan: pfns") < 0)
		return NULL;
	if (int64_buffer_arg(args[4], &offs, 1, "alloc_scan: offs") < 0)
		goto out_pfns;
	n = (long)(pfns.len < offs.len ? pfns.len : offs.len) / 8;
	if (pfns_ok(map, pfns.buf, n, "alloc_scan") < 0)
		goto out;
	ret = PyLong_FromLong(swap_alloc_scan(&self->st, map, (uint64_t)a[0], (uint64_t)a[1],
					      pfns.buf, n, offs.buf, (uint64_t)a[2]));
out:
	PyBuffer_Release(&offs);
out_pfns:
	PyBuffer_Release(&pfns);
	return ret;
}

PyDoc_STRVAR(dup_slots_doc,
"dup_slots(offs, ok) -> took\n\n"
"One more reference on the slot at each of offs (distinct, int64): ok[k]\n"
"(a writable bool array as long) says whether slot offs[k] took it; returns\n"
"how many did (swap_dup_slots).  The caller holds every slot's cluster lock.");

static PyObject *SwapTable_dup_slots(SwapTableObject *self, PyObject *const *args,
				     Py_ssize_t nargs)
{
	Py_buffer offs, ok;
	PyObject *ret = NULL;

	if (table_ready(self) < 0)
		return NULL;
	if (nargs != 2) {
		PyErr_Format(PyExc_TypeError, "dup_slots() takes 2 arguments (%zd given)", nargs);
		return NULL;
	}
	if (int64_buffer_arg(args[0], &offs, 0, "dup_slots: offs") < 0)
		return NULL;
	if (PyObject_GetBuffer(args[1], &ok, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
		goto out_offs;
	if (ok.itemsize != 1 || ok.len != offs.len / 8)
		raise_einval("dup_slots: ok must be a bool array of %zd items", offs.len / 8);
	else if (offsets_ok(self, offs.buf, offs.len / 8, "dup_slots") == 0)
		ret = PyLong_FromLong(swap_dup_slots(&self->st, offs.buf, (long)(offs.len / 8),
						     ok.buf));
	PyBuffer_Release(&ok);
out_offs:
	PyBuffer_Release(&offs);
	return ret;
}

PyDoc_STRVAR(cache_del_slots_doc,
"cache_del_slots(mem_map, pfns, offs, unused) -> n\n\n"
"The order-0 folios at pfns leave the swap cache of their slots offs (int64\n"
"arrays of one length); the offsets left with no reference go to unused (a\n"
"writable int64 array as long), n of them (swap_cache_del_slots).  The\n"
"caller holds the flag lock and every slot's cluster lock.");

static PyObject *SwapTable_cache_del_slots(SwapTableObject *self, PyObject *const *args,
					   Py_ssize_t nargs)
{
	Py_buffer pfns, offs, unused;
	struct mem_map *map;
	PyObject *ret = NULL;
	Py_ssize_t n;

	map = map_call(self, args, nargs, 4, "cache_del_slots");
	if (!map || int64_buffer_arg(args[1], &pfns, 0, "cache_del_slots: pfns") < 0)
		return NULL;
	if (int64_buffer_arg(args[2], &offs, 0, "cache_del_slots: offs") < 0)
		goto out_pfns;
	if (int64_buffer_arg(args[3], &unused, 1, "cache_del_slots: unused") < 0)
		goto out_offs;
	n = offs.len / 8;
	if (pfns.len != offs.len || unused.len != offs.len) {
		raise_einval("cache_del_slots: %zd pfns, %zd slots, room for %zd unused",
			     pfns.len / 8, n, unused.len / 8);
		goto out;
	}
	if (offsets_ok(self, offs.buf, n, "cache_del_slots") < 0)
		goto out;
	if (pfns_ok(map, pfns.buf, n, "cache_del_slots") < 0)
		goto out;
	ret = PyLong_FromLong(swap_cache_del_slots(&self->st, map, pfns.buf, offs.buf, (long)n,
						   unused.buf));
out:
	PyBuffer_Release(&unused);
out_offs:
	PyBuffer_Release(&offs);
out_pfns:
	PyBuffer_Release(&pfns);
	return ret;
}

/* Every method is METH_FASTCALL, named as its function and its _doc. */
#define FASTCALL_METHOD(name)							\
	{ #name, (PyCFunction)(void (*)(void))SwapTable_##name, METH_FASTCALL, name##_doc }

PyDoc_STRVAR(writeout_scan_doc,
"writeout_scan(mem_map, frames, pfns, type, offs, zeromap, cls) -> (nr_write, nr_zero) | None\n\n"
"swap_writeout's steps for locked, clean swap-cache folios at pfns (int64);\n"
"frames: the machine's pages as a 2-D uint64 array; zeromap: the area's bool\n"
"array.  None, and nothing changed, unless every folio is order 0 and\n"
"cached in this area (swap type type).  Each folio's slot goes into offs\n"
"(int64).  A folio whose slot has no reference is left alone (cls 2:\n"
"folio_free_swap decides); a page of zeroes sets its zeromap bit and is\n"
"unlocked (cls 1); any other clears the bit and goes under writeback,\n"
"unlocked (cls 0).  offs and cls (uint8) are writable arrays as long as\n"
"pfns (swap_writeout_scan).  The caller holds the flag lock.");

static PyObject *SwapTable_writeout_scan(SwapTableObject *self, PyObject *const *args,
					 Py_ssize_t nargs)
{
	Py_buffer frames, pfns, offs, zeromap, cls;
	struct mem_map *map;
	PyObject *ret = NULL;
	long nr_write, nr_zero = 0, n, page_words;
	long long type;

	map = map_call(self, args, nargs, 7, "writeout_scan");
	if (!map || fast_ints(args + 3, 1, 1, &type, "writeout_scan") < 0)
		return NULL;
	if (PyObject_GetBuffer(args[1], &frames, PyBUF_C_CONTIGUOUS | PyBUF_ND) < 0)
		return NULL;
	if (frames.ndim != 2 || frames.itemsize != 8 || (uint64_t)frames.shape[0] != map->nr_frames ||
	    frames.shape[1] < 1) {
		raise_einval("writeout_scan: frames must be the %llu frames as 2-D 64-bit words",
			     (unsigned long long)map->nr_frames);
		goto out_frames;
	}
	page_words = (long)frames.shape[1];
	if (int64_buffer_arg(args[2], &pfns, 0, "writeout_scan: pfns") < 0)
		goto out_frames;
	if (int64_buffer_arg(args[4], &offs, 1, "writeout_scan: offs") < 0)
		goto out_pfns;
	if (PyObject_GetBuffer(args[5], &zeromap, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
		goto out_offs;
	if (PyObject_GetBuffer(args[6], &cls, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
		goto out_zeromap;
	n = (long)(pfns.len / 8);
	if (offs.len != pfns.len || cls.itemsize != 1 || cls.len != n || zeromap.itemsize != 1 ||
	    (uint64_t)zeromap.len != self->st.nr_slots || type < 0) {
		raise_einval("writeout_scan: offs and cls must have one item per pfn (%ld), zeromap "
			     "one byte per slot (%llu), and type %lld be a swap type", n,
			     (unsigned long long)self->st.nr_slots, type);
		goto out;
	}
	if (pfns_ok(map, pfns.buf, n, "writeout_scan") < 0)
		goto out;
	nr_write = swap_writeout_scan(&self->st, map, frames.buf, page_words, pfns.buf, n,
				      (uint64_t)type, offs.buf, zeromap.buf, cls.buf, &nr_zero);
	if (nr_write == -1)
		raise_einval("writeout_scan: a folio's slot lies outside the table of %llu",
			     (unsigned long long)self->st.nr_slots);
	else if (nr_write == -2)
		ret = Py_NewRef(Py_None);
	else
		ret = Py_BuildValue("ll", nr_write, nr_zero);
out:
	PyBuffer_Release(&cls);
out_zeromap:
	PyBuffer_Release(&zeromap);
out_offs:
	PyBuffer_Release(&offs);
out_pfns:
	PyBuffer_Release(&pfns);
out_frames:
	PyBuffer_Release(&frames);
	return ret;
}

static PyMethodDef SwapTable_methods[] = {
	FASTCALL_METHOD(find_free),
	FASTCALL_METHOD(alloc_scan),
	FASTCALL_METHOD(dup_slots),
	FASTCALL_METHOD(writeout_scan),
	FASTCALL_METHOD(cache_del_slots),
	FASTCALL_METHOD(cache_alloc),
	FASTCALL_METHOD(cache_add),
	FASTCALL_METHOD(cache_del),
	FASTCALL_METHOD(put),
	FASTCALL_METHOD(dup),
	FASTCALL_METHOD(swapin_map),
	{NULL, NULL, 0, NULL},
};

#undef FASTCALL_METHOD

static PyTypeObject SwapTable_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "swaplab._native.SwapTable",
	.tp_basicsize = sizeof(SwapTableObject),
	.tp_dealloc = (destructor)SwapTable_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "SwapTable(swap_map, cache): one swap area's slot counts and swap cache",
	.tp_methods = SwapTable_methods,
	.tp_init = (initproc)SwapTable_init,
	.tp_new = PyType_GenericNew,
};

/* --- SwapClusters: the cluster lists (mm/swap_cluster.c) ----------------------------- */

typedef struct {
	PyObject_HEAD
	struct swap_clusters cl;
	Py_buffer views[5];	/* count, flags, order, links, heads */
	int nr_views;
} SwapClustersObject;

static PyTypeObject SwapClusters_Type;

static void SwapClusters_release(SwapClustersObject *self)
{
	while (self->nr_views > 0)
		PyBuffer_Release(&self->views[--self->nr_views]);
	memset(&self->cl, 0, sizeof(self->cl));
}

/* Take @o as a writable 1-D buffer of @n items of @itemsize bytes; 0 or -1. */
static int cluster_view(SwapClustersObject *self, PyObject *o, Py_ssize_t itemsize,
			Py_ssize_t n, const char *what)
{
	Py_buffer *v = &self->views[self->nr_views];

	if (PyObject_GetBuffer(o, v, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
		return -1;
	self->nr_views++;
	if (v->itemsize != itemsize || v->len != n * itemsize) {
		raise_einval("SwapClusters: %s must hold %zd items of %zd bytes (it has %zd "
			     "bytes)", what, n, itemsize, v->len);
		return -1;
	}
	return 0;
}

static int SwapClusters_init(SwapClustersObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"count", "flags", "order", "links", "heads", NULL};
	PyObject *o[5];
	Py_ssize_t nr;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOO:SwapClusters", kwlist, &o[0], &o[1],
					 &o[2], &o[3], &o[4]))
		return -1;
	SwapClusters_release(self);
	if (PyObject_GetBuffer(o[0], &self->views[0], PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
		return -1;
	self->nr_views = 1;
	nr = self->views[0].len / 4;
	if (self->views[0].itemsize != 4) {
		raise_einval("SwapClusters: count must be an int32 array");
		goto fail;
	}
	if (cluster_view(self, o[1], 1, nr, "flags") < 0 ||
	    cluster_view(self, o[2], 1, nr, "order") < 0 ||
	    cluster_view(self, o[3], 4, 2 * nr, "links") < 0 ||
	    cluster_view(self, o[4], 4, 2 * CLUSTER_NR_LISTS, "heads") < 0)
		goto fail;
	self->cl.count = self->views[0].buf;
	self->cl.flags = self->views[1].buf;
	self->cl.order = self->views[2].buf;
	self->cl.links = self->views[3].buf;
	self->cl.heads = self->views[4].buf;
	self->cl.nr = (long)nr;
	clusters_init(&self->cl);
	return 0;
fail:
	SwapClusters_release(self);
	return -1;
}

static void SwapClusters_dealloc(SwapClustersObject *self)
{
	SwapClusters_release(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The cluster number of a call's ints (@a[0]), checked; 0 or -1. */
static int cluster_arg(SwapClustersObject *self, PyObject *const *args, Py_ssize_t nargs,
		       Py_ssize_t n, long long *a, const char *name)
{
	if (!self->cl.count) {
		PyErr_SetString(PyExc_RuntimeError, "SwapClusters is not initialised");
		return -1;
	}
	if (fast_ints(args, nargs, n, a, name) < 0)
		return -1;
	if (a[0] < 0 || a[0] >= self->cl.nr) {
		raise_einval("%s: cluster %lld outside 0..%ld", name, a[0], self->cl.nr - 1);
		return -1;
	}
	return 0;
}

PyDoc_STRVAR(clusters_move_doc,
"move(c, flag)\n\n"
"Cluster c to the tail of the list of flag (1 free, 2 nonfull, 3 frag,\n"
"4 full) for the order it serves; to the free list it serves order 0.");

static PyObject *SwapClusters_move(SwapClustersObject *self, PyObject *const *args,
				   Py_ssize_t nargs)
{
	long long a[2];

	if (cluster_arg(self, args, nargs, 2, a, "move") < 0)
		return NULL;
	if (a[1] < CLUSTER_FLAG_FREE || a[1] > CLUSTER_FLAG_FULL)
		return raise_einval("move: flag %lld is not a list's", a[1]);
	cluster_move(&self->cl, (long)a[0], (unsigned int)a[1]);
	Py_RETURN_NONE;
}

PyDoc_STRVAR(clusters_relocate_doc,
"relocate(c) -> became_free\n\n"
"Cluster c to the list its count says (cluster_relocate); True when it\n"
"became free.");

static PyObject *SwapClusters_relocate(SwapClustersObject *self, PyObject *const *args,
				       Py_ssize_t nargs)
{
	long long a[1];

	if (cluster_arg(self, args, nargs, 1, a, "relocate") < 0)
		return NULL;
	return PyBool_FromLong(cluster_relocate(&self->cl, (long)a[0]));
}

PyDoc_STRVAR(clusters_put_doc,
"put(c, nr) -> became_free\n\n"
"nr slots of cluster c freed: its count drops by nr and it moves to the\n"
"list that says (cluster_relocate); True when it became free.");

static PyObject *SwapClusters_put(SwapClustersObject *self, PyObject *const *args,
				  Py_ssize_t nargs)
{
	long long a[2];

	if (cluster_arg(self, args, nargs, 2, a, "put") < 0)
		return NULL;
	if (a[1] < 1 || a[1] > self->cl.count[a[0]])
		return raise_einval("put: %lld slots of cluster %lld, which has %d in use", a[1],
				    a[0], self->cl.count[a[0]]);
	self->cl.count[a[0]] -= (int32_t)a[1];
	return PyBool_FromLong(cluster_relocate(&self->cl, (long)a[0]));
}

/* The list number of a call (@a[0]), checked; 0 or -1. */
static int list_arg(SwapClustersObject *self, PyObject *const *args, Py_ssize_t nargs,
		    long long *a, const char *name)
{
	if (!self->cl.count) {
		PyErr_SetString(PyExc_RuntimeError, "SwapClusters is not initialised");
		return -1;
	}
	if (fast_ints(args, nargs, 1, a, name) < 0)
		return -1;
	if (a[0] < 0 || a[0] >= CLUSTER_NR_LISTS) {
		raise_einval("%s: list %lld outside 0..%d", name, a[0], CLUSTER_NR_LISTS - 1);
		return -1;
	}
	return 0;
}

PyDoc_STRVAR(clusters_first_doc,
"first(list) -> c | -1\n\n"
"The first cluster of list (0 free, 1 full, 2 + order nonfull, 12 + order\n"
"frag), or -1 when it is empty.");

static PyObject *SwapClusters_first(SwapClustersObject *self, PyObject *const *args,
				    Py_ssize_t nargs)
{
	long long a[1];

	if (list_arg(self, args, nargs, a, "first") < 0)
		return NULL;
	return PyLong_FromLong(cluster_first(&self->cl, (int)a[0]));
}

PyDoc_STRVAR(clusters_members_doc,
"members(list) -> [c, ...]\n\n"
"The clusters of list, first to last.");

static PyObject *SwapClusters_members(SwapClustersObject *self, PyObject *const *args,
				      Py_ssize_t nargs)
{
	PyObject *out;
	long long a[1];
	long c, seen = 0;

	if (list_arg(self, args, nargs, a, "members") < 0)
		return NULL;
	out = PyList_New(0);
	for (c = cluster_first(&self->cl, (int)a[0]); out && c != CLUSTER_NIL;
	     c = cluster_next(&self->cl, c)) {
		if (++seen > self->cl.nr) {	/* a cycle: the links are broken */
			Py_DECREF(out);
			PyErr_SetString(PyExc_RuntimeError, "members: the list has a cycle");
			return NULL;
		}
		if (list_append_int(out, c) < 0) {
			Py_DECREF(out);
			return NULL;
		}
	}
	return out;
}

/* The cluster locks of alloc_walk: threading.Lock objects of a list. */
struct py_cluster_locks {
	PyObject *list;
	PyObject *acquire, *release;	/* method names */
	int failed;
};

static int py_cluster_trylock(void *arg, long c)
{
	struct py_cluster_locks *pl = arg;
	PyObject *lock, *r;
	int got;

	if (c >= PyList_GET_SIZE(pl->list)) {
		raise_einval("alloc_walk: no lock for cluster %ld", c);
		return -1;
	}
	lock = PyList_GET_ITEM(pl->list, c);
	r = PyObject_CallMethodOneArg(lock, pl->acquire, Py_False);
	if (!r)
		return -1;
	got = PyObject_IsTrue(r);
	Py_DECREF(r);
	return got;
}

static void py_cluster_unlock(void *arg, long c)
{
	struct py_cluster_locks *pl = arg;
	PyObject *r = PyObject_CallMethodNoArgs(PyList_GET_ITEM(pl->list, c), pl->release);

	if (!r)
		pl->failed = 1;
	Py_XDECREF(r);
}

PyDoc_STRVAR(clusters_alloc_walk_doc,
"alloc_walk(table, mem_map, locks, max, hint, area_next, may_next, pfns, offs, type)\n"
"    -> (n, hint, area_next, why)\n\n"
"Order-0 slots of area type (its SwapTable table, max slots) for the folios\n"
"at pfns (int64), in order, as folio_alloc_swap calls would place them\n"
"from the per-CPU hint (-1: none) while that is plain (swap_alloc_walk):\n"
"slot k goes to offs[k] (a writable int64 array as long) and its folio\n"
"enters the swap cache there.  locks: the area's cluster locks (a list of\n"
"threading.Lock, tried without waiting).  Returns how many got a slot, the\n"
"hints after them, and why it stopped (0 done, 1 the next folio is\n"
"folio_alloc_swap's, 2 a cluster lock was busy).  The caller holds the\n"
"area's list lock and the flag lock.");

static PyObject *SwapClusters_alloc_walk(SwapClustersObject *self, PyObject *const *args,
					 Py_ssize_t nargs)
{
	static PyObject *acquire, *release;
	struct py_cluster_locks pl = {0};
	struct cluster_lock_ops ops = {py_cluster_trylock, py_cluster_unlock, &pl};
	SwapTableObject *table;
	Py_buffer pfns, offs;
	struct mem_map *map;
	PyObject *ret = NULL;
	long long a[5];
	int64_t hint, area_next;
	long n;
	int why;

	if (!self->cl.count) {
		PyErr_SetString(PyExc_RuntimeError, "SwapClusters is not initialised");
		return NULL;
	}
	if (nargs != 10) {
		PyErr_Format(PyExc_TypeError, "alloc_walk() takes 10 arguments (%zd given)", nargs);
		return NULL;
	}
	if (!PyObject_TypeCheck(args[0], &SwapTable_Type) || !PyList_Check(args[2])) {
		PyErr_SetString(PyExc_TypeError, "alloc_walk: table must be a SwapTable and "
				"locks a list");
		return NULL;
	}
	table = (SwapTableObject *)args[0];
	if (table_ready(table) < 0 || !(map = mem_map_of(args[1])) ||
	    fast_ints(args + 3, 4, 4, a, "alloc_walk") < 0 ||
	    fast_ints(args + 9, 1, 1, a + 4, "alloc_walk") < 0)
		return NULL;
	if (table->st.nr_slots != (uint64_t)self->cl.nr * SWAPFILE_CLUSTER ||
	    PyList_GET_SIZE(args[2]) != self->cl.nr || a[0] < 0 ||
	    (uint64_t)a[0] > table->st.nr_slots || a[1] < -1 || a[1] > a[0] || a[2] < 0 ||
	    a[2] > a[0] || a[4] < 0 || a[4] >= 1LL << (64 - MEM_MAP_SWP_TYPE_SHIFT))
		return raise_einval("alloc_walk: max %lld, hint %lld, area_next %lld, type %lld "
				    "do not fit a table of %llu slots in %ld clusters (%zd locks)",
				    a[0], a[1], a[2], a[4],
				    (unsigned long long)table->st.nr_slots, self->cl.nr,
				    PyList_GET_SIZE(args[2]));
	if (!acquire && !(acquire = PyUnicode_InternFromString("acquire")))
		return NULL;
	if (!release && !(release = PyUnicode_InternFromString("release")))
		return NULL;
	if (int64_buffer_arg(args[7], &pfns, 0, "alloc_walk: pfns") < 0)
		return NULL;
	if (int64_buffer_arg(args[8], &offs, 1, "alloc_walk: offs") < 0)
		goto out_pfns;
	n = (long)(pfns.len < offs.len ? pfns.len : offs.len) / 8;
	if (pfns_ok(map, pfns.buf, n, "alloc_walk") < 0)
		goto out;
	pl.list = args[2];
	pl.acquire = acquire;
	pl.release = release;
	hint = a[1];
	area_next = a[2];
	n = swap_alloc_walk(&table->st, map, &self->cl, &ops, (uint64_t)a[0], &hint,
			    &area_next, a[3] != 0, pfns.buf, n, offs.buf, (uint64_t)a[4], &why);
	if (why == SWAP_WALK_ERROR || pl.failed || PyErr_Occurred()) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_RuntimeError, "alloc_walk: a cluster lock failed");
		goto out;
	}
	ret = Py_BuildValue("lLLi", n, (long long)hint, (long long)area_next, why);
out:
	PyBuffer_Release(&offs);
out_pfns:
	PyBuffer_Release(&pfns);
	return ret;
}

#define CLUSTERS_METHOD(name)							\
	{ #name, (PyCFunction)(void (*)(void))SwapClusters_##name, METH_FASTCALL,	\
	  clusters_##name##_doc }

static PyMethodDef SwapClusters_methods[] = {
	CLUSTERS_METHOD(move),
	CLUSTERS_METHOD(relocate),
	CLUSTERS_METHOD(put),
	CLUSTERS_METHOD(first),
	CLUSTERS_METHOD(members),
	CLUSTERS_METHOD(alloc_walk),
	{NULL, NULL, 0, NULL},
};

#undef CLUSTERS_METHOD

static PyTypeObject SwapClusters_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "swaplab._native.SwapClusters",
	.tp_basicsize = sizeof(SwapClustersObject),
	.tp_dealloc = (destructor)SwapClusters_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "SwapClusters(count, flags, order, links, heads): one swap area's "
		  "clusters and their lists (emptied: every cluster on none)",
	.tp_methods = SwapClusters_methods,
	.tp_init = (initproc)SwapClusters_init,
	.tp_new = PyType_GenericNew,
};

int swap_table_add_types(PyObject *m)
{
	if (PyModule_AddIntConstant(m, "SWAPIN_LOCKED", SWAPIN_LOCKED) < 0 ||
	    PyModule_AddIntConstant(m, "SWAPIN_FREE_SWAP", SWAPIN_FREE_SWAP) < 0 ||
	    PyModule_AddIntConstant(m, "SWAPIN_WRITE", SWAPIN_WRITE) < 0 ||
	    PyModule_AddIntConstant(m, "SWAPIN_BYPASS", SWAPIN_BYPASS) < 0 ||
	    PyModule_AddIntConstant(m, "SWAPIN_DONE", SWAPIN_DONE) < 0 ||
	    PyModule_AddIntConstant(m, "SWAPIN_UNCACHED", SWAPIN_UNCACHED) < 0 ||
	    PyModule_AddIntConstant(m, "SWAPIN_SLOT_FREE", SWAPIN_SLOT_FREE) < 0 ||
	    PyModule_AddIntConstant(m, "PG_LOCKED", PG_locked) < 0 ||
	    PyModule_AddIntConstant(m, "PG_WRITEBACK", PG_writeback) < 0 ||
	    PyModule_AddIntConstant(m, "PG_UPTODATE", PG_uptodate) < 0 ||
	    PyModule_AddIntConstant(m, "PG_DIRTY", PG_dirty) < 0 ||
	    PyModule_AddIntConstant(m, "PG_SWAPCACHE", PG_swapcache) < 0 ||
	    PyModule_AddIntConstant(m, "PG_READAHEAD", PG_readahead) < 0 ||
	    PyModule_AddIntConstant(m, "PG_YOUNG", PG_young) < 0 ||
	    PyModule_AddIntConstant(m, "PG_REFERENCED", PG_referenced) < 0 ||
	    PyModule_AddIntConstant(m, "PG_LRU", PG_lru) < 0 ||
	    PyModule_AddIntConstant(m, "PG_ACTIVE", PG_active) < 0 ||
	    PyModule_AddIntConstant(m, "PG_SWAPBACKED", PG_swapbacked) < 0 ||
	    PyModule_AddIntConstant(m, "SWAP_WO_WRITE", SWAP_WO_WRITE) < 0 ||
	    PyModule_AddIntConstant(m, "SWAP_WO_ZERO", SWAP_WO_ZERO) < 0 ||
	    PyModule_AddIntConstant(m, "SWAP_WO_SLOW", SWAP_WO_SLOW) < 0 ||
	    PyModule_AddIntConstant(m, "FOLIOREF_RECLAIM", FOLIOREF_RECLAIM) < 0 ||
	    PyModule_AddIntConstant(m, "FOLIOREF_KEEP", FOLIOREF_KEEP) < 0 ||
	    PyModule_AddIntConstant(m, "FOLIOREF_ACTIVATE", FOLIOREF_ACTIVATE) < 0 ||
	    PyModule_AddIntConstant(m, "CLUSTER_NR_LISTS", CLUSTER_NR_LISTS) < 0 ||
	    PyModule_AddIntConstant(m, "SWAP_WALK_DONE", SWAP_WALK_DONE) < 0 ||
	    PyModule_AddIntConstant(m, "SWAP_WALK_SLOW", SWAP_WALK_SLOW) < 0 ||
	    PyModule_AddIntConstant(m, "SWAP_WALK_BUSY", SWAP_WALK_BUSY) < 0)
		return -1;
	if (PyModule_AddType(m, &SwapClusters_Type) < 0)
		return -1;
	return PyModule_AddType(m, &SwapTable_Type);
}
