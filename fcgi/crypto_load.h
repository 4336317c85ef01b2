/* SPDX-License-Identifier: BSD-2-Clause */
/* libcrypto, loaded for HS256 tokens only: other processes never map it. */
#ifndef FCGI_CRYPTO_LOAD_H
#define FCGI_CRYPTO_LOAD_H

#include <stddef.h>

#include "mustcheck.h"

/*
 * Load libcrypto.so.3 and resolve the functions jwt.c calls (HMAC,
 * EVP_sha256, CRYPTO_memcmp, OPENSSL_cleanse; crypto_load.c defines
 * them, each forwarding to the library's). Only the first call loads;
 * later ones return its result. Thread-safe. 0, or -1 with err saying
 * what is missing (and that the package is libssl3).
 *
 * The functions load on first use too; without the library they fail
 * closed: HMAC and EVP_sha256 return NULL, CRYPTO_memcmp says "differs",
 * OPENSSL_cleanse still zeroes. main.c calls this at start-up when
 * SSE_AUTH=jwt, and before signing a token, to say so clearly instead.
 */
int crypto_load(char *err, size_t errlen) MUSTCHECK;

#endif
