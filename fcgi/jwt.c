/* SPDX-License-Identifier: BSD-2-Clause */
/* HS256 JSON Web Tokens (RFC 7519): verify one and read its claims, or sign. */
#include "jwt.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#define JWT_MAC_LEN 32		/* HMAC-SHA-256 output */

/*
 * RFC 7515 section 2: base64url is RFC 4648 section 5 "with all trailing
 * '=' characters omitted ... and without the inclusion of any line
 * breaks, whitespace, or other additional characters". We also refuse a
 * non-zero remainder in the last character's unused bits, so that every
 * token has exactly one spelling.
 */
static const char jwt_b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int
jwt_b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Decode len characters into out (room for len * 3 / 4 bytes). */
static int
jwt_b64url_decode(const char *in, size_t len, unsigned char *out,
    size_t *out_len)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	if (len % 4 == 1)
		return -1;	/* 6 bits cannot make a byte */
	for (size_t i = 0; i < len; i++) {
		int v = jwt_b64_value((unsigned char)in[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;	/* non-canonical: unused bits set */
	*out_len = o;
	return 0;
}

/* Encode len bytes; out must hold (len + 2) / 3 * 4 + 1 bytes. */
static size_t
jwt_b64url_encode(const unsigned char *in, size_t len, char *out)
{
	size_t o = 0;
	size_t i = 0;

	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];

		out[o++] = jwt_b64_alphabet[v >> 18];
		out[o++] = jwt_b64_alphabet[(v >> 12) & 63];
		out[o++] = jwt_b64_alphabet[(v >> 6) & 63];
		out[o++] = jwt_b64_alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[o++] = jwt_b64_alphabet[v >> 18];
		out[o++] = jwt_b64_alphabet[(v >> 12) & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[o++] = jwt_b64_alphabet[v >> 18];
		out[o++] = jwt_b64_alphabet[(v >> 12) & 63];
		out[o++] = jwt_b64_alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

static int
jwt_hmac(const char *secret, size_t secret_len, const char *data,
    size_t len, unsigned char mac[JWT_MAC_LEN])
{
	unsigned int mac_len = 0;

	if (secret_len == 0 || secret_len > INT_MAX)
		return -1;
	if (!HMAC(EVP_sha256(), secret, (int)secret_len,
	    (const unsigned char *)data, len, mac, &mac_len))
		return -1;
	return mac_len == JWT_MAC_LEN ? 0 : -1;
}

static int
jwt_fail(const char **reason, const char *why)
{
	*reason = why;
	return -1;
}

/*
 * Parse a decoded segment as a JSON object. Duplicate keys are refused
 * (RFC 7515 section 5.2 lets us); jansson also refuses trailing data,
 * invalid UTF-8 and "\u0000".
 */
static json_t *
jwt_parse_object(const unsigned char *raw, size_t len, const char *bad_json,
    const char *not_object, const char **reason)
{
	json_error_t jerr;
	json_t *j;

	j = json_loadb((const char *)raw, len,
	    JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
	if (!j) {
		*reason = bad_json;
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		*reason = not_object;
		return NULL;
	}
	return j;
}

/* RFC 7515 section 4.1: alg must be ours; crit names what we lack. */
static int
jwt_check_header(const json_t *h, const char **reason)
{
	const json_t *alg = json_object_get(h, "alg");
	const json_t *typ = json_object_get(h, "typ");

	if (!alg)
		return jwt_fail(reason, "token header has no alg");
	if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256")
	    != 0 || json_string_length(alg) != 5)
		return jwt_fail(reason, "token alg is not HS256");
	if (typ && (!json_is_string(typ) || json_string_length(typ) != 3 ||
	    strcmp(json_string_value(typ), "JWT") != 0))
		return jwt_fail(reason, "token typ is not JWT");
	if (json_object_get(h, "crit"))
		return jwt_fail(reason, "token header has crit extensions");
	return 0;
}

/* A key (sub or channel) as a string: non-empty, bounded, no NUL. */
static int
jwt_copy_key(const json_t *v, char **out, size_t *out_len)
{
	size_t len = json_string_length(v);
	const char *s = json_string_value(v);

	if (len == 0 || len > JWT_MAX_KEY || memchr(s, '\0', len))
		return -1;
	*out = malloc(len + 1);
	if (!*out)
		return -1;
	memcpy(*out, s, len);
	(*out)[len] = '\0';
	*out_len = len;
	return 0;
}

static int
jwt_take_sub(const json_t *sub, struct jwt_claims *c, const char **reason)
{
	char num[32];
	int n;

	if (!sub)
		return jwt_fail(reason, "token has no sub");
	if (json_is_integer(sub)) {
		n = snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
		    json_integer_value(sub));
		if (n <= 0 || (size_t)n >= sizeof(num))
			return jwt_fail(reason, "token sub is out of range");
		c->sub = strdup(num);
		if (!c->sub)
			return jwt_fail(reason, "out of memory");
		c->sub_len = (size_t)n;
		return 0;
	}
	if (!json_is_string(sub))
		return jwt_fail(reason, "token sub is not a string or an "
		    "integer");
	if (json_string_length(sub) == 0)
		return jwt_fail(reason, "token sub is empty");
	if (json_string_length(sub) > JWT_MAX_KEY)
		return jwt_fail(reason, "token sub is too long");
	if (jwt_copy_key(sub, &c->sub, &c->sub_len) == -1)
		return jwt_fail(reason, "token sub is not a usable user id");
	return 0;
}

static int
jwt_take_channels(const json_t *ch, struct jwt_claims *c,
    const char **reason)
{
	size_t i;
	const json_t *v;

	if (!ch)
		return 0;
	if (!json_is_array(ch))
		return jwt_fail(reason, "token channels is not an array");
	if (json_array_size(ch) > JWT_MAX_CHANNELS)
		return jwt_fail(reason, "token has too many channels");
	json_array_foreach(ch, i, v) {
		if (!json_is_string(v))
			return jwt_fail(reason, "token channel is not a "
			    "string");
		if (jwt_copy_key(v, &c->channels[i], &c->channel_lens[i])
		    == -1)
			return jwt_fail(reason, "token channel is empty, too "
			    "long or unusable");
		c->nchannels = i + 1;
	}
	return 0;
}

/*
 * RFC 7519 section 4.1.4: "the current date/time MUST be before the
 * expiration date/time", and 4.1.5: not "before the not-before
 * date/time", both with "some small leeway" for clock skew. With leeway
 * L: refused when exp <= now - L, or when nbf > now + L.
 */
static int
jwt_check_times(const json_t *p, long long now, const char **reason)
{
	const json_t *exp = json_object_get(p, "exp");
	const json_t *nbf = json_object_get(p, "nbf");

	if (!exp)
		return jwt_fail(reason, "token has no exp");
	if (!json_is_number(exp))
		return jwt_fail(reason, "token exp is not a number");
	if (json_is_integer(exp) ? json_integer_value(exp) <= now - JWT_LEEWAY :
	    json_real_value(exp) <= (double)(now - JWT_LEEWAY))
		return jwt_fail(reason, "token expired");
	if (!nbf)
		return 0;
	if (!json_is_number(nbf))
		return jwt_fail(reason, "token nbf is not a number");
	if (json_is_integer(nbf) ? json_integer_value(nbf) > now + JWT_LEEWAY :
	    json_real_value(nbf) > (double)(now + JWT_LEEWAY))
		return jwt_fail(reason, "token not valid yet (nbf)");
	return 0;
}

int
jwt_verify(const char *token, size_t len, const char *secret,
    size_t secret_len, long long now, struct jwt_claims *claims,
    const char **reason)
{
	unsigned char mac[JWT_MAC_LEN];
	unsigned char hraw[JWT_MAX_TOKEN];
	unsigned char praw[JWT_MAX_TOKEN];
	unsigned char sig[JWT_MAX_TOKEN];
	const char *dot1;
	const char *dot2;
	const char *end = token + len;
	json_t *header = NULL;
	json_t *payload = NULL;
	size_t hlen;
	size_t plen;
	size_t sig_len;
	int rc = -1;

	memset(claims, 0, sizeof(*claims));
	if (len > JWT_MAX_TOKEN)
		return jwt_fail(reason, "token too long");
	if (len == 0)
		return jwt_fail(reason, "empty token");
	if (secret_len == 0)
		return jwt_fail(reason, "no JWT secret configured");

	/* RFC 7515 section 7.1: header '.' payload '.' signature. */
	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', (size_t)(end - dot1 - 1)) : NULL;
	if (!dot2 || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1)))
		return jwt_fail(reason, "token is not three segments");
	if (dot1 == token || dot2 == dot1 + 1 || dot2 + 1 == end)
		return jwt_fail(reason, "token has an empty segment");
	if (jwt_b64url_decode(token, (size_t)(dot1 - token), hraw, &hlen)
	    == -1)
		return jwt_fail(reason, "token header is not base64url");
	if (jwt_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), praw,
	    &plen) == -1)
		return jwt_fail(reason, "token payload is not base64url");
	if (jwt_b64url_decode(dot2 + 1, (size_t)(end - dot2 - 1), sig,
	    &sig_len) == -1)
		return jwt_fail(reason, "token signature is not base64url");

	/* RFC 7515 section 5.2: the header first, then the signature. */
	header = jwt_parse_object(hraw, hlen, "token header is not JSON",
	    "token header is not a JSON object", reason);
	if (!header)
		goto out;
	if (jwt_check_header(header, reason) == -1)
		goto out;
	if (jwt_hmac(secret, secret_len, token, (size_t)(dot2 - token), mac)
	    == -1) {
		*reason = "HMAC failed";
		goto out;
	}
	/* Constant time: a timing oracle would leak the expected MAC. */
	if (sig_len != JWT_MAC_LEN ||
	    CRYPTO_memcmp(sig, mac, JWT_MAC_LEN) != 0) {
		*reason = "token signature does not match";
		goto out;
	}

	/* Only a signed payload is parsed at all. */
	payload = jwt_parse_object(praw, plen, "token payload is not JSON",
	    "token payload is not a JSON object", reason);
	if (!payload)
		goto out;
	if (jwt_check_times(payload, now, reason) == -1)
		goto out;
	if (jwt_take_sub(json_object_get(payload, "sub"), claims, reason)
	    == -1)
		goto out;
	if (jwt_take_channels(json_object_get(payload, "channels"), claims,
	    reason) == -1)
		goto out;
	rc = 0;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	json_decref(header);
	json_decref(payload);
	if (rc == -1)
		jwt_claims_free(claims);
	return rc;
}

void
jwt_claims_free(struct jwt_claims *claims)
{
	if (!claims)
		return;
	free(claims->sub);
	for (size_t i = 0; i < claims->nchannels; i++)
		free(claims->channels[i]);
	memset(claims, 0, sizeof(*claims));
}

/* The payload's JSON text, malloc'ed, or NULL with *reason set. */
static char *
jwt_payload_text(const char *sub, long long ttl, const char *const *channels,
    size_t nchannels, long long now, const char **reason)
{
	json_t *p = json_object();
	json_t *list = NULL;
	char *text = NULL;
	json_t *v;

	*reason = "out of memory";
	if (!p)
		return NULL;
	v = json_string(sub);
	if (!v) {
		*reason = "sub is not valid UTF-8";
		goto out;
	}
	if (json_object_set_new(p, "sub", v) == -1 ||
	    json_object_set_new(p, "iat", json_integer(now)) == -1 ||
	    json_object_set_new(p, "exp", json_integer(now + ttl)) == -1)
		goto out;
	if (nchannels > 0) {
		list = json_array();
		if (!list || json_object_set_new(p, "channels", list) == -1)
			goto out;
		for (size_t i = 0; i < nchannels; i++) {
			v = json_string(channels[i]);
			if (!v) {
				*reason = "channel is not valid UTF-8";
				goto out;
			}
			if (json_array_append_new(list, v) == -1)
				goto out;
		}
	}
	text = json_dumps(p, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
	json_decref(p);
	return text;
}

int
jwt_sign(const char *secret, size_t secret_len, const char *sub,
    long long ttl, const char *const *channels, size_t nchannels,
    long long now, char **token, const char **reason)
{
	static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	unsigned char mac[JWT_MAC_LEN];
	char *payload = NULL;
	char *t = NULL;
	size_t plen;
	size_t cap;
	size_t n;
	int rc = -1;

	*token = NULL;
	if (secret_len == 0)
		return jwt_fail(reason, "no JWT secret configured");
	if (!sub || sub[0] == '\0')
		return jwt_fail(reason, "sub is empty");
	if (strlen(sub) > JWT_MAX_KEY)
		return jwt_fail(reason, "sub is too long");
	if (ttl <= 0 || now > LLONG_MAX - ttl)
		return jwt_fail(reason, "ttl is out of range");
	if (nchannels > JWT_MAX_CHANNELS)
		return jwt_fail(reason, "too many channels");
	for (size_t i = 0; i < nchannels; i++)
		if (!channels[i] || channels[i][0] == '\0' ||
		    strlen(channels[i]) > JWT_MAX_KEY)
			return jwt_fail(reason, "channel is empty or too long");

	payload = jwt_payload_text(sub, ttl, channels, nchannels, now, reason);
	if (!payload)
		return -1;
	plen = strlen(payload);
	if (plen > JWT_MAX_TOKEN) {
		*reason = "token would be longer than JWT_MAX_TOKEN";
		goto out;
	}
	cap = (sizeof(header) + 2) / 3 * 4 + 1 + (plen + 2) / 3 * 4 + 1 +
	    (JWT_MAC_LEN + 2) / 3 * 4 + 1;
	t = malloc(cap);
	if (!t) {
		*reason = "out of memory";
		goto out;
	}
	n = jwt_b64url_encode((const unsigned char *)header,
	    sizeof(header) - 1, t);
	t[n++] = '.';
	n += jwt_b64url_encode((const unsigned char *)payload, plen, t + n);
	if (jwt_hmac(secret, secret_len, t, n, mac) == -1) {
		*reason = "HMAC failed";
		goto out;
	}
	t[n++] = '.';
	n += jwt_b64url_encode(mac, sizeof(mac), t + n);
	if (n > JWT_MAX_TOKEN) {
		*reason = "token would be longer than JWT_MAX_TOKEN";
		goto out;
	}
	*token = t;
	t = NULL;
	rc = 0;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	free(payload);
	free(t);
	return rc;
}
