// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: LZ4_decompress_safe on any bytes (fuzz_input.h says how
 * an input is read).  A block that decodes must decode to at most the
 * capacity.
 */
#include <linux/lz4.h>

#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in;
	int ret;

	if (!fuzz_input_get(&in, data, size))
		return 0;
	ret = LZ4_decompress_safe((const char *)in.src, (char *)in.out, (int)in.len,
				  (int)in.cap);
	if (ret > (int)in.cap)
		abort();
	fuzz_input_put(&in);
	return 0;
}
