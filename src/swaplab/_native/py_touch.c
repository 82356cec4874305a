// SPDX-License-Identifier: GPL-2.0-only
/*
 * swaplab._native.first_touch: the timing loop of the host kernel's row of
 * `swaplab bench` (swaplab.kernel.swapin).  Each page of a batch is touched
 * once, in the batch's order, by a one-byte read between two reads of
 * CLOCK_MONOTONIC: on a page the kernel swapped out, that read is the fault
 * the bench times.  Compiled so that the loop adds tens of nanoseconds to a
 * fault, not the microsecond an interpreted loop would.
 */
#include <time.h>

#include "bindings.h"

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

PyObject *py_first_touch(PyObject *self, PyObject *args)
{
	PyObject *pages_o, *order_o, *out_o;
	struct page_batch b;
	Py_buffer out;
	int64_t *lat;
	Py_ssize_t k;
	int ret;

	(void)self;
	if (!PyArg_ParseTuple(args, "OOO", &pages_o, &order_o, &out_o))
		return NULL;
	if (batch_get(&b, pages_o, order_o, 0) < 0)
		return NULL;
	ret = int64_buffer_get(out_o, &out, 1);
	if (ret == -2)
		PyErr_SetString(PyExc_ValueError, "first_touch: out must be an int64 array");
	if (ret < 0) {
		batch_put(&b);
		return NULL;
	}
	if (out.len / 8 < b.n) {
		PyErr_Format(PyExc_ValueError, "first_touch: out holds %zd times, the order %zd pages",
			     out.len / 8, b.n);
		PyBuffer_Release(&out);
		batch_put(&b);
		return NULL;
	}
	lat = out.buf;
	Py_BEGIN_ALLOW_THREADS
	for (k = 0; k < b.n; k++) {
		const volatile uint8_t *p = batch_page(&b, k);
		int64_t t0 = now_ns();

		(void)*p;
		lat[k] = now_ns() - t0;
	}
	Py_END_ALLOW_THREADS
	PyBuffer_Release(&out);
	batch_put(&b);
	Py_RETURN_NONE;
}

const char first_touch_doc[] =
	"first_touch(pages, order, out): read one byte of pages[order[k]] for each k in turn, "
	"storing the ns each read took in out[k] (CLOCK_MONOTONIC, the GIL released)";
