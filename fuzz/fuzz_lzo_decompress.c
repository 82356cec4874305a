// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: lzo1x_decompress_safe (lzo and lzo-rle streams) on any
 * bytes (fuzz_input.h says how an input is read).  The decoded length never
 * exceeds the capacity.
 */
#include <linux/lzo.h>

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in;
	size_t out_len;

	if (!fuzz_input_get(&in, data, size))
		return 0;
	out_len = in.cap;
	lzo1x_decompress_safe(in.src, in.len, in.out, &out_len);
	if (out_len > in.cap)
		abort();
	fuzz_input_put(&in);
	return 0;
}
