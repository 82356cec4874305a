// SPDX-License-Identifier: GPL-2.0-only
/*
 * lzo1x_decompress_safe: a decoder for the LZO1X bitstream, versions 0
 * (lzo) and 1 (lzo-rle), written for swaplab from the format description in
 * the kernel's Documentation/staging/lzo.rst (summarised in lzodefs.h).
 *
 * Guarantees: every byte read is checked against the input end, every byte
 * written against the output end, every match distance against the output
 * already written, and every length continuation against MAX_255_COUNT, so
 * a malformed, truncated or overlong input returns a negative LZO_E_* code
 * and never touches memory outside the two buffers.  The stream must end
 * with the end marker (M4, distance 16384, length 3) exactly at the end of
 * the input; bytes after it give LZO_E_INPUT_NOT_CONSUMED.
 */
#include <string.h>

#include <linux/lzo.h>
#include <linux/unaligned.h>
#include <swaplab/copy.h>
#include "lzodefs.h"

#define HAVE_IP(x)	((size_t)(ip_end - ip) >= (size_t)(x))
#define HAVE_OP(x)	((size_t)(op_end - op) >= (size_t)(x))
#define NEED_IP(x)	do { if (!HAVE_IP(x)) goto input_overrun; } while (0)
#define NEED_OP(x)	do { if (!HAVE_OP(x)) goto output_overrun; } while (0)

/*
 * The length field @field of an instruction: the field itself, or, when it is
 * 0, @field_max plus a continuation read from the input (zero bytes worth
 * 255 each, then one nonzero byte).  Returns (size_t)-1 when the input ends
 * inside the continuation or it has more zero bytes than MAX_255_COUNT.
 */
static inline size_t lzo_length(unsigned int field, size_t field_max,
				const unsigned char **ipp, const unsigned char *ip_end)
{
	const unsigned char *ip = *ipp;
	const unsigned char *start = ip;
	size_t zeros;

	if (field)
		return field;
	while (ip < ip_end && *ip == 0)
		ip++;
	if (ip >= ip_end)
		return (size_t)-1;
	zeros = (size_t)(ip - start);
	if (zeros > MAX_255_COUNT)
		return (size_t)-1;
	*ipp = ip + 1;
	return field_max + zeros * 255 + *ip;
}

int lzo1x_decompress_safe(const unsigned char *in, size_t in_len,
			  unsigned char *out, size_t *out_len)
{
	const unsigned char *ip = in;
	const unsigned char *const ip_end = in + in_len;
	unsigned char *op = out;
	unsigned char *const op_end = out + *out_len;
	unsigned int state = 0;	/* literals copied by the last instruction */
	int version = 0;
	size_t t;

	*out_len = 0;
	if (unlikely(in_len < 3))
		goto input_overrun;

	if (in_len >= 5 && ip[0] == 17) {
		version = ip[1];
		if (version != LZO_VERSION)
			return LZO_E_ERROR;
		ip += 2;
	}

	/* The first byte may be a literal run of its own: 18..255. */
	if (*ip > 17) {
		t = (size_t)(*ip++ - 17);
		NEED_IP(t);
		NEED_OP(t);
		memcpy(op, ip, t);
		op += t;
		ip += t;
		state = t < 4 ? (unsigned int)t : 4;
	}

	for (;;) {
		unsigned int c, s;
		size_t len, dist;

		NEED_IP(1);
		c = *ip++;
		if (c < 16) {
			if (state == 0) {
				/* a literal run of 4 or more */
				len = lzo_length(c, 15, &ip, ip_end);
				if (len == (size_t)-1)
					goto input_overrun;
				len += 3;
				NEED_IP(len);
				NEED_OP(len);
				if (len <= 16 && HAVE_IP(16) && HAVE_OP(16))
					memcpy(op, ip, 16);
				else
					memcpy(op, ip, len);
				op += len;
				ip += len;
				state = 4;
				continue;
			}
			NEED_IP(1);
			if (state < 4) {	/* M1: 2 bytes within 1 KiB */
				dist = ((size_t)*ip++ << 2) + (c >> 2) + 1;
				len = 2;
			} else {		/* 3 bytes, 2049..3072 back */
				dist = ((size_t)*ip++ << 2) + (c >> 2) + M2_MAX_OFFSET + 1;
				len = 3;
			}
			s = c & 3;
		} else if (c < 32) {
			unsigned int d;

			NEED_IP(2);
			d = get_unaligned_le16(ip);
			if (version && (c & 8) && (d >> 2) == 0x3fff) {
				/* lzo-rle: a run of zero bytes */
				NEED_IP(3);
				len = ((size_t)ip[2] << 3 | (c & 7)) + MIN_ZERO_RUN_LENGTH;
				ip += 3;
				NEED_OP(len);
				memset(op, 0, len);
				op += len;
				s = d & 3;
				goto literals;
			}
			len = lzo_length(c & 7, 7, &ip, ip_end);
			if (len == (size_t)-1)
				goto input_overrun;
			if (!(c & 7)) {		/* the distance follows the continuation */
				NEED_IP(2);
				d = get_unaligned_le16(ip);
			}
			len += 2;
			ip += 2;
			dist = ((size_t)(c & 8) << 11) + (d >> 2);
			s = d & 3;
			if (dist == 0) {
				/* distance 16384: the end of the stream */
				if (len != 3)
					return LZO_E_ERROR;
				*out_len = (size_t)(op - out);
				return ip == ip_end ? LZO_E_OK : LZO_E_INPUT_NOT_CONSUMED;
			}
			dist += 0x4000;
		} else if (c < 64) {		/* M3: within 16 KiB */
			unsigned int d;

			len = lzo_length(c & 31, 31, &ip, ip_end);
			if (len == (size_t)-1)
				goto input_overrun;
			len += 2;
			NEED_IP(2);
			d = get_unaligned_le16(ip);
			ip += 2;
			dist = (d >> 2) + 1;
			s = d & 3;
		} else {			/* M2: 3..8 bytes within 2 KiB */
			NEED_IP(1);
			len = (c >> 5) + 1;
			dist = ((size_t)*ip++ << 3) + ((c >> 2) & 7) + 1;
			s = c & 3;
		}

		/* Copy the match (it may overlap what it writes). */
		if (unlikely(dist > (size_t)(op - out)))
			goto lookbehind_overrun;
		if (likely(dist >= 8 && HAVE_OP(len + 15) && HAVE_IP(4))) {
			/*
			 * Far from both ends: the match 8 bytes at a time (each
			 * move reads what an earlier one wrote when dist < 16),
			 * then its 0..3 literals as one 4-byte move; what spills
			 * past them is rewritten by the next instruction.
			 */
			const unsigned char *m = op - dist;
			unsigned char *const end = op + len;

			do {
				memcpy(op, m, 8);
				memcpy(op + 8, m + 8, 8);
				op += 16;
				m += 16;
			} while (op < end);
			op = end;
			memcpy(op, ip, 4);
			op += s;
			ip += s;
			state = s;
			continue;
		}
		NEED_OP(len);
		op = match_copy(op, dist, len, op_end);
literals:
		/* 0..3 literals named by the S bits */
		state = s;
		if (s) {
			NEED_IP(s);
			NEED_OP(s);
			if (HAVE_IP(4) && HAVE_OP(4))
				memcpy(op, ip, 4);	/* one move; the spill is rewritten */
			else
				memcpy(op, ip, s);
			op += s;
			ip += s;
		}
	}

input_overrun:
	*out_len = (size_t)(op - out);
	return LZO_E_INPUT_OVERRUN;
output_overrun:
	*out_len = (size_t)(op - out);
	return LZO_E_OUTPUT_OVERRUN;
lookbehind_overrun:
	*out_len = (size_t)(op - out);
	return LZO_E_LOOKBEHIND_OVERRUN;
}
