/* SPDX-License-Identifier: BSD-2-Clause */
/* libcrypto, loaded for HS256 tokens only: other processes never map it. */
#include "crypto_load.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "dynlib.h"

/*
 * libcrypto's relocated read-only data alone is some 400 KiB private to
 * each process that maps it (docs/performance.md), paid by every
 * one-stream process though only SSE_AUTH=jwt uses it, for four
 * functions. So the program defines them, with OpenSSL's own prototypes
 * (the compiler checks they agree), each forwarding to the library's,
 * found with dlsym when first needed.
 */
enum {
	CRYPTO_I_HMAC,
	CRYPTO_I_EVP_SHA256,
	CRYPTO_I_MEMCMP,
	CRYPTO_I_CLEANSE,
	CRYPTO_COUNT
};

static const char *const crypto_names[CRYPTO_COUNT] = {
	[CRYPTO_I_HMAC] = "HMAC",
	[CRYPTO_I_EVP_SHA256] = "EVP_sha256",
	[CRYPTO_I_MEMCMP] = "CRYPTO_memcmp",
	[CRYPTO_I_CLEANSE] = "OPENSSL_cleanse",
};

static pthread_once_t crypto_once = PTHREAD_ONCE_INIT;
static void *crypto_syms[CRYPTO_COUNT];	/* set once, by crypto_load_once */
static int crypto_failed;
static char crypto_err[512];		/* why, when crypto_failed */

static void
crypto_load_once(void)
{
	crypto_failed = dynlib_open("libcrypto.so.3", "libssl3",
	    crypto_names, crypto_syms, CRYPTO_COUNT, crypto_err,
	    sizeof(crypto_err)) == -1;
}

int
crypto_load(char *err, size_t errlen)
{
	pthread_once(&crypto_once, crypto_load_once);
	if (crypto_failed) {
		snprintf(err, errlen, "HS256 tokens: %s", crypto_err);
		return -1;
	}
	return 0;
}

/* The library's function i, or NULL when it cannot be loaded. */
static void *
crypto_sym(int i)
{
	pthread_once(&crypto_once, crypto_load_once);
	return crypto_failed ? NULL : crypto_syms[i];
}

/* POSIX guarantees that dlsym's void * converts to a function pointer. */
unsigned char *
HMAC(const EVP_MD *evp_md, const void *key, int key_len,
    const unsigned char *data, size_t data_len, unsigned char *md,
    unsigned int *md_len)
{
	unsigned char *(*fn)(const EVP_MD *, const void *, int,
	    const unsigned char *, size_t, unsigned char *, unsigned int *) =
	    (unsigned char *(*)(const EVP_MD *, const void *, int,
	    const unsigned char *, size_t, unsigned char *,
	    unsigned int *))crypto_sym(CRYPTO_I_HMAC);

	if (!fn || !evp_md)
		return NULL;
	return fn(evp_md, key, key_len, data, data_len, md, md_len);
}

const EVP_MD *
EVP_sha256(void)
{
	const EVP_MD *(*fn)(void) =
	    (const EVP_MD *(*)(void))crypto_sym(CRYPTO_I_EVP_SHA256);

	return fn ? fn() : NULL;
}

int
CRYPTO_memcmp(const void *in_a, const void *in_b, size_t len)
{
	int (*fn)(const void *, const void *, size_t) =
	    (int (*)(const void *, const void *, size_t))
	    crypto_sym(CRYPTO_I_MEMCMP);

	return fn ? fn(in_a, in_b, len) : 1;
}

void
OPENSSL_cleanse(void *ptr, size_t len)
{
	void (*fn)(void *, size_t) =
	    (void (*)(void *, size_t))crypto_sym(CRYPTO_I_CLEANSE);

	if (fn)
		fn(ptr, len);
	else
		explicit_bzero(ptr, len);
}
