/* SPDX-License-Identifier: BSD-2-Clause */
/* FNV-1a, 64 bits: a fast hash of bytes, not a cryptographic one. */
#ifndef FCGI_FNV_H
#define FCGI_FNV_H

#include <stddef.h>
#include <stdint.h>

#define FNV_START 0xcbf29ce484222325ull

/* Go on hashing from h (FNV_START for a first call). */
static inline uint64_t
fnv_add(uint64_t h, const void *bytes, size_t len)
{
	const unsigned char *p = bytes;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#endif
