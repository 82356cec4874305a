// SPDX-License-Identifier: GPL-2.0-only
/*
 * One switch over the compiled codecs (include/swaplab/codec.h).
 */
#include <stdint.h>

#include <swaplab/codec.h>

const char *const codec_names[NR_CODECS] = {"lz4", "lzo", "lzo-rle"};

size_t codec_bound(size_t len)
{
	size_t a = LZ4_COMPRESSBOUND(len);
	size_t b = lzo1x_worst_compress(len) + 2;	/* + lzo-rle's marker */

	return a > b ? a : b;
}

size_t codec_compress(int algo, const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
		      int level, void *wrkmem)
{
	size_t out_len = cap;

	switch (algo) {
	case CODEC_LZ4:
		return (size_t)LZ4_compress_fast((const char *)src, (char *)dst,
						 (int)len, (int)cap, level, wrkmem);
	case CODEC_LZO:
		lzo1x_1_compress(src, len, dst, &out_len, wrkmem);
		return out_len;
	default:
		lzorle1x_1_compress(src, len, dst, &out_len, wrkmem);
		return out_len;
	}
}

ssize_t codec_decompress(int algo, const uint8_t *src, size_t len, uint8_t *dst, size_t cap)
{
	if (algo == CODEC_LZ4) {
		int ret;

		if (len > INT32_MAX || cap > INT32_MAX)
			return -1;
		ret = LZ4_decompress_safe((const char *)src, (char *)dst, (int)len, (int)cap);
		return ret < 0 ? -1 : ret;
	} else {
		size_t out_len = cap;

		/* lzo and lzo-rle share one decoder; the stream says which */
		if (lzo1x_decompress_safe(src, len, dst, &out_len) != LZO_E_OK)
			return -1;
		return (ssize_t)out_len;
	}
}
