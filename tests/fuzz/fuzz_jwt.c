/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target: the JWT verifier, with oracles that need no forgery. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jwt.h"

/*
 * The first input byte picks a mode:
 *   0 raw: the rest is a token; it must be refused (nobody can sign
 *     without the key), and jwt_verify must not crash on it;
 *   1 signed: the rest is "header JSON \xff payload JSON"; the harness
 *     base64url-encodes and signs them with the key, so the verifier's
 *     JSON and claim checks run. When accepted, the claims must agree
 *     with the payload (checked with jansson here) and the header must
 *     say HS256;
 *   2 tampered: as 1, then one byte of the token (chosen by the input)
 *     is changed: the result must be refused, since HMAC covers the
 *     first two segments and base64url has one spelling;
 *   3 round trip: the rest is "sub \xff channel \xff channel ...": what
 *     jwt_sign signs, jwt_verify accepts with the same sub and channels.
 */

#define NOW 1700000000LL

static const char secret[] = "fuzzing-secret-0123456789abcdef-0123456789";

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_jwt oracle: %s\n", what);
	abort();
}

static size_t
b64url(const unsigned char *in, size_t len, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789-_";
	size_t o = 0;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];

		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		out[o++] = a[(v >> 6) & 63];
		out[o++] = a[v & 63];
	}
	if (len - i == 1) {
		out[o++] = a[in[i] >> 2];
		out[o++] = a[(in[i] & 3) << 4];
	} else if (len - i == 2) {
		out[o++] = a[in[i] >> 2];
		out[o++] = a[(in[i] & 3) << 4 | in[i + 1] >> 4];
		out[o++] = a[(in[i + 1] & 15) << 2];
	}
	out[o] = '\0';
	return o;
}

/* header.payload.signature, malloc'ed. */
static char *
sign(const unsigned char *h, size_t hlen, const unsigned char *p,
    size_t plen, size_t *len)
{
	unsigned char mac[32];
	unsigned int mac_len = 0;
	char *t = malloc((hlen + plen) * 4 / 3 + 64 + 8);
	size_t n;

	if (!t)
		fail("out of memory");
	n = b64url(h, hlen, t);
	t[n++] = '.';
	n += b64url(p, plen, t + n);
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret),
	    (unsigned char *)t, n, mac, &mac_len) || mac_len != 32)
		fail("HMAC");
	t[n++] = '.';
	n += b64url(mac, 32, t + n);
	*len = n;
	return t;
}

static int
verify(const char *t, size_t len, struct jwt_claims *c, const char **why)
{
	return jwt_verify(t, len, secret, strlen(secret), NOW, c, why);
}

/* An accepted token's claims must be what its payload says. */
static void
check_claims(const unsigned char *h, size_t hlen, const unsigned char *p,
    size_t plen, const struct jwt_claims *c)
{
	json_t *hj = json_loadb((const char *)h, hlen, 0, NULL);
	json_t *pj = json_loadb((const char *)p, plen, 0, NULL);
	json_t *sub;
	json_t *exp;
	json_t *nbf;
	json_t *ch;
	char num[32];

	if (!hj || !pj || !json_is_object(hj) || !json_is_object(pj))
		fail("accepted a header or payload that is not an object");
	if (!json_is_string(json_object_get(hj, "alg")) ||
	    strcmp(json_string_value(json_object_get(hj, "alg")), "HS256"))
		fail("accepted an alg other than HS256");
	exp = json_object_get(pj, "exp");
	if (!json_is_number(exp) ||
	    json_number_value(exp) <= NOW - JWT_LEEWAY)
		fail("accepted without exp, or expired");
	nbf = json_object_get(pj, "nbf");
	if (nbf && (!json_is_number(nbf) ||
	    json_number_value(nbf) > NOW + JWT_LEEWAY))
		fail("accepted before nbf");
	sub = json_object_get(pj, "sub");
	if (json_is_integer(sub)) {
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(sub));
		if (strcmp(c->sub, num) != 0)
			fail("integer sub differs");
	} else if (!json_is_string(sub) ||
	    json_string_length(sub) != c->sub_len ||
	    memcmp(json_string_value(sub), c->sub, c->sub_len) != 0) {
		fail("sub differs");
	}
	if (c->sub_len == 0 || strlen(c->sub) != c->sub_len ||
	    c->sub_len > JWT_MAX_KEY)
		fail("unusable sub accepted");
	ch = json_object_get(pj, "channels");
	if (!ch) {
		if (c->nchannels)
			fail("channels without a claim");
	} else {
		if (!json_is_array(ch) || json_array_size(ch) != c->nchannels)
			fail("channel count differs");
		for (size_t i = 0; i < c->nchannels; i++) {
			json_t *v = json_array_get(ch, i);

			if (!json_is_string(v) || c->channel_lens[i] == 0 ||
			    json_string_length(v) != c->channel_lens[i] ||
			    memcmp(json_string_value(v), c->channels[i],
			    c->channel_lens[i]) != 0 ||
			    strlen(c->channels[i]) != c->channel_lens[i])
				fail("channel differs");
		}
	}
	json_decref(hj);
	json_decref(pj);
}

static void
split(const uint8_t *d, size_t n, const uint8_t **a, size_t *alen,
    const uint8_t **b, size_t *blen)
{
	const uint8_t *sep = memchr(d, 0xff, n);

	*a = d;
	*alen = sep ? (size_t)(sep - d) : n;
	*b = sep ? sep + 1 : d + n;
	*blen = sep ? n - *alen - 1 : 0;
}

static void
round_trip(const uint8_t *d, size_t n)
{
	char *parts[1 + JWT_MAX_CHANNELS + 1];
	const char *channels[JWT_MAX_CHANNELS + 1];
	struct jwt_claims c;
	const char *why;
	char *token = NULL;
	size_t nparts = 0;
	size_t start = 0;
	long long ttl = 1 + (n > 0 ? d[0] : 0) * 60;
	int rc;

	for (size_t i = 0; i <= n && nparts < 1 + JWT_MAX_CHANNELS + 1; i++) {
		if (i < n && d[i] != 0xff)
			continue;
		parts[nparts] = malloc(i - start + 1);
		if (!parts[nparts])
			fail("out of memory");
		memcpy(parts[nparts], d + start, i - start);
		parts[nparts][i - start] = '\0';
		nparts++;
		start = i + 1;
	}
	for (size_t i = 1; i < nparts; i++)
		channels[i - 1] = parts[i];
	rc = jwt_sign(secret, strlen(secret), parts[0], ttl, channels,
	    nparts - 1, NOW, &token, &why);
	if (rc == 0) {
		if (verify(token, strlen(token), &c, &why) != 0)
			fail("a signed token is refused");
		if (strcmp(c.sub, parts[0]) != 0 || c.nchannels != nparts - 1)
			fail("round trip changed sub or channels");
		for (size_t i = 0; i < c.nchannels; i++)
			if (strcmp(c.channels[i], parts[i + 1]) != 0)
				fail("round trip changed a channel");
		jwt_claims_free(&c);
		free(token);
	} else if (token) {
		fail("a token despite an error");
	}
	for (size_t i = 0; i < nparts; i++)
		free(parts[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct jwt_claims c;
	const char *why = NULL;
	const uint8_t *h;
	const uint8_t *p;
	size_t hlen;
	size_t plen;
	size_t len;
	char *t;
	int mode;
	int rc;

	if (n == 0)
		return 0;
	mode = d[0] & 3;
	d++;
	n--;
	switch (mode) {
	case 0:
		rc = verify((const char *)d, n, &c, &why);
		if (rc == 0)
			fail("accepted a token nobody signed");
		if (!why || c.sub || c.nchannels)
			fail("a refusal without a reason, or with claims");
		break;
	case 1:
	case 2:
		if (mode == 2 && n < 2)
			return 0;
		split(mode == 2 ? d + 2 : d, mode == 2 ? n - 2 : n, &h, &hlen,
		    &p, &plen);
		t = sign(h, hlen, p, plen, &len);
		if (mode == 2) {
			size_t at = ((size_t)d[0] << 8 | d[1]) % len;
			char was = t[at];

			t[at] = (char)(t[at] + 1 + (d[1] % 254));
			if (t[at] == was)
				t[at]++;
		}
		rc = verify(t, len, &c, &why);
		if (rc == 0) {
			if (mode == 2)
				fail("accepted a tampered token");
			check_claims(h, hlen, p, plen, &c);
			jwt_claims_free(&c);
		} else if (!why) {
			fail("a refusal without a reason");
		}
		free(t);
		break;
	case 3:
		round_trip(d, n);
		break;
	}
	return 0;
}
