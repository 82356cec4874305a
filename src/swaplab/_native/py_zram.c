// SPDX-License-Identifier: GPL-2.0-only
/*
 * swaplab._native.ZramMeta: zram's slot table and page paths
 * (drivers/zram/zram_drv.c) for Python.
 *
 * The object exports its table as a writable buffer of 16-byte entries
 * (handle u64, flags u32, ac_time u32), which swaplab.drivers.zram views
 * as numpy arrays; the slot lock, slot_free and the batch paths are
 * methods.  Every method that may wait (a slot lock, the pool lock)
 * releases the GIL first.  The interface and its documentation are
 * swaplab.drivers.zram.zram_drv.
 */
#include "bindings.h"

#include <errno.h>
#include <string.h>

#include <swaplab/codec.h>
#include <swaplab/zram.h>

typedef struct {
	PyObject_HEAD
	struct zram_meta *meta;
	PyObject *pool;		/* the swaplab._native.ZsPool the slots' objects live in */
} ZramMetaObject;

static int ZramMeta_init(ZramMetaObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"nr_pages", "pool", NULL};
	unsigned long long nr_pages;
	PyObject *pool_o;
	struct zs_pool *pool;

	if (self->meta) {
		PyErr_SetString(PyExc_RuntimeError, "ZramMeta is already initialised");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kw, "KO:ZramMeta", kwlist, &nr_pages, &pool_o))
		return -1;
	pool = zs_pool_of(pool_o);
	if (!pool)
		return -1;
	if (nr_pages > ((uint64_t)1 << 40)) {
		PyErr_NoMemory();
		return -1;
	}
	self->meta = zram_meta_alloc(nr_pages, pool);
	if (!self->meta) {
		PyErr_NoMemory();
		return -1;
	}
	Py_INCREF(pool_o);
	self->pool = pool_o;
	return 0;
}

static void ZramMeta_dealloc(ZramMetaObject *self)
{
	PyObject_GC_UnTrack(self);
	zram_meta_free(self->meta);
	Py_CLEAR(self->pool);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ZramMeta_traverse(ZramMetaObject *self, visitproc visit, void *arg)
{
	Py_VISIT(self->pool);
	return 0;
}

static int ready(ZramMetaObject *self)
{
	if (!self->meta) {
		PyErr_SetString(PyExc_RuntimeError, "ZramMeta is not initialised");
		return 0;
	}
	return 1;
}

/* --- the table as a buffer ---------------------------------------------------- */

static int ZramMeta_getbuffer(ZramMetaObject *self, Py_buffer *view, int flags)
{
	if (!ready(self))
		return -1;
	/* the view holds a reference to this object: the table outlives every view */
	return PyBuffer_FillInfo(view, (PyObject *)self, self->meta->table,
				 (Py_ssize_t)(self->meta->nr_pages * sizeof(struct zram_table_entry)),
				 0, flags);
}

static PyBufferProcs ZramMeta_as_buffer = {
	.bf_getbuffer = (getbufferproc)ZramMeta_getbuffer,
};

/* --- slots -------------------------------------------------------------------- */

static int index_arg(ZramMetaObject *self, PyObject *arg, uint64_t *index)
{
	unsigned long long i = PyLong_AsUnsignedLongLong(arg);

	if (PyErr_Occurred() || !ready(self))
		return -1;
	if (i >= self->meta->nr_pages) {
		PyErr_Format(PyExc_IndexError, "slot %llu outside a table of %llu", i,
			     (unsigned long long)self->meta->nr_pages);
		return -1;
	}
	*index = i;
	return 0;
}

static PyObject *ZramMeta_slot_lock(ZramMetaObject *self, PyObject *arg)
{
	uint64_t i;

	if (index_arg(self, arg, &i) < 0)
		return NULL;
	if (!zram_slot_trylock(self->meta, i)) {
		Py_BEGIN_ALLOW_THREADS
		zram_slot_lock(self->meta, i);
		Py_END_ALLOW_THREADS
	}
	Py_RETURN_NONE;
}

static PyObject *ZramMeta_slot_trylock(ZramMetaObject *self, PyObject *arg)
{
	uint64_t i;

	if (index_arg(self, arg, &i) < 0)
		return NULL;
	return PyBool_FromLong(zram_slot_trylock(self->meta, i));
}

static PyObject *ZramMeta_slot_unlock(ZramMetaObject *self, PyObject *arg)
{
	uint64_t i;

	if (index_arg(self, arg, &i) < 0)
		return NULL;
	zram_slot_unlock(self->meta, i);
	Py_RETURN_NONE;
}

static PyObject *ZramMeta_slot_free(ZramMetaObject *self, PyObject *arg)
{
	uint64_t i;
	int64_t blk;

	if (index_arg(self, arg, &i) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	blk = zram_slot_free(self->meta, i);
	Py_END_ALLOW_THREADS
	return PyLong_FromLongLong(blk);
}

static PyObject *ZramMeta_slot_free_notify(ZramMetaObject *self, PyObject *arg)
{
	uint64_t i;
	int64_t blk;

	if (index_arg(self, arg, &i) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	blk = zram_slot_free_notify(self->meta, i);
	Py_END_ALLOW_THREADS
	return PyLong_FromLongLong(blk);
}

/* --- counters and settings ---------------------------------------------------- */

static int stat_arg(PyObject *arg, int *item)
{
	long v = PyLong_AsLong(arg);

	if (v == -1 && PyErr_Occurred())
		return -1;
	if (v < 0 || v >= NR_ZRAM_STATS) {
		PyErr_Format(PyExc_IndexError, "counter %ld outside 0..%d", v, NR_ZRAM_STATS - 1);
		return -1;
	}
	*item = (int)v;
	return 0;
}

/* The (counter, value) arguments of stat_add / stat_set / stat_max; 0 or -1. */
static int stat_args(ZramMetaObject *self, PyObject *args, const char *fmt, int *item,
		     long long *v)
{
	PyObject *item_o;

	if (!ready(self) || !PyArg_ParseTuple(args, fmt, &item_o, v))
		return -1;
	return stat_arg(item_o, item);
}

static PyObject *ZramMeta_stat_add(ZramMetaObject *self, PyObject *args)
{
	long long n;
	int item;

	if (stat_args(self, args, "OL:stat_add", &item, &n) < 0)
		return NULL;
	zram_stat_add(self->meta, item, n);
	Py_RETURN_NONE;
}

static PyObject *ZramMeta_stat_set(ZramMetaObject *self, PyObject *args)
{
	long long v;
	int item;

	if (stat_args(self, args, "OL:stat_set", &item, &v) < 0)
		return NULL;
	zram_stat_set(self->meta, item, (uint64_t)v);
	Py_RETURN_NONE;
}

static PyObject *ZramMeta_stat_max(ZramMetaObject *self, PyObject *args)
{
	long long v;
	int item;

	if (stat_args(self, args, "OL:stat_max", &item, &v) < 0)
		return NULL;
	if (v > 0)
		zram_stat_max(self->meta, item, (uint64_t)v);
	Py_RETURN_NONE;
}

static PyObject *ZramMeta_stats(ZramMetaObject *self, PyObject *unused)
{
	PyObject *t;
	int i;

	(void)unused;
	if (!ready(self))
		return NULL;
	t = PyTuple_New(NR_ZRAM_STATS);
	if (!t)
		return NULL;
	for (i = 0; i < NR_ZRAM_STATS; i++) {
		int64_t v = (int64_t)__atomic_load_n(&self->meta->stats[i], __ATOMIC_RELAXED);
		PyObject *o = PyLong_FromLongLong(v);

		if (!o) {
			Py_DECREF(t);
			return NULL;
		}
		PyTuple_SET_ITEM(t, i, o);
	}
	return t;
}

static PyObject *ZramMeta_set_codec(ZramMetaObject *self, PyObject *args)
{
	int prio, algo, level;

	if (!ready(self) || !PyArg_ParseTuple(args, "iii:set_codec", &prio, &algo, &level))
		return NULL;
	if (prio < 0 || prio >= ZRAM_MAX_COMPS || algo < -1 || algo >= NR_CODECS) {
		PyErr_Format(PyExc_ValueError, "priority %d, codec %d", prio, algo);
		return NULL;
	}
	self->meta->algo[prio] = algo;
	self->meta->level[prio] = level;
	Py_RETURN_NONE;
}

static PyObject *ZramMeta_get_limit_pages(ZramMetaObject *self, void *closure)
{
	(void)closure;
	if (!ready(self))
		return NULL;
	return PyLong_FromUnsignedLongLong(__atomic_load_n(&self->meta->limit_pages,
							   __ATOMIC_RELAXED));
}

static int ZramMeta_set_limit_pages(ZramMetaObject *self, PyObject *v, void *closure)
{
	unsigned long long n;

	(void)closure;
	if (!ready(self) || !v)
		return -1;
	n = PyLong_AsUnsignedLongLong(v);
	if (PyErr_Occurred())
		return -1;
	__atomic_store_n(&self->meta->limit_pages, n, __ATOMIC_RELAXED);
	return 0;
}

/* --- the batch paths ---------------------------------------------------------- */

/*
 * The slot indices of a batch call: an int64 array of one index per page, or
 * an int, the first of a run (a bio segment: first, first + 1, ...).
 */
struct slot_indices {
	Py_buffer view;			/* the array's (view.obj NULL for a run) */
	const int64_t *idx;
	int64_t *scratch;		/* identity rows, then the run's indices */
};

static void slot_indices_put(struct slot_indices *si)
{
	if (si->view.obj)
		PyBuffer_Release(&si->view);
	PyMem_Free(si->scratch);
}

/*
 * Take the batch of a write or read call: pages, rows and slot indices,
 * each index checked against the table.  0, or -1 with an exception set and
 * nothing held.
 */
static int batch_args(ZramMetaObject *self, struct page_batch *pb, struct slot_indices *si,
		      PyObject *pages_o, PyObject *rows_o, PyObject *idx_o, int writable)
{
	Py_ssize_t k;
	long long first = 0;

	si->view.obj = NULL;
	si->scratch = NULL;
	if (batch_get(pb, pages_o, rows_o, writable) < 0)
		return -1;
	if (pb->row != ZRAM_PAGE_SIZE) {
		PyErr_Format(PyExc_ValueError, "pages of %zd bytes, not %u", pb->row,
			     ZRAM_PAGE_SIZE);
		goto err;
	}
	/* room for identity rows and a run's indices */
	si->scratch = PyMem_Malloc(sizeof(int64_t) * (size_t)(2 * pb->n + 1));
	if (!si->scratch) {
		PyErr_NoMemory();
		goto err;
	}
	if (PyLong_Check(idx_o)) {
		first = PyLong_AsLongLong(idx_o);
		if (first == -1 && PyErr_Occurred())
			goto err;
		if (first < 0 || (uint64_t)first + (uint64_t)pb->n > self->meta->nr_pages) {
			PyErr_Format(PyExc_IndexError, "slots %lld..%lld outside a table of %llu",
				     first, first + (long long)pb->n - 1,
				     (unsigned long long)self->meta->nr_pages);
			goto err;
		}
		for (k = 0; k < pb->n; k++)
			si->scratch[pb->n + 1 + k] = first + k;
		si->idx = si->scratch + pb->n + 1;
		return 0;
	}
	switch (int64_buffer_get(idx_o, &si->view, 0)) {
	case -1:
		si->view.obj = NULL;
		goto err;
	case 0:
		if (si->view.len / 8 == pb->n)
			break;
		PyBuffer_Release(&si->view);
		/* fall through */
	default:
		si->view.obj = NULL;
		PyErr_Format(PyExc_ValueError, "%zd pages need an int64 array of %zd slot indices",
			     pb->n, pb->n);
		goto err;
	}
	si->idx = si->view.buf;
	for (k = 0; k < pb->n; k++) {
		int64_t i = si->idx[k];

		if (i < 0 || (uint64_t)i >= self->meta->nr_pages) {
			PyErr_Format(PyExc_IndexError, "slot %lld outside a table of %llu",
				     (long long)i, (unsigned long long)self->meta->nr_pages);
			goto err;
		}
	}
	return 0;
err:
	slot_indices_put(si);
	batch_put(pb);
	return -1;
}

static void batch_of(struct zram_batch *b, struct page_batch *pb, struct slot_indices *si,
		     unsigned int now)
{
	Py_ssize_t k;

	b->base = pb->pages.buf;
	b->rows = pb->rows;
	if (!b->rows) {
		for (k = 0; k < pb->n; k++)
			si->scratch[k] = k;
		b->rows = si->scratch;
	}
	b->idx = si->idx;
	b->n = (uint64_t)pb->n;
	b->now = now;
}

static PyObject *ZramMeta_write_pages(ZramMetaObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"pages", "rows", "indices", "now", "objs", "lens", "inject",
				 NULL};
	PyObject *pages_o, *rows_o, *idx_o, *objs_o = Py_None, *lens_o = Py_None, *wb_list = NULL;
	unsigned int now, inject = 0;
	struct page_batch pb;
	struct zram_batch b;
	struct slot_indices si;
	Py_buffer objs = {0}, lens = {0};
	int64_t *wb = NULL;
	uint64_t done = 0, nr_wb = 0, k;
	int err = 0;

	if (!ready(self) ||
	    !PyArg_ParseTupleAndKeywords(args, kw, "OOOI|OOI:write_pages", kwlist, &pages_o,
					 &rows_o, &idx_o, &now, &objs_o, &lens_o, &inject))
		return NULL;
	if (objs_o == Py_None && self->meta->algo[0] < 0) {
		PyErr_SetString(PyExc_ValueError, "the primary codec is not compiled: pass objs");
		return NULL;
	}
	if (batch_args(self, &pb, &si, pages_o, rows_o, idx_o, 0) < 0)
		return NULL;
	if (objs_o != Py_None) {
		Py_ssize_t total = 0;

		if (PyObject_GetBuffer(objs_o, &objs, PyBUF_SIMPLE) < 0)
			goto out;
		if (PyObject_GetBuffer(lens_o, &lens, PyBUF_FORMAT) < 0)
			goto out;
		if (lens.itemsize != 4 || lens.len / 4 != pb.n) {
			PyErr_SetString(PyExc_ValueError, "lens must be int32, one per page");
			goto out;
		}
		for (k = 0; k < (uint64_t)pb.n; k++) {
			int32_t l = ((const int32_t *)lens.buf)[k];

			if (l < 0 || l > 2 * (int32_t)ZRAM_PAGE_SIZE)
				break;
			total += l;
		}
		if (k < (uint64_t)pb.n || total > objs.len) {
			PyErr_SetString(PyExc_ValueError, "lens do not fit objs");
			goto out;
		}
	}
	wb = PyMem_Malloc(sizeof(int64_t) * (size_t)(pb.n + 1));
	if (!wb) {
		PyErr_NoMemory();
		goto out;
	}
	batch_of(&b, &pb, &si, now);
	Py_BEGIN_ALLOW_THREADS
	err = zram_write_pages(self->meta, &b, objs.buf, lens.buf, inject, &done, wb, &nr_wb);
	Py_END_ALLOW_THREADS
	wb_list = PyList_New((Py_ssize_t)nr_wb);
	for (k = 0; wb_list && k < nr_wb; k++)
		PyList_SET_ITEM(wb_list, (Py_ssize_t)k, PyLong_FromLongLong(wb[k]));
out:
	PyMem_Free(wb);
	if (objs.obj)
		PyBuffer_Release(&objs);
	if (lens.obj)
		PyBuffer_Release(&lens);
	slot_indices_put(&si);
	batch_put(&pb);
	if (!wb_list)
		return NULL;
	return Py_BuildValue("(KiN)", (unsigned long long)done, err, wb_list);
}

static PyObject *ZramMeta_read_pages(ZramMetaObject *self, PyObject *args)
{
	PyObject *pages_o, *rows_o, *idx_o;
	unsigned int now;
	struct page_batch pb;
	struct zram_batch b;
	struct slot_indices si;
	uint64_t done = 0;
	int err;

	if (!ready(self) ||
	    !PyArg_ParseTuple(args, "OOOI:read_pages", &pages_o, &rows_o, &idx_o, &now))
		return NULL;
	if (batch_args(self, &pb, &si, pages_o, rows_o, idx_o, 1) < 0)
		return NULL;
	batch_of(&b, &pb, &si, now);
	Py_BEGIN_ALLOW_THREADS
	err = zram_read_pages(self->meta, &b, &done);
	Py_END_ALLOW_THREADS
	slot_indices_put(&si);
	batch_put(&pb);
	return Py_BuildValue("(Ki)", (unsigned long long)done, err);
}

static PyObject *ZramMeta_read_slot(ZramMetaObject *self, PyObject *args)
{
	PyObject *idx_o;
	Py_buffer page;
	uint64_t i;
	int err;

	if (!PyArg_ParseTuple(args, "Ow*:read_slot", &idx_o, &page))
		return NULL;
	if (index_arg(self, idx_o, &i) < 0 || page.len != ZRAM_PAGE_SIZE) {
		if (!PyErr_Occurred())
			PyErr_Format(PyExc_ValueError, "a page of %zd bytes", page.len);
		PyBuffer_Release(&page);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	err = zram_read_slot(self->meta, i, page.buf);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&page);
	return PyLong_FromLong(err);
}

static PyMethodDef ZramMeta_methods[] = {
	{"read_slot", (PyCFunction)ZramMeta_read_slot, METH_VARARGS,
	 "read_slot(index, page) -> 0, -EINVAL or ZRAM_NEEDS_CALLER (slot lock held)"},
	{"slot_lock", (PyCFunction)ZramMeta_slot_lock, METH_O, "slot_lock(index)"},
	{"slot_trylock", (PyCFunction)ZramMeta_slot_trylock, METH_O,
	 "slot_trylock(index) -> bool"},
	{"slot_unlock", (PyCFunction)ZramMeta_slot_unlock, METH_O, "slot_unlock(index)"},
	{"slot_free", (PyCFunction)ZramMeta_slot_free, METH_O,
	 "slot_free(index) -> backing block to release, or -1 (lock held)"},
	{"slot_free_notify", (PyCFunction)ZramMeta_slot_free_notify, METH_O,
	 "slot_free_notify(index) -> backing block to release, or -1"},
	{"stat_add", (PyCFunction)ZramMeta_stat_add, METH_VARARGS, "stat_add(item, n)"},
	{"stat_set", (PyCFunction)ZramMeta_stat_set, METH_VARARGS, "stat_set(item, value)"},
	{"stat_max", (PyCFunction)ZramMeta_stat_max, METH_VARARGS, "stat_max(item, value)"},
	{"stats", (PyCFunction)ZramMeta_stats, METH_NOARGS, "stats() -> every counter"},
	{"set_codec", (PyCFunction)ZramMeta_set_codec, METH_VARARGS,
	 "set_codec(priority, codec id or -1, level)"},
	{"write_pages", (PyCFunction)(void (*)(void))ZramMeta_write_pages,
	 METH_VARARGS | METH_KEYWORDS,
	 "write_pages(pages, rows, indices, now, objs=None, lens=None, inject=0) -> "
	 "(stored, err, released backing blocks); indices: int64 array, or the first slot "
	 "of a run"},
	{"read_pages", (PyCFunction)ZramMeta_read_pages, METH_VARARGS,
	 "read_pages(pages, rows, indices, now) -> (read, err); indices as for write_pages"},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef ZramMeta_getset[] = {
	{"limit_pages", (getter)ZramMeta_get_limit_pages, (setter)ZramMeta_set_limit_pages,
	 "mem_limit in pages (0: none)", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ZramMeta_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "swaplab._native.ZramMeta",
	.tp_basicsize = sizeof(ZramMetaObject),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "ZramMeta(nr_pages, pool): zram's slot table. Use swaplab.drivers.zram.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)ZramMeta_init,
	.tp_dealloc = (destructor)ZramMeta_dealloc,
	.tp_traverse = (traverseproc)ZramMeta_traverse,
	.tp_methods = ZramMeta_methods,
	.tp_getset = ZramMeta_getset,
	.tp_as_buffer = &ZramMeta_as_buffer,
};

/* same_filled(page) -> the repeated word, or None */
static PyObject *py_same_filled(PyObject *self, PyObject *arg)
{
	Py_buffer page;
	uint64_t fill;
	int same;

	(void)self;
	if (PyObject_GetBuffer(arg, &page, PyBUF_C_CONTIGUOUS) < 0)
		return NULL;
	if (page.len != ZRAM_PAGE_SIZE) {
		PyBuffer_Release(&page);
		PyErr_Format(PyExc_ValueError, "a page of %zd bytes", page.len);
		return NULL;
	}
	same = zram_page_same_filled(page.buf, &fill);
	PyBuffer_Release(&page);
	if (!same)
		Py_RETURN_NONE;
	return PyLong_FromUnsignedLongLong(fill);
}

static PyMethodDef zram_functions[] = {
	{"same_filled", py_same_filled, METH_O,
	 "same_filled(page) -> the machine word the page repeats, or None"},
	{NULL, NULL, 0, NULL},
};

int zram_add_types(PyObject *m)
{
	if (PyModule_AddFunctions(m, zram_functions) < 0)
		return -1;
	if (PyModule_AddType(m, &ZramMeta_Type) < 0)	/* readies it, adds it as "ZramMeta" */
		return -1;
	return PyModule_AddIntConstant(m, "ZRAM_NEEDS_CALLER", ZRAM_NEEDS_CALLER);
}
