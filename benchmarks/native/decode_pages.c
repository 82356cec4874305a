// SPDX-License-Identifier: GPL-2.0-only
/*
 * Time (or, under callgrind, count) one decoder over real compressed pages:
 *
 *   decode_pages FILE REPEATS
 *
 * FILE holds records of (u32 compressed length, the object, the 4096-byte
 * page), as benchmarks/native/decoders.sh writes them.  Every decoded page
 * is compared with its original; the program prints ns a page and the
 * number of pages that did not come back.  Built against swaplab's decoders
 * (-DCODEC_LZ4 / -DCODEC_LZO) or, with -DLIBLZ4, against the system's
 * liblz4 for comparison.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(LIBLZ4)
int LZ4_decompress_safe(const char *src, char *dst, int src_size, int dst_capacity);
#elif defined(CODEC_LZ4)
#include <linux/lz4.h>
#else
#include <linux/lzo.h>
#endif

static int decode(const char *src, int len, char *out)
{
#if defined(LIBLZ4) || defined(CODEC_LZ4)
	return LZ4_decompress_safe(src, out, len, 4096);
#else
	size_t out_len = 4096;

	if (lzo1x_decompress_safe((const unsigned char *)src, (size_t)len,
				  (unsigned char *)out, &out_len) != LZO_E_OK)
		return -1;
	return (int)out_len;
#endif
}

int main(int argc, char **argv)
{
	static char out[4096];
	struct timespec a, b;
	const char **src, **page;
	int *len, n = 0, reps, r, i;
	long bad = 0, cap = 1024;
	size_t size, off = 0;
	char *buf;
	FILE *f;

	if (argc != 3 || !(f = fopen(argv[1], "rb"))) {
		fprintf(stderr, "usage: decode_pages FILE REPEATS\n");
		return 2;
	}
	reps = atoi(argv[2]);
	fseek(f, 0, SEEK_END);
	size = (size_t)ftell(f);
	rewind(f);
	buf = malloc(size);
	src = malloc(cap * sizeof(*src));
	page = malloc(cap * sizeof(*page));
	len = malloc(cap * sizeof(*len));
	if (!buf || !src || !page || !len || fread(buf, 1, size, f) != size)
		return 2;
	fclose(f);
	while (off + 4 <= size) {
		uint32_t l;

		memcpy(&l, buf + off, 4);
		if (n == cap) {
			cap *= 2;
			src = realloc(src, cap * sizeof(*src));
			page = realloc(page, cap * sizeof(*page));
			len = realloc(len, cap * sizeof(*len));
			if (!src || !page || !len)
				return 2;
		}
		src[n] = buf + off + 4;
		len[n] = (int)l;
		page[n] = buf + off + 4 + l;
		off += 4 + l + 4096;
		n++;
	}
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (r = 0; r < reps; r++)
		for (i = 0; i < n; i++)
			if (decode(src[i], len[i], out) != 4096 || memcmp(out, page[i], 4096))
				bad++;
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%d pages x %d: %.0f ns a page, %ld not back\n", n, reps,
	       ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / ((double)reps * n), bad);
	return bad != 0;
}
