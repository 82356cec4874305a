// SPDX-License-Identifier: GPL-2.0-only
/*
 * swaplab._native.MemMap: the machine's per-frame arrays (flags, order,
 * folio->swap, memcg, the reverse map's mapping and index of
 * swaplab.mm.page_alloc.PhysMem) held as buffers, and
 * the swap core's batch walks over them (mm/mem_map.c).  The methods do not
 * release the GIL (they are short and never wait); the caller holds the
 * Python locks that guard the arrays.  The interface and its documentation
 * are swaplab.mm.page_alloc and swaplab.mm.page_io.
 */
#include "bindings.h"

#include <string.h>

#include <swaplab/mem_map.h>

#define NR_FIELDS 6

typedef struct {
	PyObject_HEAD
	struct mem_map map;
	Py_buffer views[NR_FIELDS];	/* flags, order, swap, memcg, mapping, index */
	int nr_views;
	PyObject *pfn_name;	/* "pfn", interned */
} MemMapObject;

static const struct {
	const char *name, *format;
	Py_ssize_t itemsize;
} fields[NR_FIELDS] = {
	{"flags", "I", 4}, {"order", "b", 1}, {"swap", "Q", 8}, {"memcg", "i", 4},
	{"mapping", "i", 4}, {"index", "q", 8},
};

/* A format character naming an integer of @itemsize bytes and the same
 * signedness as @want ("I", "b", "Q", "i", "q" or their 'l'/'L' twins). */
static int format_ok(const char *got, const char *want, Py_ssize_t itemsize,
		     Py_ssize_t want_size)
{
	char g, w = want[0];

	if (!got || itemsize != want_size)
		return 0;
	if (got[0] == '<' || got[0] == '=' || got[0] == '@')
		got++;
	g = got[0];
	if (!g || got[1])
		return 0;
	if (w == 'I' || w == 'Q')
		return g == 'I' || g == 'L' || g == 'Q' || (g == 'B' && want_size == 1);
	return g == 'i' || g == 'l' || g == 'q' || (g == 'b' && want_size == 1);
}

static void MemMap_release(MemMapObject *self)
{
	while (self->nr_views > 0)
		PyBuffer_Release(&self->views[--self->nr_views]);
	memset(&self->map, 0, sizeof(self->map));
}

static int MemMap_init(MemMapObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"flags", "order", "swap", "memcg", "mapping", "index", NULL};
	PyObject *arrays[NR_FIELDS];
	Py_ssize_t nr = -1;
	int i;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOOOO:MemMap", kwlist, &arrays[0],
					 &arrays[1], &arrays[2], &arrays[3], &arrays[4],
					 &arrays[5]))
		return -1;
	MemMap_release(self);
	for (i = 0; i < NR_FIELDS; i++) {
		Py_buffer *v = &self->views[i];

		if (PyObject_GetBuffer(arrays[i], v, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS |
				       PyBUF_FORMAT) < 0)
			goto fail;
		self->nr_views++;
		if (v->ndim != 1 || !format_ok(v->format, fields[i].format, v->itemsize,
						fields[i].itemsize)) {
			raise_einval("MemMap: %s must be a 1-D array of %zd-byte %s integers",
				     fields[i].name, fields[i].itemsize,
				     fields[i].format[0] <= 'Z' ? "unsigned" : "signed");
			goto fail;
		}
		if (nr >= 0 && v->shape[0] != nr) {
			raise_einval("MemMap: %s has %zd frames, flags %zd", fields[i].name,
				     v->shape[0], nr);
			goto fail;
		}
		nr = v->shape[0];
	}
	self->map.flags = self->views[0].buf;
	self->map.order = self->views[1].buf;
	self->map.swap = self->views[2].buf;
	self->map.memcg = self->views[3].buf;
	self->map.mapping = self->views[4].buf;
	self->map.index = self->views[5].buf;
	self->map.nr_frames = (uint64_t)nr;
	if (!self->pfn_name)
		self->pfn_name = PyUnicode_InternFromString("pfn");
	return self->pfn_name ? 0 : -1;
fail:
	MemMap_release(self);
	return -1;
}

static void MemMap_dealloc(MemMapObject *self)
{
	MemMap_release(self);
	Py_CLEAR(self->pfn_name);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ready(MemMapObject *self)
{
	if (!self->map.flags) {
		PyErr_SetString(PyExc_RuntimeError, "MemMap is not initialised");
		return 0;
	}
	return 1;
}

/* The prologue of a METH_FASTCALL method: the map is initialised and
 * @nargs is @n; 0, or -1 with the exception set. */
static int fast_args(MemMapObject *self, Py_ssize_t nargs, Py_ssize_t n, const char *name)
{
	if (!ready(self))
		return -1;
	if (nargs != n) {
		PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name, n,
			     nargs);
		return -1;
	}
	return 0;
}

PyDoc_STRVAR(folios_pages_doc,
"folios_pages(folios, out) -> (nr_folios, nr_pages)\n\n"
"The head pfn of every folio of the list into out[0], the pfn of every page\n"
"into out[1] and its swap offset into out[2] (out: int64, shape (3, cap)).");

static PyObject *MemMap_folios_pages(MemMapObject *self, PyObject *args)
{
	PyObject *folios, *out_o, *seq;
	Py_buffer out;
	Py_ssize_t n, i, cap;
	int64_t *heads;
	long pages;

	if (!PyArg_ParseTuple(args, "OO:folios_pages", &folios, &out_o) || !ready(self))
		return NULL;
	seq = PySequence_Fast(folios, "folios_pages: folios must be a sequence");
	if (!seq)
		return NULL;
	if (int64_buffer_arg(out_o, &out, 1, "MemMap: out") < 0) {
		Py_DECREF(seq);
		return NULL;
	}
	n = PySequence_Fast_GET_SIZE(seq);
	cap = out.ndim == 2 && out.shape[0] == 3 ? out.shape[1] : -1;
	if (cap < n) {
		raise_einval("folios_pages: out must have shape (3, >= %zd)", n);
		goto fail;
	}
	heads = out.buf;
	for (i = 0; i < n; i++) {
		PyObject *pfn = PyObject_GetAttr(PySequence_Fast_GET_ITEM(seq, i), self->pfn_name);

		if (!pfn)
			goto fail;
		heads[i] = PyLong_AsLongLong(pfn);
		Py_DECREF(pfn);
		if (heads[i] == -1 && PyErr_Occurred())
			goto fail;
	}
	pages = folios_pages(&self->map, heads, (long)n, heads + cap, heads + 2 * cap, (long)cap);
	if (pages == -1) {
		raise_einval("folios_pages: a folio's pfn or order is outside the map");
		goto fail;
	}
	if (pages == -2) {
		raise_einval("folios_pages: the folios have more than %zd pages (the batch's len)", cap);
		goto fail;
	}
	PyBuffer_Release(&out);
	Py_DECREF(seq);
	return Py_BuildValue("nl", n, pages);
fail:
	PyBuffer_Release(&out);
	Py_DECREF(seq);
	return NULL;
}

PyDoc_STRVAR(end_io_doc,
"end_io(heads, set, clear, ev=None, item=0) -> (nr_pages, orders)\n\n"
"flags = (flags | set) & ~clear on every folio at the int64 heads; with ev\n"
"(the cgroups' int64 event table) each folio's pages are added to\n"
"ev[memcg, item].  orders: a tuple of folios per order when any folio is\n"
"large, else None.  Nothing changes when a head or cgroup is out of range.");

static PyObject *MemMap_end_io(MemMapObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"heads", "set", "clear", "ev", "item", NULL};
	PyObject *heads_o, *ev_o = Py_None, *orders;
	unsigned long long set, clear;
	Py_buffer heads, ev = {0};
	long nr_order[MEM_MAP_MAX_ORDER + 1];
	long item = 0, pages, i;
	int large = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "OKK|Ol:end_io", kwlist, &heads_o, &set,
					 &clear, &ev_o, &item) || !ready(self))
		return NULL;
	if (int64_buffer_arg(heads_o, &heads, 0, "MemMap: heads") < 0)
		return NULL;
	if (ev_o != Py_None) {
		if (int64_buffer_arg(ev_o, &ev, 1, "MemMap: ev") < 0)
			goto fail;
		if (ev.ndim != 2 || item < 0 || item >= ev.shape[1]) {
			raise_einval("end_io: ev must be 2-D with a column %ld", item);
			goto fail;
		}
	}
	pages = folios_end_io(&self->map, heads.buf, (long)(heads.len / 8), (uint32_t)set,
			      (uint32_t)clear, nr_order, ev.buf,
			      ev.buf ? (long)ev.shape[0] : 0, ev.buf ? (long)ev.shape[1] : 0, item);
	if (pages < 0) {
		raise_einval("end_io: a folio's pfn, order or cgroup is out of range");
		goto fail;
	}
	for (i = 1; i <= MEM_MAP_MAX_ORDER; i++)
		large |= nr_order[i] != 0;
	if (large) {
		orders = PyTuple_New(MEM_MAP_MAX_ORDER + 1);
		if (!orders)
			goto fail;
		for (i = 0; i <= MEM_MAP_MAX_ORDER; i++) {
			PyObject *c = PyLong_FromLong(nr_order[i]);

			if (!c) {
				Py_DECREF(orders);
				goto fail;
			}
			PyTuple_SET_ITEM(orders, i, c);
		}
	} else {
		orders = Py_NewRef(Py_None);
	}
	if (ev.buf)
		PyBuffer_Release(&ev);
	PyBuffer_Release(&heads);
	return Py_BuildValue("lN", pages, orders);
fail:
	if (ev.buf)
		PyBuffer_Release(&ev);
	PyBuffer_Release(&heads);
	return NULL;
}

PyDoc_STRVAR(touch_doc,
"touch(ptes, vpns, writes, k) -> index\n\n"
"The MMU's part of accesses vpns[k:] of one mm (ptes: its uint64 PTE\n"
"array; vpns: int64; writes: bool, one per access): each read of a present\n"
"PTE sets PG_young on the frame it maps, up to the first write or\n"
"non-present PTE, whose index is returned (len(vpns) when all are done;\n"
"mmu_read_present).  The caller holds the flag lock.");

static PyObject *MemMap_touch(MemMapObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	Py_buffer ptes, vpns, writes;
	PyObject *ret = NULL;
	long long k;
	long n, got;

	if (fast_args(self, nargs, 4, "touch") < 0)
		return NULL;
	k = PyLong_AsLongLong(args[3]);
	if (k == -1 && PyErr_Occurred())
		return NULL;
	if (PyObject_GetBuffer(args[0], &ptes, PyBUF_C_CONTIGUOUS) < 0)
		return NULL;
	if (int64_buffer_arg(args[1], &vpns, 0, "touch: vpns") < 0)
		goto out_ptes;
	if (PyObject_GetBuffer(args[2], &writes, PyBUF_C_CONTIGUOUS) < 0)
		goto out_vpns;
	n = (long)(vpns.len / 8);
	if (ptes.itemsize != 8 || writes.itemsize != 1 || writes.len != n || k < 0 || k > n) {
		raise_einval("touch: ptes must be uint64 and writes one bool per access (%ld), "
			     "from access %lld", n, k);
		goto out;
	}
	got = mmu_read_present(&self->map, ptes.buf, (uint64_t)(ptes.len / 8), vpns.buf,
			       writes.buf, (long)k, n);
	if (got < 0)
		raise_einval("touch: an access outside the mm's %zd pages, or a PTE mapping a "
			     "frame outside the map", ptes.len / 8);
	else
		ret = PyLong_FromLong(got);
out:
	PyBuffer_Release(&writes);
out_vpns:
	PyBuffer_Release(&vpns);
out_ptes:
	PyBuffer_Release(&ptes);
	return ret;
}

/*
 * The buffers of a per-folio batch call: @heads (int64) and an output of one
 * byte per head (@out, writable: a bool or uint8 array of the same length).
 * 0, or -1 with an exception set and nothing held.
 */
static int heads_and_out(PyObject *heads_o, PyObject *out_o, Py_buffer *heads, Py_buffer *out,
			 const char *what)
{
	if (int64_buffer_arg(heads_o, heads, 0, what) < 0)
		return -1;
	if (PyObject_GetBuffer(out_o, out, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0) {
		PyBuffer_Release(heads);
		return -1;
	}
	if (out->itemsize != 1 || out->len != heads->len / 8) {
		raise_einval("%s: the output must be one byte per folio (%zd), not %zd bytes "
			     "in items of %zd", what, heads->len / 8, out->len, out->itemsize);
		PyBuffer_Release(out);
		PyBuffer_Release(heads);
		return -1;
	}
	return 0;
}

/* An unsigned 32-bit flag mask argument; 0, or -1 with an exception set. */
static int flags_arg(PyObject *o, uint32_t *v)
{
	unsigned long long x = PyLong_AsUnsignedLongLong(o);

	if (x == (unsigned long long)-1 && PyErr_Occurred())
		return -1;
	if (x > UINT32_MAX) {
		raise_einval("MemMap: flag mask %llu does not fit in 32 bits", x);
		return -1;
	}
	*v = (uint32_t)x;
	return 0;
}

PyDoc_STRVAR(test_set_doc,
"test_set(heads, mask, want, set, clear, hit) -> hits\n\n"
"For each folio at the int64 heads whose flags & mask == want: flags =\n"
"(flags | set) & ~clear and hit[i] = True; the others are left alone with\n"
"hit[i] = False (hit: bool, one per head).  Returns the number of hits;\n"
"nothing changes when a head is out of range.  The caller holds the flag\n"
"lock (folios_test_set).");

static PyObject *MemMap_test_set(MemMapObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	uint32_t m[4];
	Py_buffer heads, hit;
	long got;
	int i;

	if (fast_args(self, nargs, 6, "test_set") < 0)
		return NULL;
	for (i = 0; i < 4; i++)
		if (flags_arg(args[1 + i], &m[i]) < 0)
			return NULL;
	if (heads_and_out(args[0], args[5], &heads, &hit, "test_set") < 0)
		return NULL;
	got = folios_test_set(&self->map, heads.buf, (long)(heads.len / 8), m[0], m[1], m[2],
			      m[3], hit.buf);
	PyBuffer_Release(&hit);
	PyBuffer_Release(&heads);
	if (got < 0)
		return raise_einval("test_set: a folio's pfn or order is outside the map");
	return PyLong_FromLong(got);
}

PyDoc_STRVAR(check_references_doc,
"check_references(heads, ref) -> nr_reclaim\n\n"
"folio_check_references for isolated folios (int64 heads): PG_young\n"
"is tested and cleared; ref[i] (uint8) becomes 2 (activate: young and\n"
"already PG_referenced), 1 (keep: young, now PG_referenced) or 0 (reclaim:\n"
"not young; PG_referenced cleared).  Returns how many are to be reclaimed;\n"
"nothing changes when a head is out of range.  The caller holds the flag\n"
"lock (folios_check_references).");

static PyObject *MemMap_check_references(MemMapObject *self, PyObject *const *args,
					 Py_ssize_t nargs)
{
	Py_buffer heads, ref;
	long got;

	if (fast_args(self, nargs, 2, "check_references") < 0)
		return NULL;
	if (heads_and_out(args[0], args[1], &heads, &ref, "check_references") < 0)
		return NULL;
	got = folios_check_references(&self->map, heads.buf, (long)(heads.len / 8), ref.buf);
	PyBuffer_Release(&ref);
	PyBuffer_Release(&heads);
	if (got < 0)
		return raise_einval("check_references: a folio's pfn or order is outside the map");
	return PyLong_FromLong(got);
}

PyDoc_STRVAR(may_free_doc,
"may_free(heads, refs, ok) -> nr\n\n"
"__remove_mapping's test for locked folios (int64 heads): one dirty, under\n"
"writeback, mapped, or with refs[pfn] != 0 (refs: the int32 per-frame extra\n"
"references) is unlocked and ok[i] = False; the rest stay locked with\n"
"ok[i] = True.  Returns how many may be freed; nothing changes when a head\n"
"is out of range.  The caller holds the flag lock (folios_may_free).");

static PyObject *MemMap_may_free(MemMapObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	Py_buffer heads, refs, ok;
	PyObject *ret = NULL;
	long got;

	if (fast_args(self, nargs, 3, "may_free") < 0)
		return NULL;
	if (heads_and_out(args[0], args[2], &heads, &ok, "may_free") < 0)
		return NULL;
	if (PyObject_GetBuffer(args[1], &refs, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
		goto out;
	if (refs.itemsize != 4 || refs.ndim != 1 || (uint64_t)refs.shape[0] != self->map.nr_frames ||
	    !refs.format || (refs.format[0] != 'i' && refs.format[0] != 'l')) {
		raise_einval("may_free: refs must be one int32 per frame (%llu)",
			     (unsigned long long)self->map.nr_frames);
		goto out_refs;
	}
	got = folios_may_free(&self->map, heads.buf, (long)(heads.len / 8), refs.buf, ok.buf);
	if (got < 0)
		raise_einval("may_free: a folio's pfn or order is outside the map");
	else
		ret = PyLong_FromLong(got);
out_refs:
	PyBuffer_Release(&refs);
out:
	PyBuffer_Release(&ok);
	PyBuffer_Release(&heads);
	return ret;
}

/* The buffers of an LRU list call: the per-frame stamps @seqs_o (int64, one
 * per frame, writable) and the list's row buffers @pfn_o / @seq_o (int64, of
 * one length, writable) with its @head, @tail, @active and @memcg_id.
 * 0, or -1 with an exception set and nothing held. */
static int lru_args(MemMapObject *self, PyObject *const *args, Py_buffer v[3],
		    struct lru_rows *rows, const char *what)
{
	long long x[4];
	int i;

	if (fast_ints(args + 3, 4, 4, x, what) < 0)
		return -1;
	for (i = 0; i < 3; i++)
		if (int64_buffer_arg(args[i], &v[i], 1, what) < 0)
			goto fail;
	if ((uint64_t)(v[0].len / 8) != self->map.nr_frames || v[1].len != v[2].len ||
	    x[0] < 0 || x[0] > x[1] || x[1] > v[1].len / 8 || x[3] < INT32_MIN || x[3] > INT32_MAX) {
		raise_einval("%s: stamps must be one per frame (%llu), the rows one length, and "
			     "head %lld <= tail %lld <= %zd rows", what,
			     (unsigned long long)self->map.nr_frames, x[0], x[1], v[1].len / 8);
		goto fail;
	}
	rows->pfn = v[1].buf;
	rows->seq = v[2].buf;
	rows->head = (long)x[0];
	rows->tail = (long)x[1];
	rows->cap = (long)(v[1].len / 8);
	rows->active = x[2] != 0;
	rows->memcg_id = (int32_t)x[3];
	return 0;
fail:
	while (--i >= 0)
		PyBuffer_Release(&v[i]);
	return -1;
}

static void lru_args_put(Py_buffer v[3])
{
	int i;

	for (i = 0; i < 3; i++)
		PyBuffer_Release(&v[i]);
}

PyDoc_STRVAR(lru_isolate_doc,
"lru_isolate(lru_seq, pfn, seq, head, tail, active, memcg_id, out) -> (got, head)\n\n"
"isolate_lru_folios over one LRU list (rows pfn/seq[head:tail], oldest\n"
"first; a row is live while its frame has PG_lru, PG_active == active, the\n"
"cgroup memcg_id and the stamp lru_seq[pfn] == seq): up to len(out) live\n"
"folios are taken from the old end, PG_lru cleared, pfns into out (int64).\n"
"Returns how many, and the new head (past the last row looked at).\n"
"Nothing changes when a row names a frame outside the map.  The caller\n"
"holds the flag lock (lru_isolate).");

static PyObject *MemMap_lru_isolate(MemMapObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct lru_rows rows;
	Py_buffer v[3], out;
	PyObject *ret = NULL;
	long got;

	if (fast_args(self, nargs, 8, "lru_isolate") < 0)
		return NULL;
	if (lru_args(self, args, v, &rows, "lru_isolate") < 0)
		return NULL;
	if (int64_buffer_arg(args[7], &out, 1, "lru_isolate: out") < 0)
		goto out_rows;
	got = lru_isolate(&self->map, v[0].buf, &rows, (long)(out.len / 8), out.buf);
	if (got < 0)
		raise_einval("lru_isolate: a row names a frame outside the map");
	else
		ret = Py_BuildValue("ll", got, rows.head);
	PyBuffer_Release(&out);
out_rows:
	lru_args_put(v);
	return ret;
}

PyDoc_STRVAR(lru_add_doc,
"lru_add(lru_seq, pfn, seq, head, tail, active, memcg_id, heads, first_seq) -> tail\n\n"
"folio_add_lru for the folios at the int64 heads, on no list yet: PG_lru\n"
"set, PG_active as active says, stamps first_seq, first_seq + 1, ... into\n"
"lru_seq and as rows appended at tail (the caller made room).  Returns the\n"
"new tail.  Nothing changes when a head is outside the map or the rows lack\n"
"room (EINVAL), or when a folio is on a list already (RuntimeError: the\n"
"kernel's VM_BUG_ON).  The caller holds the flag lock (lru_add).");

static PyObject *MemMap_lru_add(MemMapObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct lru_rows rows;
	Py_buffer v[3], heads;
	PyObject *ret = NULL;
	long long first;
	long n;

	if (fast_args(self, nargs, 9, "lru_add") < 0)
		return NULL;
	first = PyLong_AsLongLong(args[8]);
	if (first == -1 && PyErr_Occurred())
		return NULL;
	if (lru_args(self, args, v, &rows, "lru_add") < 0)
		return NULL;
	if (int64_buffer_arg(args[7], &heads, 0, "lru_add: heads") < 0)
		goto out_rows;
	n = lru_add(&self->map, v[0].buf, &rows, heads.buf, (long)(heads.len / 8), first);
	if (n == -1) {
		raise_einval("lru_add: a folio's pfn or order is outside the map");
	} else if (n == -2) {
		raise_einval("lru_add: %zd rows do not fit after row %ld of %ld", heads.len / 8,
			     rows.tail, rows.cap);
	} else if (n == -3) {
		PyErr_SetString(PyExc_RuntimeError,
				"folio_add_lru: a folio of the batch is on a list already");
	} else {
		ret = PyLong_FromLong(rows.tail);
	}
	PyBuffer_Release(&heads);
out_rows:
	lru_args_put(v);
	return ret;
}

PyDoc_STRVAR(lru_compact_doc,
"lru_compact(lru_seq, pfn, seq, head, tail, active, memcg_id, dst_pfn, dst_seq) -> n\n\n"
"Drop the stale rows of one LRU list (see lru_isolate): its live rows move,\n"
"in order, to rows 0..n-1 of dst_pfn / dst_seq (int64, one length; they may\n"
"be the list's own buffers).  Nothing changes when a row names a frame\n"
"outside the map or dst is too short (lru_compact).");

static PyObject *MemMap_lru_compact(MemMapObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	struct lru_rows rows;
	Py_buffer v[3], dp, ds;
	PyObject *ret = NULL;
	long n;

	if (fast_args(self, nargs, 9, "lru_compact") < 0)
		return NULL;
	if (lru_args(self, args, v, &rows, "lru_compact") < 0)
		return NULL;
	if (int64_buffer_arg(args[7], &dp, 1, "lru_compact: dst_pfn") < 0)
		goto out_rows;
	if (int64_buffer_arg(args[8], &ds, 1, "lru_compact: dst_seq") < 0)
		goto out_dp;
	if (dp.len != ds.len) {
		raise_einval("lru_compact: dst_pfn and dst_seq differ in length");
		goto out;
	}
	n = lru_compact(&self->map, v[0].buf, &rows, dp.buf, ds.buf, (long)(dp.len / 8));
	if (n < 0)
		raise_einval("lru_compact: a row names a frame outside the map, or %zd rows are "
			     "too few", dp.len / 8);
	else
		ret = PyLong_FromLong(n);
out:
	PyBuffer_Release(&ds);
out_dp:
	PyBuffer_Release(&dp);
out_rows:
	lru_args_put(v);
	return ret;
}

PyDoc_STRVAR(frames_clear_doc,
"frames_clear(pfns, charged, lru_count) -> n\n\n"
"The per-frame half of freeing the order-0 frames at the int64 pfns: their\n"
"state reset as a free frame's, each counted off its cgroup (charged: int64,\n"
"one per cgroup id) and off the LRU list it is still on (lru_count: int64,\n"
"shape (ids, 2): inactive, active).  Nothing changes when a pfn is outside\n"
"the map or a cgroup id outside the tables.  The caller holds the zone\n"
"lock (frames_clear).");

static PyObject *MemMap_frames_clear(MemMapObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	Py_buffer pfns, charged, lru;
	PyObject *ret = NULL;
	long n;

	if (fast_args(self, nargs, 3, "frames_clear") < 0)
		return NULL;
	if (int64_buffer_arg(args[0], &pfns, 0, "frames_clear: pfns") < 0)
		return NULL;
	if (int64_buffer_arg(args[1], &charged, 1, "frames_clear: charged") < 0)
		goto out_pfns;
	if (int64_buffer_arg(args[2], &lru, 1, "frames_clear: lru_count") < 0)
		goto out_charged;
	if (lru.ndim != 2 || lru.shape[1] != 2 || lru.shape[0] != charged.len / 8) {
		raise_einval("frames_clear: lru_count must have shape (%zd, 2)", charged.len / 8);
		goto out;
	}
	n = frames_clear(&self->map, pfns.buf, (long)(pfns.len / 8), charged.buf, lru.buf,
			 (long)(charged.len / 8));
	if (n < 0)
		raise_einval("frames_clear: a pfn outside the map, or a cgroup id outside the %zd "
			     "the tables hold", charged.len / 8);
	else
		ret = PyLong_FromLong(n);
out:
	PyBuffer_Release(&lru);
out_charged:
	PyBuffer_Release(&charged);
out_pfns:
	PyBuffer_Release(&pfns);
	return ret;
}

static PyMethodDef MemMap_methods[] = {
	{"touch", (PyCFunction)(void (*)(void))MemMap_touch, METH_FASTCALL, touch_doc},
	{"test_set", (PyCFunction)(void (*)(void))MemMap_test_set, METH_FASTCALL, test_set_doc},
	{"check_references", (PyCFunction)(void (*)(void))MemMap_check_references, METH_FASTCALL,
	 check_references_doc},
	{"may_free", (PyCFunction)(void (*)(void))MemMap_may_free, METH_FASTCALL, may_free_doc},
	{"lru_isolate", (PyCFunction)(void (*)(void))MemMap_lru_isolate, METH_FASTCALL,
	 lru_isolate_doc},
	{"lru_add", (PyCFunction)(void (*)(void))MemMap_lru_add, METH_FASTCALL, lru_add_doc},
	{"lru_compact", (PyCFunction)(void (*)(void))MemMap_lru_compact, METH_FASTCALL,
	 lru_compact_doc},
	{"frames_clear", (PyCFunction)(void (*)(void))MemMap_frames_clear, METH_FASTCALL,
	 frames_clear_doc},
	{"folios_pages", (PyCFunction)MemMap_folios_pages, METH_VARARGS, folios_pages_doc},
	{"end_io", (PyCFunction)(void (*)(void))MemMap_end_io, METH_VARARGS | METH_KEYWORDS,
	 end_io_doc},
	{NULL, NULL, 0, NULL},
};

static PyObject *MemMap_nr_frames(MemMapObject *self, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLongLong(self->map.nr_frames);
}

static PyGetSetDef MemMap_getset[] = {
	{"nr_frames", (getter)MemMap_nr_frames, NULL, "frames in the map", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject MemMap_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "swaplab._native.MemMap",
	.tp_basicsize = sizeof(MemMapObject),
	.tp_dealloc = (destructor)MemMap_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "MemMap(flags, order, swap, memcg, mapping, index): the frames' arrays",
	.tp_methods = MemMap_methods,
	.tp_getset = MemMap_getset,
	.tp_init = (initproc)MemMap_init,
	.tp_new = PyType_GenericNew,
};

struct mem_map *mem_map_of(PyObject *obj)
{
	if (!PyObject_TypeCheck(obj, &MemMap_Type) || !((MemMapObject *)obj)->map.flags) {
		PyErr_SetString(PyExc_TypeError, "an initialised swaplab._native.MemMap");
		return NULL;
	}
	return &((MemMapObject *)obj)->map;
}

int mem_map_add_types(PyObject *m)
{
	return PyModule_AddType(m, &MemMap_Type);	/* readies it, adds it as "MemMap" */
}
