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

		/* Literals. */
		lit_len = token >> ML_BITS;
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

		/* Match: offset, then length. */
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
