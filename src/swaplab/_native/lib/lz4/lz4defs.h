/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Constants of the LZ4 block format and of the classic fast compressor
 * (kernel-facts §9).  A block is a list of sequences: a token (high nibble:
 * literal count, low nibble: match length - MINMATCH, 15 meaning "more
 * bytes follow, each 255 adding 255, the first below 255 ending it"), the
 * literals, a 16-bit little-endian offset back into the output, and the
 * match length continuation.  The last sequence stops after its literals.
 */
#ifndef _SWAPLAB_LZ4DEFS_H
#define _SWAPLAB_LZ4DEFS_H

#define MINMATCH	4
#define LASTLITERALS	5	/* a block always ends with >= 5 literals */
#define MFLIMIT		12	/* no match starts in the last 12 bytes ... */
#define LZ4_MIN_LENGTH	(MFLIMIT + 1)	/* ... so shorter inputs are all literal */
#define LZ4_64KLIMIT	((64 * 1024) + (MFLIMIT - 1))
#define LZ4_SKIPTRIGGER	6	/* the probe step grows every 2^6 misses */
#define LZ4_DISTANCE_MAX 65535

#define ML_BITS		4
#define ML_MASK		((1U << ML_BITS) - 1)
#define RUN_BITS	(8 - ML_BITS)
#define RUN_MASK	((1U << RUN_BITS) - 1)

#endif /* _SWAPLAB_LZ4DEFS_H */
