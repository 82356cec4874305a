/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * LZO1X-1 and lzo-rle as the kernel's lib/lzo offers them to zram: the
 * compressors and lzo1x_decompress_safe, which decodes both bitstreams.
 */
#ifndef _SWAPLAB_LINUX_LZO_H
#define _SWAPLAB_LINUX_LZO_H

#include <stddef.h>

/* Scratch the compressor needs: a dictionary of 2^13 16-bit positions. */
#define LZO1X_1_MEM_COMPRESS	(8192 * sizeof(unsigned short))
#define LZO1X_MEM_COMPRESS	LZO1X_1_MEM_COMPRESS

/* Worst case: every byte a literal, plus run headers and the end marker. */
#define lzo1x_worst_compress(x) ((x) + ((x) / 16) + 64 + 3 + 2)

/* The bitstream version lzo-rle writes after its marker byte 17. */
#define LZO_VERSION		1

/*
 * lzo1x_1_compress / lzorle1x_1_compress - compress @src_len bytes into
 * @dst, which must hold lzo1x_worst_compress(@src_len) bytes; the length is
 * stored in *@dst_len.  lzo-rle writes the version marker first and encodes
 * runs of four or more zero bytes as a zero run.  Return LZO_E_OK.
 */
int lzo1x_1_compress(const unsigned char *src, size_t src_len,
		     unsigned char *dst, size_t *dst_len, void *wrkmem);
int lzorle1x_1_compress(const unsigned char *src, size_t src_len,
			unsigned char *dst, size_t *dst_len, void *wrkmem);

/*
 * lzo1x_decompress_safe - decode an LZO1X stream (version 0, or version 1
 * with zero runs) of @src_len bytes into @dst; *@dst_len holds the capacity
 * on entry and the decoded length on return.  A malformed, truncated or
 * overlong input gives a negative LZO_E_* code and never a read or write
 * outside the buffers.
 */
int lzo1x_decompress_safe(const unsigned char *src, size_t src_len,
			  unsigned char *dst, size_t *dst_len);

#define LZO_E_OK			0
#define LZO_E_ERROR			(-1)
#define LZO_E_OUT_OF_MEMORY		(-2)
#define LZO_E_NOT_COMPRESSIBLE		(-3)
#define LZO_E_INPUT_OVERRUN		(-4)
#define LZO_E_OUTPUT_OVERRUN		(-5)
#define LZO_E_LOOKBEHIND_OVERRUN	(-6)
#define LZO_E_EOF_NOT_FOUND		(-7)
#define LZO_E_INPUT_NOT_CONSUMED	(-8)
#define LZO_E_NOT_YET_IMPLEMENTED	(-9)
#define LZO_E_INVALID_ARGUMENT		(-10)

#endif /* _SWAPLAB_LINUX_LZO_H */
