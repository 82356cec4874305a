// SPDX-License-Identifier: GPL-2.0-only
/*
 * LZO1X-1 and lzo-rle compression as the kernel's lib/lzo does it for zram,
 * written for swaplab from the LZO1X bitstream (lzodefs.h) and the
 * compressor's known choices, so that each page gets the kernel's length.
 *
 * The input is cut into chunks of at most M4_MAX_OFFSET + 1 bytes; in each,
 * every probed position is hashed from its 4 bytes (times 0x1824429d, top
 * D_BITS bits) into a dictionary of last positions, cleared per chunk.  A
 * miss skips ahead by 1 + (literals pending / 32).  A hit is extended 8
 * bytes at a time (the x86_64 kernel's word compare) and emitted as the
 * shortest of M2, M3 and M4 that fits.  Literals pending before it go out
 * first: up to 3 are folded into the S bits of the previous instruction,
 * more become a literal run.  lzo-rle (version 1) starts the stream with
 * 17, 1 and emits a run of 4 or more zero bytes as one zero-run instruction
 * without looking it up.  The stream ends with M4 distance 16384: 17 0 0.
 */
#include <string.h>

#include <linux/lzo.h>
#include <linux/unaligned.h>
#include <swaplab/copy.h>
#include "lzodefs.h"

typedef unsigned short lzo_dict_t;

/* Emit a literal run header for @t >= 4 literals (state 0 decoding). */
static inline unsigned char *lzo_put_run_header(unsigned char *op, size_t t)
{
	if (t <= 18) {
		*op++ = (unsigned char)(t - 3);
	} else {
		size_t tt = t - 18;

		*op++ = 0;
		while (tt > 255) {
			tt -= 255;
			*op++ = 0;
		}
		*op++ = (unsigned char)tt;
	}
	return op;
}

/* Emit a length continuation of @len (> 0): zero bytes, each worth 255. */
static inline unsigned char *lzo_put_length(unsigned char *op, size_t len)
{
	while (len > 255) {
		len -= 255;
		*op++ = 0;
	}
	*op++ = (unsigned char)len;
	return op;
}

/*
 * Compress one chunk @in[0..in_len) (in_len > 20) into @out.  @ti literals
 * from before the chunk are still pending; *@state_offset says where, from
 * the end of the output, the S bits of the last instruction are.  Returns
 * the literals left pending at the end of the chunk.
 */
static size_t lzo1x_1_do_compress(const unsigned char *in, size_t in_len,
				  unsigned char *out, size_t *out_len,
				  size_t ti, lzo_dict_t *dict,
				  signed char *state_offset, int version)
{
	const unsigned char *const in_end = in + in_len;
	const unsigned char *const ip_end = in + in_len - 20;
	const unsigned char *ip = in;
	const unsigned char *ii = in;	/* first literal not yet emitted */
	unsigned char *op = out;

	ip += ti < 4 ? 4 - ti : 0;

	for (;;) {
		const unsigned char *m_pos = NULL;
		size_t t, m_len, m_off;
		uint32_t dv;
		size_t run_length = 0;

		ip += 1 + ((size_t)(ip - ii) >> 5);
next:
		if (unlikely(ip >= ip_end))
			break;
		dv = get_unaligned_le32(ip);

		if (dv == 0 && version) {
			/* count the zero bytes, up to the limit a run can hold */
			const unsigned char *ir = ip + 4;
			const unsigned char *limit = ip + MAX_ZERO_RUN_LENGTH + 1;

			if (limit > ip_end)
				limit = ip_end;
			while (ir + 8 <= limit) {
				uint64_t w = get_unaligned_le64(ir);

				if (w) {
					ir += __builtin_ctzll(w) >> 3;
					goto run_counted;
				}
				ir += 8;
			}
			while (ir < limit && *ir == 0)
				ir++;
run_counted:
			run_length = (size_t)(ir - ip);
			if (run_length > MAX_ZERO_RUN_LENGTH)
				run_length = MAX_ZERO_RUN_LENGTH;
		} else {
			size_t h = ((dv * 0x1824429dU) >> (32 - D_BITS)) & D_MASK;

			m_pos = in + dict[h];
			dict[h] = (lzo_dict_t)(ip - in);
			if (dv != get_unaligned_le32(m_pos))
				continue;	/* a miss: skip ahead */
		}

		/* Emit the literals pending before this match or run. */
		ii -= ti;
		ti = 0;
		t = (size_t)(ip - ii);
		if (t != 0) {
			/* a word copy: lzo1x_worst_compress leaves room for its spill */
			if (t <= 3)
				op[*state_offset] |= (unsigned char)t;
			else
				op = lzo_put_run_header(op, t);
			wild_copy(op, ii, t);
			op += t;
		}

		if (unlikely(run_length)) {
			/* M4 with H=1, distance bits all ones, then the high bits */
			size_t rl = run_length - MIN_ZERO_RUN_LENGTH;

			ip += run_length;
			run_length = 0;	/* 'goto next' skips its initialiser */
			put_unaligned_le32((uint32_t)((rl << 21) | 0xfffc18 | (rl & 0x7)), op);
			op += 4;
			*state_offset = -3;
			ii = ip;
			goto next;
		}

		/* Extend the match, 8 bytes at a time. */
		m_len = 4;
		{
			uint64_t v = get_unaligned_le64(ip + m_len) ^
				     get_unaligned_le64(m_pos + m_len);

			if (unlikely(v == 0)) {
				do {
					m_len += 8;
					v = get_unaligned_le64(ip + m_len) ^
					    get_unaligned_le64(m_pos + m_len);
					if (unlikely(ip + m_len >= ip_end))
						goto m_len_done;
				} while (v == 0);
			}
			m_len += (size_t)(__builtin_ctzll(v) >> 3);
		}
m_len_done:
		m_off = (size_t)(ip - m_pos);
		ip += m_len;
		if (m_len <= M2_MAX_LEN && m_off <= M2_MAX_OFFSET) {
			m_off -= 1;
			*op++ = (unsigned char)(((m_len - 1) << 5) | ((m_off & 7) << 2));
			*op++ = (unsigned char)(m_off >> 3);
		} else if (m_off <= M3_MAX_OFFSET) {
			m_off -= 1;
			if (m_len <= M3_MAX_LEN) {
				*op++ = (unsigned char)(M3_MARKER | (m_len - 2));
			} else {
				*op++ = M3_MARKER | 0;
				op = lzo_put_length(op, m_len - M3_MAX_LEN);
			}
			*op++ = (unsigned char)(m_off << 2);
			*op++ = (unsigned char)(m_off >> 6);
		} else {
			m_off -= 0x4000;
			if (m_len <= M4_MAX_LEN) {
				*op++ = (unsigned char)(M4_MARKER | ((m_off >> 11) & 8) | (m_len - 2));
			} else {
				/*
				 * In version 1 a long M4 whose length byte and
				 * distance would read as a zero run is cut to 260.
				 */
				if (unlikely((m_off & 0x403f) == 0x403f && m_len >= 261 &&
					     m_len <= 264) && version) {
					ip -= m_len - 260;
					m_len = 260;
				}
				*op++ = (unsigned char)(M4_MARKER | ((m_off >> 11) & 8));
				op = lzo_put_length(op, m_len - M4_MAX_LEN);
			}
			*op++ = (unsigned char)(m_off << 2);
			*op++ = (unsigned char)(m_off >> 6);
		}
		*state_offset = -2;
		ii = ip;
		goto next;
	}
	*out_len = (size_t)(op - out);
	return (size_t)(in_end - (ii - ti));
}

static int lzogeneric1x_1_compress(const unsigned char *in, size_t in_len,
				   unsigned char *out, size_t *out_len,
				   void *wrkmem, int version)
{
	const unsigned char *ip = in;
	unsigned char *op = out;
	unsigned char *data_start;
	size_t l = in_len;
	size_t t = 0;
	signed char state_offset = -2;
	size_t m4_max_offset;

	if (version > 0) {
		/* LZO v0 never starts with 17 (but for empty input): a marker */
		*op++ = 17;
		*op++ = (unsigned char)version;
		m4_max_offset = M4_MAX_OFFSET_V1;
	} else {
		m4_max_offset = M4_MAX_OFFSET_V0;
	}
	data_start = op;

	while (l > 20) {
		size_t ll = l < m4_max_offset + 1 ? l : m4_max_offset + 1;
		size_t chunk_len;

		memset(wrkmem, 0, D_SIZE * sizeof(lzo_dict_t));
		t = lzo1x_1_do_compress(ip, ll, op, &chunk_len, t, wrkmem,
					&state_offset, version);
		ip += ll;
		op += chunk_len;
		l -= ll;
	}
	t += l;

	if (t > 0) {
		const unsigned char *ii = in + in_len - t;

		if (op == data_start && t <= 238) {
			*op++ = (unsigned char)(17 + t);
		} else if (t <= 3) {
			op[state_offset] |= (unsigned char)t;
		} else {
			op = lzo_put_run_header(op, t);
		}
		memcpy(op, ii, t);
		op += t;
	}

	*op++ = M4_MARKER | 1;
	*op++ = 0;
	*op++ = 0;
	*out_len = (size_t)(op - out);
	return LZO_E_OK;
}

int lzo1x_1_compress(const unsigned char *in, size_t in_len,
		     unsigned char *out, size_t *out_len, void *wrkmem)
{
	return lzogeneric1x_1_compress(in, in_len, out, out_len, wrkmem, 0);
}

int lzorle1x_1_compress(const unsigned char *in, size_t in_len,
			unsigned char *out, size_t *out_len, void *wrkmem)
{
	return lzogeneric1x_1_compress(in, in_len, out, out_len, wrkmem,
				       LZO_VERSION);
}
