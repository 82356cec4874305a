// SPDX-License-Identifier: GPL-2.0-only
/*
 * libFuzzer target: every compressor on any input of up to 64 KiB, then its
 * decoder; the bytes must come back exactly, and the compressed length must
 * stay within the documented bound.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/lz4.h>
#include <linux/lzo.h>

static unsigned char wrkmem[LZ4_MEM_COMPRESS > LZO1X_1_MEM_COMPRESS ?
			    LZ4_MEM_COMPRESS : LZO1X_1_MEM_COMPRESS];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t bound, clen, dlen;
	unsigned char *c, *d;
	int n, version;

	if (size > 64 * 1024)
		return 0;
	bound = lzo1x_worst_compress(size) + 2;
	if (bound < (size_t)LZ4_COMPRESSBOUND(size))
		bound = LZ4_COMPRESSBOUND(size);
	c = malloc(bound);
	d = malloc(size ? size : 1);

	n = LZ4_compress_fast((const char *)data, (char *)c, (int)size, (int)bound, 1, wrkmem);
	if (n <= 0 || (size_t)n > (size_t)LZ4_COMPRESSBOUND(size))
		abort();
	if (LZ4_decompress_safe((const char *)c, (char *)d, n, (int)size) != (int)size ||
	    memcmp(d, data, size))
		abort();

	for (version = 0; version <= 1; version++) {
		clen = bound;
		if (version)
			lzorle1x_1_compress(data, size, c, &clen, wrkmem);
		else
			lzo1x_1_compress(data, size, c, &clen, wrkmem);
		if (clen > bound)
			abort();
		dlen = size;
		if (lzo1x_decompress_safe(c, clen, d, &dlen) != LZO_E_OK || dlen != size ||
		    memcmp(d, data, size))
			abort();
	}
	free(c);
	free(d);
	return 0;
}
