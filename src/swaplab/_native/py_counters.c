// SPDX-License-Identifier: GPL-2.0-only
/*
 * swaplab._native.Counters: event counters over an int64 array (vmstat's
 * items, or one row of items per cgroup), added to by one compiled step
 * each.  A step never releases the GIL, so it is atomic against every other
 * thread of the interpreter, as a per-CPU counter update needs no lock in
 * the kernel: no Python lock is taken, and readers (snapshots, the stat
 * files) see whole updates.  The methods take plain ints (METH_FASTCALL:
 * several run on every fault).
 */
#include "bindings.h"

#include <stdio.h>
#include <string.h>

typedef struct {
	PyObject_HEAD
	Py_buffer view;
	int64_t *v;
	Py_ssize_t n;		/* counters */
	Py_ssize_t cols;	/* counters a row */
	char row_name[32];	/* what a row is, in errors ("cgroup id") */
} CountersObject;

static void Counters_release(CountersObject *self)
{
	if (self->v) {
		PyBuffer_Release(&self->view);
		self->v = NULL;
	}
	self->n = self->cols = 0;
}

static int Counters_init(CountersObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"array", "cols", "row_name", NULL};
	const char *row_name = "row";
	Py_ssize_t cols = 1;
	PyObject *o;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|ns:Counters", kwlist, &o, &cols, &row_name))
		return -1;
	snprintf(self->row_name, sizeof(self->row_name), "%s", row_name);
	Counters_release(self);
	if (int64_buffer_arg(o, &self->view, 1, "Counters: array") < 0)
		return -1;
	self->v = self->view.buf;
	self->n = self->view.len / 8;
	if (cols < 1 || self->n % cols) {
		raise_einval("Counters: %zd counters do not make rows of %zd", self->n, cols);
		Counters_release(self);
		return -1;
	}
	self->cols = cols;
	return 0;
}

static void Counters_dealloc(CountersObject *self)
{
	Counters_release(self);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/* fast_ints_range on an initialised object; 0, or -1 with an exception. */
static int counter_args(CountersObject *self, PyObject *const *args, Py_ssize_t nargs,
			Py_ssize_t min, Py_ssize_t max, long long *a, const char *name)
{
	if (!self->v) {
		PyErr_SetString(PyExc_RuntimeError, "Counters is not initialised");
		return -1;
	}
	return fast_ints_range(args, nargs, min, max, a, name);
}

/* Is @i a counter, @what naming it in the error?  1, or 0 with IndexError. */
static int counter_ok(CountersObject *self, long long i, const char *what)
{
	if (i >= 0 && i < self->n)
		return 1;
	PyErr_Format(PyExc_IndexError, "%s %lld outside 0..%zd", what, i, self->n - 1);
	return 0;
}

/* Is (@row, @col) a counter?  1, or 0 with IndexError naming the value. */
static int cell_ok(CountersObject *self, long long row, long long col)
{
	if (row < 0 || row >= self->n / self->cols) {
		PyErr_Format(PyExc_IndexError, "%s %lld outside 0..%zd", self->row_name, row,
			     self->n / self->cols - 1);
		return 0;
	}
	if (col < 0 || col >= self->cols) {
		PyErr_Format(PyExc_IndexError, "item %lld outside 0..%zd", col, self->cols - 1);
		return 0;
	}
	return 1;
}

PyDoc_STRVAR(add_doc,
"add(i, n=1)\n\n"
"Add n (any sign: a gauge moves both ways) to counter i of the flat array.");

static PyObject *Counters_add(CountersObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	long long a[2] = {0, 1};

	if (counter_args(self, args, nargs, 1, 2, a, "add") < 0 || !counter_ok(self, a[0], "item"))
		return NULL;
	self->v[a[0]] += a[1];
	Py_RETURN_NONE;
}

PyDoc_STRVAR(add2_doc,
"add2(i, j)\n\n"
"Add 1 to counters i and j in one step (a major fault's two events).");

static PyObject *Counters_add2(CountersObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	long long a[2];

	if (counter_args(self, args, nargs, 2, 2, a, "add2") < 0 ||
	    !counter_ok(self, a[0], "item") || !counter_ok(self, a[1], "item"))
		return NULL;
	self->v[a[0]]++;
	self->v[a[1]]++;
	Py_RETURN_NONE;
}

PyDoc_STRVAR(add_row_doc,
"add_row(row, item, n=1)\n\n"
"Add n to counter item of row (a cgroup's events).  IndexError naming the\n"
"value for a row or item outside the array.");

static PyObject *Counters_add_row(CountersObject *self, PyObject *const *args,
				  Py_ssize_t nargs)
{
	long long a[3] = {0, 0, 1};

	if (counter_args(self, args, nargs, 2, 3, a, "add_row") < 0 || !cell_ok(self, a[0], a[1]))
		return NULL;
	self->v[a[0] * self->cols + a[1]] += a[2];
	Py_RETURN_NONE;
}

PyDoc_STRVAR(add2_row_doc,
"add2_row(row, a, b)\n\n"
"Add 1 to items a and b of row in one step.");

static PyObject *Counters_add2_row(CountersObject *self, PyObject *const *args,
				   Py_ssize_t nargs)
{
	long long a[3];

	if (counter_args(self, args, nargs, 3, 3, a, "add2_row") < 0 ||
	    !cell_ok(self, a[0], a[1]) || !cell_ok(self, a[0], a[2]))
		return NULL;
	self->v[a[0] * self->cols + a[1]]++;
	self->v[a[0] * self->cols + a[2]]++;
	Py_RETURN_NONE;
}

PyDoc_STRVAR(add_rows_doc,
"add_rows(rows, item, n=1)\n\n"
"Add n to counter item of row rows[k] for every k (rows: an int32 array,\n"
"the cgroups of a batch's frames).  Every row is checked first: IndexError\n"
"naming the first one outside the array, nothing added.");

static PyObject *Counters_add_rows(CountersObject *self, PyObject *const *args,
				   Py_ssize_t nargs)
{
	long long a[3] = {0, 0, 1};
	const int32_t *rows;
	Py_buffer view;
	Py_ssize_t k, nr, nrows = self->n / (self->cols ? self->cols : 1);
	PyObject *ret = NULL;
	char fmt;

	if (!self->v) {
		PyErr_SetString(PyExc_RuntimeError, "Counters is not initialised");
		return NULL;
	}
	if (nargs < 2 || nargs > 3) {
		PyErr_Format(PyExc_TypeError, "add_rows() takes 2 to 3 arguments (%zd given)",
			     nargs);
		return NULL;
	}
	if (counter_args(self, args + 1, nargs - 1, 1, 2, a + 1, "add_rows") < 0)
		return NULL;
	if (PyObject_GetBuffer(args[0], &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
		return NULL;
	fmt = view.format && view.format[0] ? view.format[strlen(view.format) - 1] : 0;
	if (view.itemsize != 4 || (fmt != 'i' && fmt != 'l')) {
		raise_einval("add_rows: rows must be an int32 array");
		goto out;
	}
	rows = view.buf;
	nr = view.len / 4;
	if (a[1] < 0 || a[1] >= self->cols) {
		PyErr_Format(PyExc_IndexError, "item %lld outside 0..%zd", a[1], self->cols - 1);
		goto out;
	}
	for (k = 0; k < nr; k++)
		if (rows[k] < 0 || rows[k] >= nrows) {
			PyErr_Format(PyExc_IndexError, "%s %d outside 0..%zd", self->row_name,
				     rows[k], nrows - 1);
			goto out;
		}
	for (k = 0; k < nr; k++)
		self->v[rows[k] * self->cols + a[1]] += a[2];
	ret = Py_None;
	Py_INCREF(ret);
out:
	PyBuffer_Release(&view);
	return ret;
}

#define COUNTERS_METHOD(name)							\
	{ #name, (PyCFunction)(void (*)(void))Counters_##name, METH_FASTCALL, name##_doc }

static PyMethodDef Counters_methods[] = {
	COUNTERS_METHOD(add),
	COUNTERS_METHOD(add2),
	COUNTERS_METHOD(add_row),
	COUNTERS_METHOD(add2_row),
	COUNTERS_METHOD(add_rows),
	{NULL, NULL, 0, NULL},
};

#undef COUNTERS_METHOD

static PyTypeObject Counters_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "swaplab._native.Counters",
	.tp_basicsize = sizeof(CountersObject),
	.tp_dealloc = (destructor)Counters_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Counters(array, cols=1, row_name='row'): event counters over an int64 "
		  "array, added to atomically (one compiled step each, the GIL held)",
	.tp_methods = Counters_methods,
	.tp_init = (initproc)Counters_init,
	.tp_new = PyType_GenericNew,
};

int counters_add_types(PyObject *m)
{
	return PyModule_AddType(m, &Counters_Type);
}
