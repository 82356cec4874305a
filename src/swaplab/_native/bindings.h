/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the binding files of swaplab._native share: argument helpers and
 * the types each file adds to the module.  Python-facing only; the
 * kernel-shaped code under lib/, mm/ and drivers/ never includes it.
 */
#ifndef _SWAPLAB_BINDINGS_H
#define _SWAPLAB_BINDINGS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

/* Raise OSError(EINVAL) with a message in swaplab's style (errors.kerror). */
PyObject *raise_einval(const char *fmt, ...);

/*
 * The pages of a batch call: a C-contiguous 2-D buffer of @nrows rows of
 * @row bytes, and which rows the batch's items use: @rows (None: item k is
 * row k) holding @n int64 row numbers, each checked to lie in the buffer.
 */
struct page_batch {
	Py_buffer pages;
	Py_buffer rows_view;
	const int64_t *rows;
	Py_ssize_t nrows, row, n;
};

/* The page a batch item @k uses. */
static inline uint8_t *batch_page(const struct page_batch *b, Py_ssize_t k)
{
	return (uint8_t *)b->pages.buf + (size_t)(b->rows ? b->rows[k] : k) * (size_t)b->row;
}

/* Take the buffers of a batch call; 0, or -1 with an exception set. */
int batch_get(struct page_batch *b, PyObject *pages_o, PyObject *rows_o, int writable);
void batch_put(struct page_batch *b);

/*
 * Take a C-contiguous buffer of int64 (format q or l) from @o (writable if
 * @writable): 0; -1 with the exception of a failed PyObject_GetBuffer; -2
 * (nothing held, no exception set) when it is not int64: the caller says why.
 */
int int64_buffer_get(PyObject *o, Py_buffer *v, int writable);

/* int64_buffer_get for an argument: 0, or -1 with OSError(EINVAL) naming
 * @what ("alloc_bulk: out") when it is not an int64 array. */
int int64_buffer_arg(PyObject *o, Py_buffer *v, int writable, const char *what);

/*
 * The ints of a fastcall: at least @min and at most @max of them (@nargs
 * given) into @out, the missing ones left as the caller set them; 0, or -1
 * with TypeError naming @name and the counts, or the conversion's error.
 */
int fast_ints_range(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t min, Py_ssize_t max,
		    long long *out, const char *name);

/* fast_ints_range for exactly @n ints. */
static inline int fast_ints(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t n,
			    long long *out, const char *name)
{
	return fast_ints_range(args, nargs, n, n, out, name);
}

/* Append the int @v to the list @list; 0, or -1 with an exception set. */
int list_append_int(PyObject *list, long long v);

/* Each binding file adds its types to the module; 0 or -1. */
int zsmalloc_add_types(PyObject *m);
int zram_add_types(PyObject *m);
int mem_map_add_types(PyObject *m);
int page_alloc_add_types(PyObject *m);
int swap_table_add_types(PyObject *m);
int counters_add_types(PyObject *m);

/* The host kernel's first-touch timing loop (py_touch.c). */
PyObject *py_first_touch(PyObject *self, PyObject *args);
extern const char first_touch_doc[];

/* The frame arrays behind a swaplab._native.MemMap (NULL: not one). */
struct mem_map *mem_map_of(PyObject *obj);

/* The buddy allocator behind a swaplab._native.BuddyZone (NULL: not one). */
struct buddy_zone *buddy_zone_of(PyObject *obj);

/* The zsmalloc pool behind a swaplab._native.ZsPool (NULL: not one). */
struct zs_pool *zs_pool_of(PyObject *obj);

#endif /* _SWAPLAB_BINDINGS_H */
