/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The compiled core's codecs behind one switch: what zcomp's backends are to
 * zram.  Used by the bindings and by zram's batch paths.
 */
#ifndef _SWAPLAB_CODEC_H
#define _SWAPLAB_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/lz4.h>
#include <linux/lzo.h>

enum swaplab_codec { CODEC_LZ4, CODEC_LZO, CODEC_LZO_RLE, NR_CODECS };

/* Scratch for one compression: the larger of the two tables. */
#define CODEC_WRKMEM \
	(LZ4_MEM_COMPRESS > LZO1X_1_MEM_COMPRESS ? LZ4_MEM_COMPRESS : LZO1X_1_MEM_COMPRESS)

/* Largest input one call takes: what lz4's 16-bit table can index. */
#define CODEC_MAX_INPUT	(64 * 1024)

extern const char *const codec_names[NR_CODECS];

/* Room the output of one @len-byte input needs in the worst case. */
size_t codec_bound(size_t len);

/*
 * Compress @len bytes of @src into @dst (@cap >= codec_bound(@len)) with
 * @wrkmem (CODEC_WRKMEM bytes, 8-byte aligned).  Returns the compressed
 * length, or 0 when the codec refused.
 */
size_t codec_compress(int algo, const uint8_t *src, size_t len, uint8_t *dst, size_t cap,
		      int level, void *wrkmem);

/*
 * Decode @len bytes of @src into @dst (@cap bytes).  Returns the decoded
 * length, or -1 when the input is corrupt or does not fit.
 */
ssize_t codec_decompress(int algo, const uint8_t *src, size_t len, uint8_t *dst, size_t cap);

#endif /* _SWAPLAB_CODEC_H */
