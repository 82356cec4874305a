// SPDX-License-Identifier: GPL-2.0-only
/*
 * swaplab._native.BuddyZone: the buddy allocator of mm/page_alloc.c
 * (swaplab/page_alloc.h) for swaplab.mm.page_alloc.PhysMem, which holds its
 * zone lock around every call.  The interface and its documentation are
 * PhysMem's.
 */
#include "bindings.h"

#include <swaplab/page_alloc.h>

typedef struct {
	PyObject_HEAD
	struct buddy_zone zone;
} BuddyZoneObject;

static void BuddyZone_dealloc(BuddyZoneObject *self)
{
	buddy_destroy(&self->zone);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static int BuddyZone_init(BuddyZoneObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"nr_frames", NULL};
	long long nr_frames;
	int err;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "L:BuddyZone", kwlist, &nr_frames))
		return -1;
	buddy_destroy(&self->zone);
	if (nr_frames <= 0) {
		raise_einval("BuddyZone: %lld page frames; it takes at least one", nr_frames);
		return -1;
	}
	err = buddy_init(&self->zone, nr_frames);
	if (err) {
		PyErr_NoMemory();
		return -1;
	}
	return 0;
}

static int ready(BuddyZoneObject *self)
{
	if (self->zone.nr_frames)
		return 1;
	raise_einval("BuddyZone: not initialised");
	return 0;
}

static const char alloc_doc[] =
	"alloc(order) -> head pfn of a new block of 2**order frames, or -1 when none is free";

/* The order @arg names for method @what: 0..BUDDY_MAX_ORDER, or -1 with an exception. */
static int order_arg(BuddyZoneObject *self, PyObject *arg, const char *what)
{
	long order = PyLong_AsLong(arg);

	if (order == -1 && PyErr_Occurred())
		return -1;
	if (!ready(self))
		return -1;
	if (order < 0 || order > BUDDY_MAX_ORDER) {
		raise_einval("%s: order %ld outside 0..%d", what, order, BUDDY_MAX_ORDER);
		return -1;
	}
	return (int)order;
}

static PyObject *BuddyZone_alloc(BuddyZoneObject *self, PyObject *arg)
{
	int order = order_arg(self, arg, "alloc");

	if (order < 0)
		return NULL;
	return PyLong_FromLongLong(buddy_alloc(&self->zone, (unsigned int)order));
}

static const char alloc_bulk_doc[] =
	"alloc_bulk(out) -> len(out) order-0 frames written to the int64 array out, or -1 "
	"(nothing taken) when fewer are free";

static PyObject *BuddyZone_alloc_bulk(BuddyZoneObject *self, PyObject *arg)
{
	Py_buffer out;
	long got;

	if (!ready(self) || int64_buffer_arg(arg, &out, 1, "alloc_bulk: out") < 0)
		return NULL;
	got = buddy_alloc_bulk(&self->zone, (long)(out.len / 8), out.buf);
	PyBuffer_Release(&out);
	return PyLong_FromLong(got);
}

static const char free_doc[] =
	"free(pfn, order): give back the block of 2**order frames at pfn; EINVAL naming it "
	"when it is misaligned, outside the zone or free already";

static PyObject *BuddyZone_free(BuddyZoneObject *self, PyObject *args)
{
	long long pfn;
	int order;

	if (!PyArg_ParseTuple(args, "Li:free", &pfn, &order) || !ready(self))
		return NULL;
	if (order < 0 || buddy_free(&self->zone, pfn, (unsigned int)order))
		return raise_einval("free: pfn %lld order %d is not an allocated block of a "
				    "zone of %lld frames", pfn, order,
				    (long long)self->zone.nr_frames);
	Py_RETURN_NONE;
}

static const char free_frames_doc[] =
	"free_frames(pfns): give back the order-0 frames of the int64 array pfns in order; "
	"EINVAL naming the first that is not an allocated frame (those before it are freed)";

static PyObject *BuddyZone_free_frames(BuddyZoneObject *self, PyObject *arg)
{
	Py_buffer v;
	const int64_t *pfns;
	Py_ssize_t k, n;

	if (!ready(self) || int64_buffer_arg(arg, &v, 0, "free_frames: pfns") < 0)
		return NULL;
	pfns = v.buf;
	n = v.len / 8;
	for (k = 0; k < n; k++) {
		if (buddy_free(&self->zone, pfns[k], 0)) {
			long long bad = pfns[k];

			PyBuffer_Release(&v);
			return raise_einval("free_frames: pfn %lld is not an allocated frame", bad);
		}
	}
	PyBuffer_Release(&v);
	Py_RETURN_NONE;
}

static const char blocks_doc[] =
	"blocks(order) -> the head pfns of the free blocks of that order, in list order";

static PyObject *BuddyZone_blocks(BuddyZoneObject *self, PyObject *arg)
{
	int order = order_arg(self, arg, "blocks");
	PyObject *out;
	int64_t pfn;

	if (order < 0)
		return NULL;
	out = PyList_New(0);
	if (!out)
		return NULL;
	for (pfn = self->zone.head[order]; pfn != BUDDY_NONE; pfn = self->zone.next[pfn]) {
		if (list_append_int(out, pfn) < 0) {
			Py_DECREF(out);
			return NULL;
		}
	}
	return out;
}

static PyMethodDef BuddyZone_methods[] = {
	{"alloc", (PyCFunction)BuddyZone_alloc, METH_O, alloc_doc},
	{"alloc_bulk", (PyCFunction)BuddyZone_alloc_bulk, METH_O, alloc_bulk_doc},
	{"free", (PyCFunction)BuddyZone_free, METH_VARARGS, free_doc},
	{"free_frames", (PyCFunction)BuddyZone_free_frames, METH_O, free_frames_doc},
	{"blocks", (PyCFunction)BuddyZone_blocks, METH_O, blocks_doc},
	{NULL, NULL, 0, NULL},
};

static PyObject *BuddyZone_nr_free(BuddyZoneObject *self, void *closure)
{
	(void)closure;
	return PyLong_FromLongLong(self->zone.nr_free);
}

static PyGetSetDef BuddyZone_getset[] = {
	{"nr_free", (getter)BuddyZone_nr_free, NULL, "free frames", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject BuddyZone_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "swaplab._native.BuddyZone",
	.tp_basicsize = sizeof(BuddyZoneObject),
	.tp_dealloc = (destructor)BuddyZone_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "BuddyZone(nr_frames): the buddy allocator of one zone of page frames",
	.tp_methods = BuddyZone_methods,
	.tp_getset = BuddyZone_getset,
	.tp_init = (initproc)BuddyZone_init,
	.tp_new = PyType_GenericNew,
};

struct buddy_zone *buddy_zone_of(PyObject *obj)
{
	if (!PyObject_TypeCheck(obj, &BuddyZone_Type) || !((BuddyZoneObject *)obj)->zone.nr_frames) {
		PyErr_SetString(PyExc_TypeError, "an initialised swaplab._native.BuddyZone");
		return NULL;
	}
	return &((BuddyZoneObject *)obj)->zone;
}

int page_alloc_add_types(PyObject *m)
{
	return PyModule_AddType(m, &BuddyZone_Type);
}
