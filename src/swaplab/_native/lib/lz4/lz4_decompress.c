// SPDX-License-Identifier: GPL-2.0-only
/*
 * A safe LZ4 block decoder, written for swaplab from the block format
 * (lz4defs.h).  Every length read from the input is checked against what is
 * left of the input and of the output before it is used, and every offset
 * against the output written so far, so a malformed, truncated or hostile
 * block ends in an error and never in a read or write outside the buffers.
 * A block must end with a sequence of literals only, exactly at the end of
 * its input.
 */
#include <string.h>

#include <linux/lz4.h>
#include <linux/unaligned.h>
#include <swaplab/copy.h>
#include "lz4defs.h"

static inline void copy16(uint8_t *dst, const uint8_t *src)
{
	memcpy(dst, src, 16);
}

/*
 * Add the continuation bytes of a length field to *@len.  False when the
 * input ends inside the field or the length grows past @limit (more than
 * any buffer could take).
 */
static inline int lz4_read_length(const uint8_t **ipp, const uint8_t *iend,
				  size_t *len, size_t limit)
{
	const uint8_t *ip = *ipp;
	unsigned int b;

	do {
		if (unlikely(ip >= iend))
			return 0;
		b = *ip++;
		*len += b;
		if (unlikely(*len > limit))
			return 0;
	} while (b == 255);
	*ipp = ip;
	return 1;
}

int LZ4_decompress_safe(const char *source, char *dest, int compressed_size,
			int dst_capacity)
{
	const uint8_t *ip = (const uint8_t *)source;
	const uint8_t *const iend = ip + (compressed_size > 0 ? compressed_size : 0);
	uint8_t *const ostart = (uint8_t *)dest;
	uint8_t *op = ostart;
	uint8_t *const oend = ostart + (dst_capacity > 0 ? dst_capacity : 0);

	if (compressed_size <= 0 || dst_capacity < 0)
		return -1;

	for (;;) {
		unsigned int token;
		size_t lit_len, match_len, offset;

		if (unlikely(ip >= iend))
			return -1;
		token = *ip++;
		lit_len = token >> ML_BITS;

		/*
		 * The common sequence, far from both ends: under 15 literals and
		 * a match of at most 18 bytes, with 16 bytes of input and 32 of
		 * output to spare.  Both copies then move whole words without
		 * counting (16 literal bytes, 18 match bytes; what lies past the
		 * sequence is overwritten by the next one).  The sequence cannot
		 * be the last (its literals end before the input does), and a
		 * match too close or too far back takes the careful path.
		 */
		if (lit_len != RUN_MASK && (token & ML_MASK) != ML_MASK &&
		    likely(iend - ip >= 16 && oend - op >= 32)) {
			const uint8_t *src;

			copy16(op, ip);
			op += lit_len;
			ip += lit_len;
			offset = get_unaligned_le16(ip);
			if (likely(offset >= 8 && offset <= (size_t)(op - ostart))) {
				ip += 2;
				src = op - offset;
				memcpy(op, src, 8);
				memcpy(op + 8, src + 8, 8);
				memcpy(op + 16, src + 16, 2);
				op += (token & ML_MASK) + MINMATCH;
				continue;
			}
			goto match;
		}

		/* Literals. */
		if (lit_len == RUN_MASK &&
		    !lz4_read_length(&ip, iend, &lit_len, (size_t)(oend - ostart)))
			return -1;
		if (unlikely(lit_len > (size_t)(iend - ip) ||
			     lit_len > (size_t)(oend - op)))
			return -1;
		if (lit_len <= 16 && iend - ip >= 16 && oend - op >= 16)
			copy16(op, ip);	/* short run, room on both sides */
		else
			memcpy(op, ip, lit_len);
		op += lit_len;
		ip += lit_len;
		if (ip == iend)		/* the last sequence: literals only */
			break;

match:		/* Match: offset, then length. */
		if (unlikely(iend - ip < 2))
			return -1;
		offset = get_unaligned_le16(ip);
		ip += 2;
		if (unlikely(offset == 0 || offset > (size_t)(op - ostart)))
			return -1;
		match_len = token & ML_MASK;
		if (match_len == ML_MASK &&
		    !lz4_read_length(&ip, iend, &match_len, (size_t)(oend - ostart)))
			return -1;
		match_len += MINMATCH;
		if (unlikely(match_len > (size_t)(oend - op)))
			return -1;

		op = match_copy(op, offset, match_len, oend);
	}
	return (int)(op - ostart);
}
