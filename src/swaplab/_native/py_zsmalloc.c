// SPDX-License-Identifier: GPL-2.0-only
/*
 * swaplab._native.ZsPool: a zsmalloc pool (mm/zsmalloc.c) for Python.
 *
 * Its frames are either the machine's (a writable 2-D frame array and two
 * callables that take and give back frame numbers: the System's page
 * allocator) or a private anonymous arena of max_pages frames.  Every call
 * that may wait for the pool lock releases the GIL first; the page source's
 * callables take it back when the pool needs frames.  The interface and its
 * documentation are swaplab.mm.zsmalloc.
 */
#include "bindings.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include <swaplab/zsmalloc.h>

#define PCP_BATCH	63	/* the kernel's pcp batch for a zone of this size */
#define PCP_HIGH	(2 * PCP_BATCH)

typedef struct {
	PyObject_HEAD
	struct zs_pool *pool;
	Py_buffer mem;		/* the machine's frames (has_mem), else unused */
	int has_mem;
	PyObject *alloc_cb, *free_cb;
	/* the machine's frames held for this pool, as a per-CPU page list holds
	 * them: taken PCP_BATCH at a time, given back above PCP_HIGH */
	uint32_t pcp[PCP_HIGH + ZS_MAX_CHAIN];
	unsigned int nr_pcp;
	int dying;		/* in dealloc: the machine may have been collected first */
	/* the private arena: frames handed out bump-first, freed ones reused */
	uint8_t *arena;
	size_t arena_len;
	uint32_t next_frame, nr_frames;
	uint32_t *freed;
	uint32_t nr_freed;
} ZsPoolObject;

/* --- page sources ------------------------------------------------------------- */

static int arena_alloc(void *priv, unsigned int nr, uint32_t *pfns)
{
	ZsPoolObject *self = priv;
	unsigned int i;

	if (self->nr_freed >= nr) {
		for (i = 0; i < nr; i++)
			pfns[i] = self->freed[--self->nr_freed];
		return 0;
	}
	if (self->next_frame + nr > self->nr_frames)
		return -ENOMEM;
	for (i = 0; i < nr; i++)
		pfns[i] = self->next_frame++;
	return 0;
}

static void arena_free(void *priv, unsigned int nr, const uint32_t *pfns)
{
	ZsPoolObject *self = priv;
	unsigned int i;

	for (i = 0; i < nr; i++)
		self->freed[self->nr_freed++] = pfns[i];
}

/*
 * Call the machine's allocator for @nr frames into @pfns: alloc_cb(nr) ->
 * frame numbers, or None when memory has fewer.  0 or -ENOMEM.
 */
static int machine_take(ZsPoolObject *self, unsigned int nr, uint32_t *pfns)
{
	PyGILState_STATE gil = PyGILState_Ensure();
	PyObject *got, *seq = NULL;
	int ret = -ENOMEM;
	Py_ssize_t i;

	got = PyObject_CallFunction(self->alloc_cb, "I", nr);
	if (!got || got == Py_None)
		goto out;
	seq = PySequence_Fast(got, "the page source must return frame numbers");
	if (!seq || PySequence_Fast_GET_SIZE(seq) != (Py_ssize_t)nr)
		goto out;
	for (i = 0; i < (Py_ssize_t)nr; i++) {
		unsigned long v = PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(seq, i));

		if (PyErr_Occurred() || v > UINT32_MAX)
			goto out;
		pfns[i] = (uint32_t)v;
	}
	ret = 0;
out:
	if (PyErr_Occurred())
		PyErr_WriteUnraisable(self->alloc_cb);
	Py_XDECREF(seq);
	Py_XDECREF(got);
	PyGILState_Release(gil);
	return ret;
}

#if PY_VERSION_HEX >= 0x030D0000
#define interpreter_finalizing() Py_IsFinalizing()
#else
#define interpreter_finalizing() _Py_IsFinalizing()
#endif

/*
 * Give @nr frames back to the machine: free_cb([frame numbers]).  Not while
 * the interpreter shuts down: a pool collected then may outlive the modules
 * its machine's Python code needs, and the machine goes with it anyway.
 */
static void machine_give(ZsPoolObject *self, unsigned int nr, const uint32_t *pfns)
{
	PyGILState_STATE gil;
	PyObject *list, *ret = NULL;
	unsigned int i;

	if (self->dying && interpreter_finalizing())
		return;
	gil = PyGILState_Ensure();
	list = PyList_New(nr);

	if (list) {
		for (i = 0; i < nr; i++)
			PyList_SET_ITEM(list, i, PyLong_FromUnsignedLong(pfns[i]));
		ret = PyObject_CallOneArg(self->free_cb, list);
	}
	if (!ret) {
		/* a machine garbage-collected before its pool: nothing to give back to */
		if (self->dying)
			PyErr_Clear();
		else
			PyErr_WriteUnraisable(self->free_cb);
	}
	Py_XDECREF(ret);
	Py_XDECREF(list);
	PyGILState_Release(gil);
}

/*
 * The machine as the pool's page source, through the pool's frame list:
 * refilled PCP_BATCH frames at a time (fewer when memory is short), so most
 * zspages cost no call into Python.
 */
static int machine_alloc(void *priv, unsigned int nr, uint32_t *pfns)
{
	ZsPoolObject *self = priv;
	unsigned int i;

	if (self->nr_pcp < nr) {
		unsigned int want = PCP_BATCH;

		while (want >= nr && machine_take(self, want, self->pcp + self->nr_pcp))
			want = want > nr ? nr : 0;	/* short of memory: just what is needed */
		if (want < nr)
			return -ENOMEM;
		self->nr_pcp += want;
	}
	for (i = 0; i < nr; i++)
		pfns[i] = self->pcp[--self->nr_pcp];
	return 0;
}

static void machine_free(void *priv, unsigned int nr, const uint32_t *pfns)
{
	ZsPoolObject *self = priv;
	unsigned int i;

	for (i = 0; i < nr; i++)
		self->pcp[self->nr_pcp++] = pfns[i];
	if (self->nr_pcp > PCP_HIGH) {	/* back to the machine, down to a batch */
		machine_give(self, self->nr_pcp - PCP_BATCH, self->pcp + PCP_BATCH);
		self->nr_pcp = PCP_BATCH;
	}
}

/* Every frame of the list back to the machine (the pool is going). */
static void machine_drain(ZsPoolObject *self)
{
	if (self->has_mem && self->nr_pcp) {
		machine_give(self, self->nr_pcp, self->pcp);
		self->nr_pcp = 0;
	}
}

/* --- the type ----------------------------------------------------------------- */

static int ZsPool_init(ZsPoolObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"max_pages", "chain", "frames", "alloc", "free", NULL};
	unsigned long long max_pages;
	unsigned int chain;
	PyObject *frames = Py_None, *alloc = Py_None, *free_ = Py_None;
	struct zs_page_source src;
	uint64_t nr_frames;
	uint8_t *base;

	if (self->pool) {
		PyErr_SetString(PyExc_RuntimeError, "ZsPool is already initialised");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kw, "KI|OOO:ZsPool", kwlist, &max_pages, &chain,
					 &frames, &alloc, &free_))
		return -1;
	if (chain < ZS_MIN_CHAIN || chain > ZS_MAX_CHAIN) {
		PyErr_Format(PyExc_ValueError, "zsmalloc chain size %u outside %d..%d", chain,
			     ZS_MIN_CHAIN, ZS_MAX_CHAIN);
		return -1;
	}
	if (frames != Py_None) {
		if (!PyCallable_Check(alloc) || !PyCallable_Check(free_)) {
			PyErr_SetString(PyExc_TypeError, "frames need alloc and free callables");
			return -1;
		}
		if (PyObject_GetBuffer(frames, &self->mem, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) < 0)
			return -1;
		self->has_mem = 1;
		base = self->mem.buf;
		nr_frames = (uint64_t)self->mem.len / ZS_PAGE_SIZE;
		Py_INCREF(alloc);
		Py_INCREF(free_);
		self->alloc_cb = alloc;
		self->free_cb = free_;
		src = (struct zs_page_source){machine_alloc, machine_free, self};
	} else {
		if (max_pages > UINT32_MAX) {
			PyErr_Format(PyExc_OverflowError, "a private arena of %llu pages", max_pages);
			return -1;
		}
		self->nr_frames = (uint32_t)(max_pages ? max_pages : 1);
		self->arena_len = (size_t)self->nr_frames * ZS_PAGE_SIZE;
		/* reserved, not touched: a pool's pages cost memory once used */
		self->arena = mmap(NULL, self->arena_len, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (self->arena == MAP_FAILED) {
			self->arena = NULL;
			PyErr_SetFromErrno(PyExc_OSError);
			return -1;
		}
		self->freed = PyMem_Calloc(self->nr_frames, sizeof(uint32_t));
		if (!self->freed) {
			PyErr_NoMemory();
			return -1;
		}
		base = self->arena;
		nr_frames = self->nr_frames;
		src = (struct zs_page_source){arena_alloc, arena_free, self};
	}
	self->pool = zs_create_pool(base, nr_frames, max_pages, chain, &src);
	if (!self->pool) {
		PyErr_NoMemory();
		return -1;
	}
	return 0;
}

static void ZsPool_dealloc(ZsPoolObject *self)
{
	PyObject_GC_UnTrack(self);
	self->dying = 1;
	zs_destroy_pool(self->pool);	/* frames back to their source, GIL held */
	machine_drain(self);
	if (self->has_mem)
		PyBuffer_Release(&self->mem);
	Py_CLEAR(self->alloc_cb);
	Py_CLEAR(self->free_cb);
	if (self->arena)
		munmap(self->arena, self->arena_len);
	PyMem_Free(self->freed);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ZsPool_traverse(ZsPoolObject *self, visitproc visit, void *arg)
{
	Py_VISIT(self->alloc_cb);
	Py_VISIT(self->free_cb);
	return 0;
}

static int ready(ZsPoolObject *self)
{
	if (!self->pool) {
		PyErr_SetString(PyExc_RuntimeError, "ZsPool is not initialised");
		return 0;
	}
	return 1;
}

static PyObject *bad_handle(unsigned long long h)
{
	PyErr_Format(PyExc_ValueError, "zsmalloc: handle %llu is not allocated", h);
	return NULL;
}

static PyObject *ZsPool_malloc(ZsPoolObject *self, PyObject *arg)
{
	Py_ssize_t size = PyLong_AsSsize_t(arg);
	long h;

	if ((size == -1 && PyErr_Occurred()) || !ready(self))
		return NULL;
	if (size <= 0)
		return PyLong_FromLong(-EINVAL);
	Py_BEGIN_ALLOW_THREADS
	h = zs_malloc(self->pool, (size_t)size);
	Py_END_ALLOW_THREADS
	return PyLong_FromLong(h);
}

static PyObject *ZsPool_free(ZsPoolObject *self, PyObject *arg)
{
	unsigned long long h = PyLong_AsUnsignedLongLong(arg);
	int ret;

	if (PyErr_Occurred() || !ready(self))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	ret = zs_free(self->pool, (unsigned long)h);
	Py_END_ALLOW_THREADS
	if (ret)
		return bad_handle(h);
	Py_RETURN_NONE;
}

static PyObject *ZsPool_write(ZsPoolObject *self, PyObject *args)
{
	unsigned long long h;
	Py_buffer data;
	int ret;

	if (!ready(self) || !PyArg_ParseTuple(args, "Ky*:write", &h, &data))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	ret = zs_obj_write(self->pool, (unsigned long)h, data.buf, (size_t)data.len);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&data);
	if (ret) {
		PyErr_Format(PyExc_ValueError, "zsmalloc: handle %llu is not allocated or holds "
			     "less than %zd bytes", h, data.len);
		return NULL;
	}
	Py_RETURN_NONE;
}

static PyObject *ZsPool_read(ZsPoolObject *self, PyObject *args)
{
	unsigned long long h;
	Py_buffer out;
	const void *src;
	uint8_t local_copy[ZS_PAGE_SIZE];

	if (!ready(self) || !PyArg_ParseTuple(args, "Kw*:read", &h, &out))
		return NULL;
	if (out.len > ZS_PAGE_SIZE) {
		PyBuffer_Release(&out);
		PyErr_Format(PyExc_ValueError, "zsmalloc: a read of %zd bytes", out.len);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	src = zs_obj_read_begin(self->pool, (unsigned long)h, (size_t)out.len, local_copy);
	if (src) {
		memcpy(out.buf, src, (size_t)out.len);
		zs_obj_read_end(self->pool);
	}
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&out);
	if (!src) {
		PyErr_Format(PyExc_ValueError, "zsmalloc: handle %llu is not allocated or holds "
			     "less than %zd bytes", h, out.len);
		return NULL;
	}
	Py_RETURN_NONE;
}

static PyObject *ZsPool_compact(ZsPoolObject *self, PyObject *unused)
{
	uint64_t freed;

	(void)unused;
	if (!ready(self))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	freed = zs_compact(self->pool);
	Py_END_ALLOW_THREADS
	return PyLong_FromUnsignedLongLong(freed);
}

static int class_arg(PyObject *arg, unsigned int *cls)
{
	long v = PyLong_AsLong(arg);

	if (v == -1 && PyErr_Occurred())
		return -1;
	if (v < 0 || v >= ZS_SIZE_CLASSES) {
		PyErr_Format(PyExc_IndexError, "size class %ld outside 0..%d", v,
			     ZS_SIZE_CLASSES - 1);
		return -1;
	}
	*cls = (unsigned int)v;
	return 0;
}

static PyObject *ZsPool_can_compact(ZsPoolObject *self, PyObject *arg)
{
	unsigned int cls;
	uint64_t n;

	if (!ready(self) || class_arg(arg, &cls) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	n = zs_can_compact(self->pool, cls);
	Py_END_ALLOW_THREADS
	return PyLong_FromUnsignedLongLong(n);
}

static PyObject *ZsPool_class_stats(ZsPoolObject *self, PyObject *arg)
{
	struct zs_class_stat st;
	unsigned int cls;

	if (!ready(self) || class_arg(arg, &cls) < 0)
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	zs_class_stats(self->pool, cls, &st);
	Py_END_ALLOW_THREADS
	return Py_BuildValue("(KKK)", (unsigned long long)st.objs_allocated,
			     (unsigned long long)st.objs_used, (unsigned long long)st.zspages);
}

static PyObject *ZsPool_lookup_class_index(ZsPoolObject *self, PyObject *arg)
{
	Py_ssize_t size = PyLong_AsSsize_t(arg);

	if ((size == -1 && PyErr_Occurred()) || !ready(self))
		return NULL;
	if (size < 0) {
		PyErr_Format(PyExc_ValueError, "object size %zd", size);
		return NULL;
	}
	/* larger sizes land in the last class, as the kernel's lookup clamps them */
	return PyLong_FromUnsignedLong(zs_lookup_class_index(self->pool, (size_t)size));
}

static PyObject *ZsPool_location(ZsPoolObject *self, PyObject *arg)
{
	unsigned long long h = PyLong_AsUnsignedLongLong(arg);
	uint32_t id, idx;
	int ret;

	if (PyErr_Occurred() || !ready(self))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	ret = zs_obj_location(self->pool, (unsigned long)h, &id, &idx);
	Py_END_ALLOW_THREADS
	if (ret)
		return bad_handle(h);
	return Py_BuildValue("(II)", id, idx);
}

static PyObject *ZsPool_zspage_info(ZsPoolObject *self, PyObject *arg)
{
	unsigned long id = PyLong_AsUnsignedLong(arg);
	uint32_t cls, inuse;
	int ret;

	if (PyErr_Occurred() || !ready(self))
		return NULL;
	if (id > UINT32_MAX)
		Py_RETURN_NONE;
	Py_BEGIN_ALLOW_THREADS
	ret = zs_zspage_info(self->pool, (uint32_t)id, &cls, &inuse);
	Py_END_ALLOW_THREADS
	if (ret)
		Py_RETURN_NONE;
	return Py_BuildValue("(II)", cls, inuse);
}

static PyObject *ZsPool_handle_of(ZsPoolObject *self, PyObject *args)
{
	unsigned int id, idx;
	long h;

	if (!ready(self) || !PyArg_ParseTuple(args, "II:handle_of", &id, &idx))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	h = zs_handle_of(self->pool, id, idx);
	Py_END_ALLOW_THREADS
	if (h < 0) {
		PyErr_Format(PyExc_ValueError, "zsmalloc: slot %u of zspage %u is free", idx, id);
		return NULL;
	}
	return PyLong_FromLong(h);
}

static PyObject *ZsPool_get_total_pages(ZsPoolObject *self, void *closure)
{
	(void)closure;
	if (!ready(self))
		return NULL;
	return PyLong_FromUnsignedLongLong(zs_get_total_pages(self->pool));
}

static PyObject *ZsPool_get_pages_compacted(ZsPoolObject *self, void *closure)
{
	(void)closure;
	if (!ready(self))
		return NULL;
	return PyLong_FromUnsignedLongLong(zs_pages_compacted(self->pool));
}

static PyObject *ZsPool_get_huge_class_size(ZsPoolObject *self, void *closure)
{
	(void)closure;
	if (!ready(self))
		return NULL;
	return PyLong_FromUnsignedLong(zs_huge_class_size(self->pool));
}

static PyObject *ZsPool_get_cached_frames(ZsPoolObject *self, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLong(self->nr_pcp);
}

static PyObject *ZsPool_get_nr_zspage_ids(ZsPoolObject *self, void *closure)
{
	uint32_t n;

	(void)closure;
	if (!ready(self))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	n = zs_nr_zspage_ids(self->pool);
	Py_END_ALLOW_THREADS
	return PyLong_FromUnsignedLong(n);
}

static PyMethodDef ZsPool_methods[] = {
	{"malloc", (PyCFunction)ZsPool_malloc, METH_O, "zs_malloc(size) -> handle or -errno"},
	{"free", (PyCFunction)ZsPool_free, METH_O, "zs_free(handle)"},
	{"write", (PyCFunction)ZsPool_write, METH_VARARGS, "zs_obj_write(handle, data)"},
	{"read", (PyCFunction)ZsPool_read, METH_VARARGS,
	 "read(handle, out): the first len(out) payload bytes into out"},
	{"compact", (PyCFunction)ZsPool_compact, METH_NOARGS, "zs_compact() -> pages freed"},
	{"can_compact", (PyCFunction)ZsPool_can_compact, METH_O, "zs_can_compact(class)"},
	{"class_stats", (PyCFunction)ZsPool_class_stats, METH_O,
	 "class_stats(class) -> (objs_allocated, objs_used, zspages)"},
	{"lookup_class_index", (PyCFunction)ZsPool_lookup_class_index, METH_O,
	 "zs_lookup_class_index(size)"},
	{"location", (PyCFunction)ZsPool_location, METH_O,
	 "location(handle) -> (zspage id, slot)"},
	{"zspage_info", (PyCFunction)ZsPool_zspage_info, METH_O,
	 "zspage_info(id) -> (class, objects in use), or None for a free id"},
	{"handle_of", (PyCFunction)ZsPool_handle_of, METH_VARARGS,
	 "handle_of(zspage id, slot) -> the handle stored there"},
	{NULL, NULL, 0, NULL},
};

static PyGetSetDef ZsPool_getset[] = {
	{"total_pages", (getter)ZsPool_get_total_pages, NULL, "zs_get_total_pages", NULL},
	{"pages_compacted", (getter)ZsPool_get_pages_compacted, NULL, "pages compacted", NULL},
	{"huge_class_size", (getter)ZsPool_get_huge_class_size, NULL, "zs_huge_class_size",
	 NULL},
	{"nr_zspage_ids", (getter)ZsPool_get_nr_zspage_ids, NULL, "zspage ids ever used", NULL},
	{"cached_frames", (getter)ZsPool_get_cached_frames, NULL,
	 "the machine's frames held on the pool's frame list (not free, not in a zspage)",
	 NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject ZsPool_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "swaplab._native.ZsPool",
	.tp_basicsize = sizeof(ZsPoolObject),
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
	.tp_doc = "ZsPool(max_pages, chain, frames=None, alloc=None, free=None): a zsmalloc "
		  "pool. Use swaplab.mm.zsmalloc.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)ZsPool_init,
	.tp_dealloc = (destructor)ZsPool_dealloc,
	.tp_traverse = (traverseproc)ZsPool_traverse,
	.tp_methods = ZsPool_methods,
	.tp_getset = ZsPool_getset,
};

struct zs_pool *zs_pool_of(PyObject *obj)
{
	if (!PyObject_TypeCheck(obj, &ZsPool_Type) || !((ZsPoolObject *)obj)->pool) {
		PyErr_SetString(PyExc_TypeError, "an initialised swaplab._native.ZsPool");
		return NULL;
	}
	return ((ZsPoolObject *)obj)->pool;
}

/* class_table(chain) -> (huge_class_size, [(size, pages, objs, index), ...]) */
static PyObject *py_class_table(PyObject *self, PyObject *arg)
{
	struct zs_class_info t[ZS_SIZE_CLASSES];
	long chain = PyLong_AsLong(arg);
	PyObject *list;
	int huge, i;

	(void)self;
	if (chain == -1 && PyErr_Occurred())
		return NULL;
	huge = chain < 0 || chain > 64 ? -EINVAL : zs_class_table((unsigned int)chain, t);
	if (huge < 0) {
		PyErr_Format(PyExc_ValueError, "zsmalloc chain size %ld outside %d..%d", chain,
			     ZS_MIN_CHAIN, ZS_MAX_CHAIN);
		return NULL;
	}
	list = PyList_New(ZS_SIZE_CLASSES);
	if (!list)
		return NULL;
	for (i = 0; i < ZS_SIZE_CLASSES; i++) {
		PyObject *row = Py_BuildValue("(IIII)", t[i].size, t[i].pages, t[i].objs,
					      t[i].index);

		if (!row) {
			Py_DECREF(list);
			return NULL;
		}
		PyList_SET_ITEM(list, i, row);
	}
	return Py_BuildValue("(iN)", huge, list);
}

static PyMethodDef zsmalloc_functions[] = {
	{"zs_class_table", py_class_table, METH_O,
	 "zs_class_table(chain) -> (huge_class_size, [(size, pages, objs, index)] * 255)"},
	{NULL, NULL, 0, NULL},
};

int zsmalloc_add_types(PyObject *m)
{
	if (PyModule_AddType(m, &ZsPool_Type) < 0)	/* readies it, adds it as "ZsPool" */
		return -1;
	if (PyModule_AddFunctions(m, zsmalloc_functions) < 0)
		return -1;
	return PyModule_AddIntConstant(m, "ZS_SIZE_CLASSES", ZS_SIZE_CLASSES);
}
