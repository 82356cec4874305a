/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * What the decoder targets share: the first two bytes of an input choose the
 * output capacity (0..8191), the rest is the compressed data; both are given
 * to the decoder in allocations of exactly their size, so AddressSanitizer
 * sees any access outside them.
 */
#ifndef _SWAPLAB_FUZZ_INPUT_H
#define _SWAPLAB_FUZZ_INPUT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_input {
	unsigned char *src;	/* the data, exactly @len bytes */
	size_t len;
	unsigned char *out;	/* the output, exactly @cap bytes */
	size_t cap;
};

/* Split @data; false when it is too short to hold the capacity. */
static inline int fuzz_input_get(struct fuzz_input *in, const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	in->cap = (size_t)((data[0] | data[1] << 8) & 0x1fff);
	in->len = size - 2;
	in->src = malloc(in->len ? in->len : 1);
	in->out = malloc(in->cap ? in->cap : 1);
	memcpy(in->src, data + 2, in->len);
	return 1;
}

static inline void fuzz_input_put(struct fuzz_input *in)
{
	free(in->src);
	free(in->out);
}

#endif /* _SWAPLAB_FUZZ_INPUT_H */
