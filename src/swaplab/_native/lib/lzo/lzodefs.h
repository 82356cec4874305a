/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Constants of the LZO1X bitstream (the kernel's
 * Documentation/staging/lzo.rst) and of the LZO1X-1 compressor.
 *
 * Instructions, by their first byte (S: literals that follow, 0..3):
 *   0..15   after a match with S=0: a literal run of 3 + L bytes;
 *           after 1..3 literals: a 2-byte match within 1 KiB;
 *           after 4+ literals: a 3-byte match 2049..3072 bytes back
 *   16..31  M4: a match 16..48 KiB back (distance 16384 alone ends the
 *           stream; in version 1, H=1 with all-ones distance bits is a
 *           zero run)
 *   32..63  M3: a match within 16 KiB
 *   64..255 M2: a 3..8-byte match within 2 KiB
 */
#ifndef _SWAPLAB_LZODEFS_H
#define _SWAPLAB_LZODEFS_H

#define M1_MAX_OFFSET	0x0400
#define M2_MAX_OFFSET	0x0800
#define M3_MAX_OFFSET	0x4000
#define M4_MAX_OFFSET_V0 0xbfff
#define M4_MAX_OFFSET_V1 0xbffe	/* 0xbfff is the zero-run marker in v1 */

#define M1_MIN_LEN	2
#define M1_MAX_LEN	2
#define M2_MIN_LEN	3
#define M2_MAX_LEN	8
#define M3_MIN_LEN	3
#define M3_MAX_LEN	33
#define M4_MIN_LEN	3
#define M4_MAX_LEN	9

#define M1_MARKER	0
#define M2_MARKER	64
#define M3_MARKER	32
#define M4_MARKER	16

#define MIN_ZERO_RUN_LENGTH	4
#define MAX_ZERO_RUN_LENGTH	(2047 + MIN_ZERO_RUN_LENGTH)

/* The compressor's dictionary: 2^D_BITS 16-bit positions. */
#define D_BITS		13
#define D_SIZE		(1UL << D_BITS)
#define D_MASK		(D_SIZE - 1)

/* The most zero bytes a length continuation may hold (kernel's bound). */
#define MAX_255_COUNT	((((size_t)~0) / 255) - 2)

#endif /* _SWAPLAB_LZODEFS_H */
