/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The back-reference copy both decoders share: @len bytes from @dist bytes
 * back in the output, where the source may overlap what is being written
 * (a distance under @len repeats the last @dist bytes).
 */
#ifndef _SWAPLAB_MATCH_COPY_H
#define _SWAPLAB_MATCH_COPY_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * match_copy - copy @len bytes from @op - @dist to @op and return @op + @len.
 * The caller has checked that @dist <= bytes already written and @len <= room
 * left before @oend.  When there are 8 bytes to spare after the match it
 * copies 8 bytes at a time and may write up to 7 bytes past the match (the
 * decoder overwrites them or they lie beyond its output); a distance under 8
 * first lays down 8 bytes one at a time, after which the output repeats with
 * a period of at least 8, so whole words can follow.
 */
static inline uint8_t *match_copy(uint8_t *op, size_t dist, size_t len, const uint8_t *oend)
{
	uint8_t *const end = op + len;
	const uint8_t *src = op - dist;

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

#endif /* _SWAPLAB_MATCH_COPY_H */
