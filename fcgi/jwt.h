/* SPDX-License-Identifier: BSD-2-Clause */
/* HS256 JSON Web Tokens (RFC 7519): verify one and read its claims, or sign. */
#ifndef FCGI_JWT_H
#define FCGI_JWT_H

#include <stddef.h>

#include "mustcheck.h"

#define JWT_MAX_TOKEN 4096	/* longer tokens are refused undecoded */
#define JWT_LEEWAY 60		/* seconds of clock skew allowed on exp, nbf */
#define JWT_MAX_KEY 1024	/* bytes in sub, and in each channel */
#define JWT_MAX_CHANNELS 15	/* entries in the channels claim */

/* What a valid token grants: a user and further recipient keys. */
struct jwt_claims {
	char *sub;				/* owned, NUL-terminated */
	size_t sub_len;				/* bytes in sub */
	char *channels[JWT_MAX_CHANNELS];	/* owned, NUL-terminated */
	size_t channel_lens[JWT_MAX_CHANNELS];	/* bytes in each channel */
	size_t nchannels;			/* entries used */
};

/*
 * Verify token (len bytes, not necessarily NUL-terminated) against the
 * HS256 key secret (secret_len bytes) at time now (seconds since the
 * epoch). The header must say alg "HS256" (typ "JWT" if given, no crit);
 * the payload needs sub (a non-empty string, or an integer which becomes
 * its decimal text) and a numeric exp; nbf is honoured; both get
 * JWT_LEEWAY seconds. An optional channels claim is an array of at most
 * JWT_MAX_CHANNELS non-empty strings.
 * Returns 0 with *claims filled (the caller releases it with
 * jwt_claims_free), or -1 with *claims empty and *reason set to a static
 * string that never quotes the token or the secret. Borrows its inputs.
 */
int jwt_verify(const char *token, size_t len, const char *secret,
    size_t secret_len, long long now, struct jwt_claims *claims,
    const char **reason) MUSTCHECK;

/* Release what claims owns and empty it; claims may be NULL. */
void jwt_claims_free(struct jwt_claims *claims);

/*
 * Sign a token for user sub (a NUL-terminated string, sent as a string)
 * valid from now for ttl seconds (iat = now, exp = now + ttl), listing
 * nchannels channels (NUL-terminated strings) when nchannels > 0. The
 * inputs obey the same rules as jwt_verify, so the token verifies.
 * Returns 0 with a malloc'ed, NUL-terminated *token (caller frees), or -1
 * with a static *reason. Borrows its inputs.
 */
int jwt_sign(const char *secret, size_t secret_len, const char *sub,
    long long ttl, const char *const *channels, size_t nchannels,
    long long now, char **token, const char **reason) MUSTCHECK;

#endif
