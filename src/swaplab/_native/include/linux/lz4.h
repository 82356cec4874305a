/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The LZ4 block codec as the kernel's lib/lz4 offers it to zram's lz4
 * backend: the classic fast compressor and a safe decoder.
 */
#ifndef _SWAPLAB_LINUX_LZ4_H
#define _SWAPLAB_LINUX_LZ4_H

#include <stddef.h>
#include <stdint.h>

/* Inputs below this size use the 2^13-entry table of 16-bit positions. */
#define LZ4_MEMORY_USAGE	14
#define LZ4_HASHLOG		(LZ4_MEMORY_USAGE - 2)
#define LZ4_HASH_SIZE_U16	(1 << (LZ4_HASHLOG + 1))
#define LZ4_MAX_INPUT_SIZE	0x7E000000
#define LZ4_ACCELERATION_DEFAULT 1
#define LZ4_COMPRESSBOUND(isize) \
	((unsigned int)(isize) > (unsigned int)LZ4_MAX_INPUT_SIZE ? 0 : \
	 (isize) + ((isize) / 255) + 16)

/* Scratch the compressor needs: one table of 16-bit positions. */
#define LZ4_MEM_COMPRESS	(LZ4_HASH_SIZE_U16 * sizeof(uint16_t))

/*
 * LZ4_compress_fast - compress @src_size bytes of @src into @dst.
 * Inputs of at most 64 KiB + 11 bytes only (a page, a zram object): that is
 * the only table the kernel uses for them.  @acceleration < 1 means 1.
 * @wrkmem holds LZ4_MEM_COMPRESS bytes.  Returns the compressed length, or 0
 * when @dst_capacity is too small or the input too large.
 */
int LZ4_compress_fast(const char *src, char *dst, int src_size,
		      int dst_capacity, int acceleration, void *wrkmem);

/*
 * LZ4_decompress_safe - decode the block @src (@compressed_size bytes) into
 * @dst (@dst_capacity bytes).  Returns the decoded length, or a negative
 * number when the block is malformed, truncated, refers before the start of
 * the output, or would not fit.  Never reads or writes outside the buffers.
 */
int LZ4_decompress_safe(const char *src, char *dst, int compressed_size,
			int dst_capacity);

#endif /* _SWAPLAB_LINUX_LZ4_H */
