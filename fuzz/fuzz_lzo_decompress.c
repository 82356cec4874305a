// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: lzo1x_decompress_safe (lzo and lzo-rle streams) on any
 * bytes.  The first two bytes choose the output capacity (0..8191); input
 * and output are allocated at exactly their sizes so AddressSanitizer sees
 * any access outside them.  The decoded length never exceeds the capacity.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/lzo.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t cap, out_len;
	unsigned char *out, *src;

	if (size < 2)
		return 0;
	cap = (size_t)((data[0] | data[1] << 8) & 0x1fff);
	data += 2;
	size -= 2;
	src = malloc(size ? size : 1);
	out = malloc(cap ? cap : 1);
	memcpy(src, data, size);
	out_len = cap;
	lzo1x_decompress_safe(src, size, out, &out_len);
	if (out_len > cap)
		abort();
	free(src);
	free(out);
	return 0;
}
