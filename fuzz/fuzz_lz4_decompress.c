// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: LZ4_decompress_safe on any bytes.  The first two bytes
 * choose the output capacity (0..8191); the buffer is allocated at exactly
 * that size, so AddressSanitizer sees any write past it.  A block that
 * decodes must decode to at most the capacity.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/lz4.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap;
	char *out, *src;
	int ret;

	if (size < 2)
		return 0;
	cap = (size_t)((data[0] | data[1] << 8) & 0x1fff);
	data += 2;
	size -= 2;
	/* exact-size copies: a read past the input is caught too */
	src = malloc(size ? size : 1);
	out = malloc(cap ? cap : 1);
	memcpy(src, data, size);
	ret = LZ4_decompress_safe(src, out, (int)size, (int)cap);
	if (ret > (int)cap)
		abort();
	free(src);
	free(out);
	return 0;
}
