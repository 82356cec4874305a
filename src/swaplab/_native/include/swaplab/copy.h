/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The copies the codecs share: literals moved a word at a time where the
 * buffer has room to spare, and the decoders' back-reference copy (@len
 * bytes from @dist bytes back in the output, where a distance under @len
 * repeats the last @dist bytes).
 */
#ifndef _SWAPLAB_COPY_H
#define _SWAPLAB_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * wild_copy - copy @len bytes from @src to @dst 8 bytes at a time, so up to
 * 7 bytes past @dst + @len are written and past @src + @len read: the
 * caller checks both buffers have that room (the spill is overwritten by
 * what the codec writes next, or lies beyond its output).
 */
static inline void wild_copy(uint8_t *dst, const uint8_t *src, size_t len)
{
	uint8_t *const end = dst + len;

	do {
		memcpy(dst, src, 8);
		dst += 8;
		src += 8;
	} while (dst < end);
}

/*
 * match_copy - copy @len bytes from @op - @dist to @op and return @op + @len.
 * The caller has checked that @dist <= bytes already written and @len <= room
 * left before @oend.  A match at least 16 bytes back with 16 bytes to spare
 * after it goes 16 bytes at a time (up to 15 bytes past the match written).
 * Otherwise, when there are 8 bytes to spare after the match, it
 * copies 8 bytes at a time and may write up to 7 bytes past the match (the
 * decoder overwrites them or they lie beyond its output); a distance under 8
 * first lays down 8 bytes one at a time, after which the output repeats with
 * a period of at least 8, so whole words can follow.
 */
static inline uint8_t *match_copy(uint8_t *op, size_t dist, size_t len, const uint8_t *oend)
{
	uint8_t *const end = op + len;
	const uint8_t *src = op - dist;

	if (dist >= 16 && (size_t)(oend - op) >= len + 16) {
		do {			/* far enough back: 16 bytes at a time */
			memcpy(op, src, 16);
			op += 16;
			src += 16;
		} while (op < end);
		return end;
	}
	if ((size_t)(oend - op) >= len + 8) {
		if (dist < 8) {
			size_t period = dist;
			int i;

			while (period < 8)
				period += dist;
			for (i = 0; i < 8; i++)
				op[i] = src[i];
			src = op + 8 - period;
			op += 8;
		}
		while (op < end) {
			memcpy(op, src, 8);
			op += 8;
			src += 8;
		}
		return end;
	}
	while (op < end)
		*op++ = *src++;
	return end;
}

#endif /* _SWAPLAB_COPY_H */
