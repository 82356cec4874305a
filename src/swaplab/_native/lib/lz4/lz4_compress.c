// SPDX-License-Identifier: GPL-2.0-only
/*
 * The classic LZ4 fast block compressor, as the kernel's lib/lz4 runs it for
 * zram pages: written for swaplab from the block format and the parameters
 * in kernel-facts §9, so that each page gets the kernel's compressed length.
 *
 * For an input under LZ4_64KLIMIT (every page) the match finder keeps one
 * table of 2^13 16-bit positions, cleared per call.  Each position is hashed
 * from the 4 bytes there (multiplied by 2654435761, top 13 bits); a probe
 * that finds no 4-byte match moves ahead by a step that grows by one every
 * 2^LZ4_SKIPTRIGGER misses (sooner with a higher acceleration).  A match is
 * extended backwards over equal bytes and forwards up to LASTLITERALS
 * before the end; after a match the position two bytes back is entered in
 * the table and the current one is tried at once as the next match.
 */
#include <string.h>

#include <linux/lz4.h>
#include <linux/unaligned.h>
#include <swaplab/copy.h>
#include "lz4defs.h"

static inline uint32_t lz4_hash(uint32_t sequence)
{
	return (sequence * 2654435761U) >> (32 - (LZ4_HASHLOG + 1));
}

static inline uint32_t lz4_hash_at(const uint8_t *p)
{
	return lz4_hash(get_unaligned_le32(p));
}

/* Number of equal bytes at @in and @match, stopping at @in_limit. */
static inline unsigned int lz4_count(const uint8_t *in, const uint8_t *match,
				     const uint8_t *in_limit)
{
	const uint8_t *const start = in;

	while (in + 8 <= in_limit) {
		uint64_t diff = get_unaligned_le64(match) ^ get_unaligned_le64(in);

		if (diff)
			return (unsigned int)(in - start) +
			       (unsigned int)(__builtin_ctzll(diff) >> 3);
		in += 8;
		match += 8;
	}
	while (in < in_limit && *match == *in) {
		in++;
		match++;
	}
	return (unsigned int)(in - start);
}

/* The continuation bytes of a length field: 255s, then the remainder. */
static inline uint8_t *lz4_put_length(uint8_t *op, unsigned int len)
{
	while (len >= 255) {
		*op++ = 255;
		len -= 255;
	}
	*op++ = (uint8_t)len;
	return op;
}

int LZ4_compress_fast(const char *source, char *dest, int src_size,
		      int dst_capacity, int acceleration, void *wrkmem)
{
	uint16_t *const table = wrkmem;
	const uint8_t *const base = (const uint8_t *)source;
	const uint8_t *ip = base;
	const uint8_t *anchor = base;
	const uint8_t *const iend = base + src_size;
	const uint8_t *const mflimit = iend - MFLIMIT;
	const uint8_t *const matchlimit = iend - LASTLITERALS;
	uint8_t *op = (uint8_t *)dest;
	uint8_t *const olimit = op + dst_capacity;
	uint32_t forward_h;
	size_t last_run;

	if (src_size < 0 || src_size >= LZ4_64KLIMIT || dst_capacity < 0)
		return 0;
	if (acceleration < 1)
		acceleration = LZ4_ACCELERATION_DEFAULT;
	memset(table, 0, LZ4_MEM_COMPRESS);

	if (src_size < LZ4_MIN_LENGTH)
		goto last_literals;

	table[lz4_hash_at(ip)] = 0;
	ip++;
	forward_h = lz4_hash_at(ip);

	for (;;) {
		const uint8_t *match;
		uint8_t *token;
		unsigned int lit_len, match_code;

		/* Probe ahead until 4 bytes repeat, skipping faster as we miss. */
		{
			const uint8_t *forward_ip = ip;
			unsigned int step = 1;
			unsigned int probes = (unsigned int)acceleration << LZ4_SKIPTRIGGER;

			do {
				uint32_t h = forward_h;

				ip = forward_ip;
				forward_ip += step;
				step = probes++ >> LZ4_SKIPTRIGGER;
				if (unlikely(forward_ip > mflimit))
					goto last_literals;
				match = base + table[h];
				forward_h = lz4_hash_at(forward_ip);
				table[h] = (uint16_t)(ip - base);
			} while (get_unaligned_le32(match) != get_unaligned_le32(ip));
		}

		/* Extend the match backwards over equal bytes. */
		while (ip > anchor && match > base && ip[-1] == match[-1]) {
			ip--;
			match--;
		}

		/* Token and literals. */
		lit_len = (unsigned int)(ip - anchor);
		token = op++;
		if (unlikely(op + lit_len + (2 + 1 + LASTLITERALS) + lit_len / 255 > olimit))
			return 0;
		if (lit_len >= RUN_MASK) {
			*token = RUN_MASK << ML_BITS;
			op = lz4_put_length(op, lit_len - RUN_MASK);
		} else {
			*token = (uint8_t)(lit_len << ML_BITS);
		}
		/* the room checked above leaves 8 bytes for a word copy's spill */
		if (lit_len)
			wild_copy(op, anchor, lit_len);
		op += lit_len;

next_match:
		/* Offset, then the match length beyond MINMATCH. */
		put_unaligned_le16((uint16_t)(ip - match), op);
		op += 2;
		match_code = lz4_count(ip + MINMATCH, match + MINMATCH, matchlimit);
		ip += MINMATCH + match_code;
		if (unlikely(op + (1 + LASTLITERALS) + (match_code >> 8) > olimit))
			return 0;
		if (match_code >= ML_MASK) {
			*token += ML_MASK;
			op = lz4_put_length(op, match_code - ML_MASK);
		} else {
			*token += (uint8_t)match_code;
		}
		anchor = ip;

		if (ip > mflimit)
			break;

		/* Index the position two bytes back, then try this one at once. */
		table[lz4_hash_at(ip - 2)] = (uint16_t)(ip - 2 - base);
		{
			uint32_t h = lz4_hash_at(ip);

			match = base + table[h];
			table[h] = (uint16_t)(ip - base);
		}
		if (get_unaligned_le32(match) == get_unaligned_le32(ip)) {
			token = op++;
			*token = 0;
			goto next_match;
		}
		forward_h = lz4_hash_at(++ip);
	}

last_literals:
	last_run = (size_t)(iend - anchor);
	if ((size_t)(op - (uint8_t *)dest) + last_run + 1 +
	    (last_run + 255 - RUN_MASK) / 255 > (size_t)dst_capacity)
		return 0;
	if (last_run >= RUN_MASK) {
		*op++ = RUN_MASK << ML_BITS;
		op = lz4_put_length(op, (unsigned int)(last_run - RUN_MASK));
	} else {
		*op++ = (uint8_t)(last_run << ML_BITS);
	}
	memcpy(op, anchor, last_run);
	op += last_run;
	return (int)(op - (uint8_t *)dest);
}
