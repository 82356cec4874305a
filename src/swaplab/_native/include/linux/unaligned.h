/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Unaligned little-endian loads and stores, as <linux/unaligned.h> gives
 * them to lib/lz4 and lib/lzo.  Every access goes through memcpy, which the
 * compiler turns into one plain move on x86_64 and which is defined
 * behaviour at any alignment (UBSan checks this).
 */
#ifndef _SWAPLAB_LINUX_UNALIGNED_H
#define _SWAPLAB_LINUX_UNALIGNED_H

#include <stdint.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "swaplab's codecs follow the kernel on a little-endian machine (x86_64, arm64)"
#endif

#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)

static inline uint16_t get_unaligned_le16(const void *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t get_unaligned_le32(const void *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t get_unaligned_le64(const void *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static inline void put_unaligned_le16(uint16_t v, void *p)
{
	memcpy(p, &v, sizeof(v));
}

static inline void put_unaligned_le32(uint32_t v, void *p)
{
	memcpy(p, &v, sizeof(v));
}

#endif /* _SWAPLAB_LINUX_UNALIGNED_H */
