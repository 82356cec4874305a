// SPDX-License-Identifier: GPL-2.0-only
/*
 * swaplab._native: the bindings of swaplab's compiled core.
 *
 * Thin by design (DESIGN.md, "Mechanism in C, policy in Python"): check the
 * arguments, take the buffers, release the GIL, run the kernel-shaped
 * function over the whole batch, give the buffers back.  The interface and
 * its documentation are swaplab.lib.compress; nothing else should import
 * this module.
 *
 * Codecs (algo ids): 0 lz4, 1 lzo, 2 lzo-rle.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>

#include <swaplab/codec.h>

#include "bindings.h"

/* Raise OSError(EINVAL) with a message in swaplab's style (errors.kerror). */
PyObject *raise_einval(const char *fmt, ...)
{
	PyObject *msg, *full, *exc;
	va_list va;

	va_start(va, fmt);
	msg = PyUnicode_FromFormatV(fmt, va);
	va_end(va);
	if (!msg)
		return NULL;
	full = PyUnicode_FromFormat("%U [EINVAL: Invalid argument]", msg);
	Py_DECREF(msg);
	if (!full)
		return NULL;
	exc = Py_BuildValue("(iN)", EINVAL, full);
	if (exc) {
		PyErr_SetObject(PyExc_OSError, exc);
		Py_DECREF(exc);
	}
	return NULL;
}

static int check_algo(int algo)
{
	if (algo < 0 || algo >= NR_CODECS) {
		PyErr_Format(PyExc_ValueError, "unknown codec id %d", algo);
		return -1;
	}
	return 0;
}

void batch_put(struct page_batch *b)
{
	if (b->rows)
		PyBuffer_Release(&b->rows_view);
	PyBuffer_Release(&b->pages);
}

/* Take the buffers of a batch call; 0, or -1 with an exception set. */
int int64_buffer_get(PyObject *o, Py_buffer *v, int writable)
{
	const char *fmt;

	if (PyObject_GetBuffer(o, v, (writable ? PyBUF_WRITABLE : 0) | PyBUF_FORMAT |
			       PyBUF_C_CONTIGUOUS) < 0)
		return -1;
	fmt = v->format ? v->format : "";
	if (*fmt == '<' || *fmt == '=' || *fmt == '@')
		fmt++;
	if (v->itemsize != 8 || (strcmp(fmt, "q") && strcmp(fmt, "l"))) {
		PyBuffer_Release(v);
		return -2;
	}
	return 0;
}

int fast_ints_range(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t min, Py_ssize_t max,
		    long long *out, const char *name)
{
	Py_ssize_t i;

	if (nargs < min || nargs > max) {
		if (min == max)
			PyErr_Format(PyExc_TypeError, "%s() takes %zd arguments (%zd given)", name,
				     min, nargs);
		else
			PyErr_Format(PyExc_TypeError, "%s() takes %zd to %zd arguments (%zd given)",
				     name, min, max, nargs);
		return -1;
	}
	for (i = 0; i < nargs; i++) {
		out[i] = PyLong_AsLongLong(args[i]);
		if (out[i] == -1 && PyErr_Occurred())
			return -1;
	}
	return 0;
}

int list_append_int(PyObject *list, long long v)
{
	PyObject *item = PyLong_FromLongLong(v);
	int ret;

	if (!item)
		return -1;
	ret = PyList_Append(list, item);
	Py_DECREF(item);
	return ret;
}

int int64_buffer_arg(PyObject *o, Py_buffer *v, int writable, const char *what)
{
	int ret = int64_buffer_get(o, v, writable);

	if (ret == -2)
		raise_einval("%s must be a%s int64 array", what, writable ? " writable" : "n");
	return ret < 0 ? -1 : 0;
}

int batch_get(struct page_batch *b, PyObject *pages_o, PyObject *rows_o, int writable)
{
	int flags = PyBUF_ND | PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
	Py_ssize_t i;

	b->rows = NULL;
	if (PyObject_GetBuffer(pages_o, &b->pages, flags) < 0)
		return -1;
	if (b->pages.ndim != 2 || b->pages.itemsize != 1) {
		PyErr_SetString(PyExc_ValueError,
				"pages must be a C-contiguous 2-D array of bytes (uint8)");
		goto err;
	}
	b->nrows = b->n = b->pages.shape[0];
	b->row = b->pages.shape[1];
	if (b->row > CODEC_MAX_INPUT) {
		PyErr_Format(PyExc_ValueError, "page of %zd bytes: at most %d", b->row,
			     CODEC_MAX_INPUT);
		goto err;
	}
	if (rows_o == Py_None)
		return 0;
	switch (int64_buffer_get(rows_o, &b->rows_view, 0)) {
	case -1:
		goto err;
	case -2:
		PyErr_SetString(PyExc_ValueError, "rows must be an int64 array");
		goto err;
	}
	b->rows = b->rows_view.buf;
	b->n = b->rows_view.len / 8;
	for (i = 0; i < b->n; i++) {
		if (b->rows[i] < 0 || b->rows[i] >= b->nrows) {
			PyErr_Format(PyExc_IndexError, "row %lld outside 0..%zd",
				     (long long)b->rows[i], b->nrows - 1);
			goto err_rows;
		}
	}
	return 0;
err_rows:
	PyBuffer_Release(&b->rows_view);
	b->rows = NULL;
err:
	PyBuffer_Release(&b->pages);
	return -1;
}

PyDoc_STRVAR(bound_doc, "bound(n) -> worst-case compressed size of an n-byte input.");

static PyObject *py_bound(PyObject *self, PyObject *arg)
{
	Py_ssize_t n = PyLong_AsSsize_t(arg);

	(void)self;
	if (n == -1 && PyErr_Occurred())
		return NULL;
	if (n < 0 || n > CODEC_MAX_INPUT) {
		PyErr_Format(PyExc_ValueError, "input of %zd bytes: 0..%d", n, CODEC_MAX_INPUT);
		return NULL;
	}
	return PyLong_FromSize_t(codec_bound((size_t)n));
}

PyDoc_STRVAR(compress_doc,
"compress(algo, level, src) -> bytes\n\n"
"Compress one buffer of at most 64 KiB with codec ``algo``; ``level`` is lz4's\n"
"acceleration (ignored by lzo).  OSError(EINVAL) for a larger input.");

static PyObject *py_compress(PyObject *self, PyObject *args)
{
	int algo, level;
	Py_buffer src;
	PyObject *out;
	size_t cap, len, src_len;
	uint64_t wrkmem[CODEC_WRKMEM / sizeof(uint64_t)];

	(void)self;
	if (!PyArg_ParseTuple(args, "iiy*:compress", &algo, &level, &src))
		return NULL;
	if (check_algo(algo) < 0 || src.len > CODEC_MAX_INPUT) {
		if (!PyErr_Occurred())
			raise_einval("%s: an input of %zd bytes (at most %d)",
				     codec_names[algo], src.len, CODEC_MAX_INPUT);
		PyBuffer_Release(&src);
		return NULL;
	}
	src_len = (size_t)src.len;
	cap = codec_bound(src_len);
	out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)cap);
	if (!out) {
		PyBuffer_Release(&src);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	len = codec_compress(algo, src.buf, src_len,
			     (uint8_t *)PyBytes_AS_STRING(out), cap, level, wrkmem);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&src);
	if (len == 0 && src_len > 0) {
		Py_DECREF(out);
		return raise_einval("%s: the compressor refused %zu bytes", codec_names[algo],
				    src_len);
	}
	if (_PyBytes_Resize(&out, (Py_ssize_t)len) < 0)
		return NULL;
	return out;
}

PyDoc_STRVAR(decompress_doc,
"decompress(algo, src, dst) -> None\n\n"
"Decode ``src`` into the writable buffer ``dst``, which it must fill exactly;\n"
"OSError(EINVAL) when ``src`` is corrupt, truncated, or decodes to another\n"
"length (``dst`` may then hold part of the output).");

static PyObject *py_decompress(PyObject *self, PyObject *args)
{
	int algo;
	Py_buffer src, dst;
	Py_ssize_t ret;

	(void)self;
	if (!PyArg_ParseTuple(args, "iy*w*:decompress", &algo, &src, &dst))
		return NULL;
	if (check_algo(algo) < 0) {
		PyBuffer_Release(&src);
		PyBuffer_Release(&dst);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	ret = codec_decompress(algo, src.buf, (size_t)src.len, dst.buf, (size_t)dst.len);
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&src);
	PyBuffer_Release(&dst);
	if (ret != dst.len) {
		if (ret < 0)
			return raise_einval("%s: %zd bytes of corrupt data", codec_names[algo],
					    src.len);
		return raise_einval("%s: %zd bytes decode to %zd, not %zd", codec_names[algo],
				    src.len, ret, dst.len);
	}
	Py_RETURN_NONE;
}

PyDoc_STRVAR(compress_batch_doc,
"compress_batch(algo, pages, rows, out, lens, level) -> int\n\n"
"Compress page k (``pages[rows[k]]``, or ``pages[k]`` when rows is None) for\n"
"every k, packing the outputs one after another into ``out`` and their\n"
"lengths into the int32 array ``lens``; returns the total.  ``out`` must hold\n"
"n * bound(page size).  One call, the GIL released for the whole batch.");

static PyObject *py_compress_batch(PyObject *self, PyObject *args)
{
	int algo, level, refused = 0;
	PyObject *pages_o, *rows_o, *out_o, *lens_o;
	struct page_batch b;
	Py_buffer out, lens;
	Py_ssize_t k = 0;
	size_t pos = 0, cap;
	uint64_t wrkmem[CODEC_WRKMEM / sizeof(uint64_t)];

	(void)self;
	if (!PyArg_ParseTuple(args, "iOOOOi:compress_batch", &algo, &pages_o, &rows_o,
			      &out_o, &lens_o, &level))
		return NULL;
	if (check_algo(algo) < 0 || batch_get(&b, pages_o, rows_o, 0) < 0)
		return NULL;
	if (PyObject_GetBuffer(out_o, &out, PyBUF_WRITABLE) < 0)
		goto out_batch;
	if (PyObject_GetBuffer(lens_o, &lens, PyBUF_WRITABLE | PyBUF_FORMAT) < 0)
		goto out_out;
	cap = codec_bound((size_t)b.row);
	if (lens.itemsize != 4 || lens.len / 4 < b.n || (size_t)out.len / cap < (size_t)b.n) {
		PyErr_Format(PyExc_ValueError, "%zd pages need an int32 lens of %zd entries "
			     "and an out of %zu bytes", b.n, b.n, (size_t)b.n * cap);
		goto out_lens;
	}
	Py_BEGIN_ALLOW_THREADS
	for (k = 0; k < b.n; k++) {
		size_t len = codec_compress(algo, batch_page(&b, k), (size_t)b.row,
					    (uint8_t *)out.buf + pos, cap, level, wrkmem);

		if (len == 0 && b.row > 0) {
			refused = 1;
			break;
		}
		((int32_t *)lens.buf)[k] = (int32_t)len;
		pos += len;
	}
	Py_END_ALLOW_THREADS
	if (refused)
		raise_einval("%s: the compressor refused page %zd", codec_names[algo], k);
out_lens:
	PyBuffer_Release(&lens);
out_out:
	PyBuffer_Release(&out);
out_batch:
	batch_put(&b);
	if (PyErr_Occurred())
		return NULL;
	return PyLong_FromSize_t(pos);
}

PyDoc_STRVAR(decompress_batch_doc,
"decompress_batch(algo, srcs, pages, rows) -> int\n\n"
"Decode object k of the sequence ``srcs`` into page k (``pages[rows[k]]``, or\n"
"``pages[k]``), each of which it must fill exactly.  Returns how many were\n"
"decoded before the first that failed (len(srcs) when all did); pages after\n"
"it are not touched.  One call, the GIL released for the whole batch.");

static PyObject *py_decompress_batch(PyObject *self, PyObject *args)
{
	int algo;
	PyObject *srcs_o, *pages_o, *rows_o, *seq;
	struct page_batch b;
	Py_buffer *srcs = NULL;
	Py_ssize_t n, k, got = 0, held = 0;

	(void)self;
	if (!PyArg_ParseTuple(args, "iOOO:decompress_batch", &algo, &srcs_o, &pages_o,
			      &rows_o))
		return NULL;
	if (check_algo(algo) < 0 || batch_get(&b, pages_o, rows_o, 1) < 0)
		return NULL;
	seq = PySequence_Fast(srcs_o, "srcs must be a sequence of buffers");
	if (!seq)
		goto out_batch;
	n = PySequence_Fast_GET_SIZE(seq);
	if (n > b.n) {
		PyErr_Format(PyExc_ValueError, "%zd objects for %zd pages", n, b.n);
		goto out_seq;
	}
	srcs = PyMem_Calloc((size_t)(n ? n : 1), sizeof(*srcs));
	if (!srcs) {
		PyErr_NoMemory();
		goto out_seq;
	}
	for (held = 0; held < n; held++)
		if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, held), &srcs[held],
				       PyBUF_SIMPLE) < 0)
			goto out_srcs;
	Py_BEGIN_ALLOW_THREADS
	for (k = 0; k < n; k++)
		if (codec_decompress(algo, srcs[k].buf, (size_t)srcs[k].len, batch_page(&b, k),
				     (size_t)b.row) != b.row)
			break;
	got = k;
	Py_END_ALLOW_THREADS
out_srcs:
	for (k = 0; k < held; k++)
		PyBuffer_Release(&srcs[k]);
	PyMem_Free(srcs);
out_seq:
	Py_DECREF(seq);
out_batch:
	batch_put(&b);
	if (PyErr_Occurred())
		return NULL;
	return PyLong_FromSsize_t(got);
}

static PyMethodDef native_methods[] = {
	{"bound", py_bound, METH_O, bound_doc},
	{"compress", py_compress, METH_VARARGS, compress_doc},
	{"decompress", py_decompress, METH_VARARGS, decompress_doc},
	{"compress_batch", py_compress_batch, METH_VARARGS, compress_batch_doc},
	{"decompress_batch", py_decompress_batch, METH_VARARGS, decompress_batch_doc},
	{"first_touch", py_first_touch, METH_VARARGS, first_touch_doc},
	{NULL, NULL, 0, NULL},
};

static int native_exec(PyObject *m)
{
	if (PyModule_AddIntConstant(m, "LZ4", CODEC_LZ4) < 0 ||
	    PyModule_AddIntConstant(m, "LZO", CODEC_LZO) < 0 ||
	    PyModule_AddIntConstant(m, "LZO_RLE", CODEC_LZO_RLE) < 0 ||
	    PyModule_AddIntConstant(m, "MAX_INPUT", CODEC_MAX_INPUT) < 0 ||
	    zsmalloc_add_types(m) < 0 || zram_add_types(m) < 0 ||
	    mem_map_add_types(m) < 0 || page_alloc_add_types(m) < 0 ||
	    swap_table_add_types(m) < 0 || counters_add_types(m) < 0)
		return -1;
	return 0;
}

static PyModuleDef_Slot native_slots[] = {
	{Py_mod_exec, native_exec},
	{0, NULL},
};

static struct PyModuleDef native_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "swaplab._native",
	.m_doc = "swaplab's compiled core: the kernel's codecs (lz4, lzo, lzo-rle). "
		 "Use swaplab.lib.compress.",
	.m_size = 0,
	.m_methods = native_methods,
	.m_slots = native_slots,
};

PyMODINIT_FUNC PyInit__native(void)
{
	return PyModuleDef_Init(&native_module);
}
