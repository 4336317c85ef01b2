/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for jwt.c: HS256 verification, every refusal, and signing. */
#include "jwt.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define NOW 1700000000LL	/* the clock for every case */
#define SECRET "unit-test-secret-0123456789abcdef-0123456789"
#define PY_SECRET "pyjwt-independent-secret-0123456789abcdef"

/*
 * Tokens minted by PyJWT 2.6 (Debian's python3-jwt), an independent
 * implementation:
 *   jwt.encode(claims, PY_SECRET, algorithm="HS256")
 */
#define PY_ALICE "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." \
	"eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0." \
	"uSn1RfwE7LvPCVPsvhNpWmZtWfpOnuhk1QQgR3MRpRY"
#define PY_42 "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." \
	"eyJzdWIiOjQyLCJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTcwMDAwMDAwMH0." \
	"VeYw498-VOpHmvJG6vsi-jjHOG9ur4_W5bWMNg-9Bog"
#define PY_CHANNELS "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." \
	"eyJzdWIiOiJ1c2VyIDciLCJleHAiOjQxMDI0NDQ4MDAsIm5iZiI6MTYwMDAwMDAw" \
	"MCwiY2hhbm5lbHMiOlsicm9vbTo3IiwidGVhbTpibHVlIl19." \
	"AsN9ycm0oW0GWDEL83ihT0VYMR-wghpq5Z_03e-chAs"
#define PY_UTF8_REAL_EXP "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." \
	"eyJzdWIiOiJcdTAwZTlsb2RpZSIsImV4cCI6NDEwMjQ0NDgwMC41fQ." \
	"iFmBCC8JgtPW8FjryhGaPJdVI999zSoFgrAExb0uh6c"
#define PY_EXPIRED "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." \
	"eyJzdWIiOiJib2IiLCJleHAiOjE2MDAwMDAwMDB9." \
	"6Etcj4G9YYZ9q5Mv0s9PbubftuTTTHYNWPwBT633ITM"
#define PY_HS512 "eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9." \
	"eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0." \
	"mUMif_6G_fntf0YSNKlawMjMfHGIrUaxRc4kb7JOeq3wDXgdBEmtQIMl27sWbRDMrmwN" \
	"8BWTlMTNu1HsK5f5gg"
#define PY_OTHER_KEY "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." \
	"eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0." \
	"sigBLS9qS1ISDGaBr2sj0N_ShpetU0YAM8GlrnTpgwQ"
#define PY_NONE "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0." \
	"eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0."

/* The pieces of PY_ALICE, to build malformed variants. */
#define PY_H "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
#define PY_P "eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0"
#define PY_S "uSn1RfwE7LvPCVPsvhNpWmZtWfpOnuhk1QQgR3MRpRY"

/*
 * The test's own encoder, independent of jwt.c: OpenSSL's standard
 * base64, then the RFC 4648 section 5 alphabet, without padding.
 */
static char *
b64url(const void *data, size_t len)
{
	char *out = malloc(len / 3 * 4 + 8);
	int n;

	assert_non_null(out);
	n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	assert_true(n >= 0);
	while (n > 0 && out[n - 1] == '=')
		n--;
	out[n] = '\0';
	for (char *p = out; *p; p++) {
		if (*p == '+')
			*p = '-';
		else if (*p == '/')
			*p = '_';
	}
	return out;
}

/* A token over any header and payload text, HS256 with key. */
static char *
mint(const char *header, const char *payload, const char *key)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	char *h = b64url(header, strlen(header));
	char *p = b64url(payload, strlen(payload));
	size_t len = strlen(h) + strlen(p) + 64;
	char *t = malloc(len);
	char *s;

	assert_non_null(t);
	snprintf(t, len, "%s.%s", h, p);
	assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key),
	    (unsigned char *)t, strlen(t), mac, &mac_len));
	s = b64url(mac, mac_len);
	snprintf(t + strlen(t), len - strlen(t), ".%s", s);
	free(h);
	free(p);
	free(s);
	return t;
}

/* A refusal's reason is static text that never echoes the input. */
static void
check_reason(const char *reason, const char *token)
{
	assert_non_null(reason);
	assert_true(strlen(reason) > 0);
	assert_null(strstr(reason, SECRET));
	assert_null(strstr(reason, PY_SECRET));
	assert_null(strstr(reason, "eyJ"));
	if (strlen(token) >= 8)
		assert_null(strstr(reason, token + strlen(token) - 8));
}

static void
expect_refused(const char *label, const char *token, const char *key,
    long long now, const char *why)
{
	struct jwt_claims c;
	const char *reason = NULL;

	print_message("refused: %s\n", label);
	assert_int_equal(jwt_verify(token, strlen(token), key, strlen(key),
	    now, &c, &reason), -1);
	check_reason(reason, token);
	if (why && !strstr(reason, why)) {
		print_error("%s: reason '%s' lacks '%s'\n", label, reason, why);
		fail();
	}
	assert_null(c.sub);
	assert_int_equal(c.nchannels, 0);
}

/* Tokens from PyJWT, verified against the key they were minted with. */
struct py_case {
	const char *label;
	const char *token;
	const char *sub;		/* NULL: refused */
	const char *channels[3];	/* expected, NULL-terminated */
	const char *why;		/* part of the reason when refused */
};

static const struct py_case py_cases[] = {
	{ "string sub", PY_ALICE, "alice", { NULL }, NULL },
	{ "integer sub", PY_42, "42", { NULL }, NULL },
	{ "channels and nbf", PY_CHANNELS, "user 7",
	    { "room:7", "team:blue", NULL }, NULL },
	{ "escaped UTF-8 sub, real exp", PY_UTF8_REAL_EXP, "\xc3\xa9lodie",
	    { NULL }, NULL },
	{ "expired", PY_EXPIRED, NULL, { NULL }, "expired" },
	{ "HS512", PY_HS512, NULL, { NULL }, "alg" },
	{ "signed with another key", PY_OTHER_KEY, NULL, { NULL },
	    "signature" },
	{ "alg none, empty signature", PY_NONE, NULL, { NULL }, NULL },
	{ NULL, NULL, NULL, { NULL }, NULL },
};

static void
test_pyjwt(void **state)
{
	(void)state;
	for (const struct py_case *t = py_cases; t->label; t++) {
		struct jwt_claims c;
		const char *reason = NULL;
		size_t n = 0;

		if (!t->sub) {
			expect_refused(t->label, t->token, PY_SECRET, NOW,
			    t->why);
			continue;
		}
		print_message("accepted: %s\n", t->label);
		assert_int_equal(jwt_verify(t->token, strlen(t->token),
		    PY_SECRET, strlen(PY_SECRET), NOW, &c, &reason), 0);
		assert_string_equal(c.sub, t->sub);
		assert_int_equal(c.sub_len, strlen(t->sub));
		while (t->channels[n])
			n++;
		assert_int_equal(c.nchannels, n);
		for (size_t i = 0; i < n; i++) {
			assert_string_equal(c.channels[i], t->channels[i]);
			assert_int_equal(c.channel_lens[i],
			    strlen(t->channels[i]));
		}
		jwt_claims_free(&c);
		assert_null(c.sub);
	}
}

#define HDR "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define FAR "4102444800"
#define SUB_EXP "\"sub\":\"u\",\"exp\":" FAR

/* Tokens over chosen header and payload text, signed with SECRET. */
struct mint_case {
	const char *label;
	const char *header;	/* NULL: HDR */
	const char *payload;
	const char *sub;	/* expected; NULL: refused */
	size_t nchannels;	/* expected when accepted */
	const char *why;	/* part of the reason when refused */
};

static const struct mint_case mint_cases[] = {
	/* Accepted. */
	{ "string sub", NULL, "{" SUB_EXP "}", "u", 0, NULL },
	{ "integer sub", NULL, "{\"sub\":42,\"exp\":" FAR "}", "42", 0,
	    NULL },
	{ "negative integer sub", NULL, "{\"sub\":-7,\"exp\":" FAR "}", "-7",
	    0, NULL },
	{ "largest integer sub", NULL,
	    "{\"sub\":9223372036854775807,\"exp\":" FAR "}",
	    "9223372036854775807", 0, NULL },
	{ "no typ", "{\"alg\":\"HS256\"}", "{" SUB_EXP "}", "u", 0, NULL },
	{ "kid and other header fields", "{\"typ\":\"JWT\",\"kid\":\"k1\","
	    "\"alg\":\"HS256\"}", "{" SUB_EXP "}", "u", 0, NULL },
	{ "other claims ignored", NULL, "{" SUB_EXP ",\"iat\":1,\"aud\":\"x\","
	    "\"name\":{\"a\":[1,2]}}", "u", 0, NULL },
	{ "channels", NULL, "{" SUB_EXP ",\"channels\":[\"room:7\",\"all\"]}",
	    "u", 2, NULL },
	{ "empty channels", NULL, "{" SUB_EXP ",\"channels\":[]}", "u", 0,
	    NULL },
	{ "15 channels", NULL, "{" SUB_EXP ",\"channels\":[\"1\",\"2\",\"3\","
	    "\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\","
	    "\"14\",\"15\"]}", "u", 15, NULL },
	{ "whitespace in JSON", " {\"alg\" : \"HS256\"}\n",
	    "\t{ \"sub\" : \"u\" , \"exp\" : " FAR " }\r\n", "u", 0, NULL },
	{ "exp within leeway (now)", NULL,
	    "{\"sub\":\"u\",\"exp\":1700000000}", "u", 0, NULL },
	{ "exp within leeway (now - 59)", NULL,
	    "{\"sub\":\"u\",\"exp\":1699999941}", "u", 0, NULL },
	{ "real exp within leeway", NULL,
	    "{\"sub\":\"u\",\"exp\":1699999940.5}", "u", 0, NULL },
	{ "nbf now", NULL, "{" SUB_EXP ",\"nbf\":1700000000}", "u", 0, NULL },
	{ "nbf within leeway (now + 60)", NULL,
	    "{" SUB_EXP ",\"nbf\":1700000060}", "u", 0, NULL },
	{ "nbf in the past", NULL, "{" SUB_EXP ",\"nbf\":1}", "u", 0, NULL },

	/* The header. */
	{ "alg none", "{\"alg\":\"none\",\"typ\":\"JWT\"}", "{" SUB_EXP "}",
	    NULL, 0, "alg" },
	{ "alg None", "{\"alg\":\"None\"}", "{" SUB_EXP "}", NULL, 0, "alg" },
	{ "alg HS512", "{\"alg\":\"HS512\"}", "{" SUB_EXP "}", NULL, 0,
	    "alg" },
	{ "alg HS384", "{\"alg\":\"HS384\"}", "{" SUB_EXP "}", NULL, 0,
	    "alg" },
	{ "alg RS256", "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", "{" SUB_EXP "}",
	    NULL, 0, "alg" },
	{ "alg ES256", "{\"alg\":\"ES256\"}", "{" SUB_EXP "}", NULL, 0,
	    "alg" },
	{ "alg hs256", "{\"alg\":\"hs256\"}", "{" SUB_EXP "}", NULL, 0,
	    "alg" },
	{ "alg 'HS256 '", "{\"alg\":\"HS256 \"}", "{" SUB_EXP "}", NULL, 0,
	    "alg" },
	{ "alg empty", "{\"alg\":\"\"}", "{" SUB_EXP "}", NULL, 0, "alg" },
	{ "alg null", "{\"alg\":null}", "{" SUB_EXP "}", NULL, 0, "alg" },
	{ "alg array", "{\"alg\":[\"HS256\"]}", "{" SUB_EXP "}", NULL, 0,
	    "alg" },
	{ "missing alg", "{\"typ\":\"JWT\"}", "{" SUB_EXP "}", NULL, 0,
	    "alg" },
	{ "typ jwt", "{\"alg\":\"HS256\",\"typ\":\"jwt\"}", "{" SUB_EXP "}",
	    NULL, 0, "typ" },
	{ "typ JOSE", "{\"alg\":\"HS256\",\"typ\":\"JOSE\"}", "{" SUB_EXP "}",
	    NULL, 0, "typ" },
	{ "typ number", "{\"alg\":\"HS256\",\"typ\":1}", "{" SUB_EXP "}",
	    NULL, 0, "typ" },
	{ "crit", "{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}",
	    "{" SUB_EXP "}", NULL, 0, "crit" },
	{ "header duplicate alg", "{\"alg\":\"HS256\",\"alg\":\"none\"}",
	    "{" SUB_EXP "}", NULL, 0, "header is not JSON" },
	{ "header duplicate alg, same value",
	    "{\"alg\":\"HS256\",\"alg\":\"HS256\"}", "{" SUB_EXP "}", NULL, 0,
	    "header is not JSON" },
	{ "header array", "[\"HS256\"]", "{" SUB_EXP "}", NULL, 0,
	    "not a JSON object" },
	{ "header string", "\"HS256\"", "{" SUB_EXP "}", NULL, 0,
	    "not a JSON object" },
	{ "header number", "256", "{" SUB_EXP "}", NULL, 0,
	    "not a JSON object" },
	{ "header null", "null", "{" SUB_EXP "}", NULL, 0,
	    "not a JSON object" },
	{ "header truncated", "{\"alg\":\"HS256\"", "{" SUB_EXP "}", NULL, 0,
	    "header is not JSON" },
	{ "header trailing garbage", "{\"alg\":\"HS256\"}x", "{" SUB_EXP "}",
	    NULL, 0, "header is not JSON" },
	{ "header two objects", "{\"alg\":\"HS256\"}{}", "{" SUB_EXP "}",
	    NULL, 0, "header is not JSON" },
	{ "header empty", "", "{" SUB_EXP "}", NULL, 0, "empty segment" },
	{ "header invalid UTF-8", "{\"alg\":\"HS256\",\"x\":\"\xff\"}",
	    "{" SUB_EXP "}", NULL, 0, "header is not JSON" },

	/* The payload. */
	{ "payload array", NULL, "[{" SUB_EXP "}]", NULL, 0,
	    "payload is not a JSON object" },
	{ "payload string", NULL, "\"u\"", NULL, 0,
	    "payload is not a JSON object" },
	{ "payload number", NULL, "42", NULL, 0,
	    "payload is not a JSON object" },
	{ "payload null", NULL, "null", NULL, 0,
	    "payload is not a JSON object" },
	{ "payload truncated", NULL, "{" SUB_EXP, NULL, 0,
	    "payload is not JSON" },
	{ "payload trailing garbage", NULL, "{" SUB_EXP "} x", NULL, 0,
	    "payload is not JSON" },
	{ "payload trailing comma", NULL, "{" SUB_EXP ",}", NULL, 0,
	    "payload is not JSON" },
	{ "payload single quotes", NULL, "{'sub':'u','exp':" FAR "}", NULL, 0,
	    "payload is not JSON" },
	{ "payload duplicate sub", NULL,
	    "{\"sub\":\"u\",\"sub\":\"admin\",\"exp\":" FAR "}", NULL, 0,
	    "payload is not JSON" },
	{ "payload duplicate exp", NULL,
	    "{\"sub\":\"u\",\"exp\":1,\"exp\":" FAR "}", NULL, 0,
	    "payload is not JSON" },
	{ "payload invalid UTF-8", NULL, "{\"sub\":\"\xc3\x28\",\"exp\":" FAR
	    "}", NULL, 0, "payload is not JSON" },
	{ "payload escaped NUL", NULL, "{\"sub\":\"a\\u0000b\",\"exp\":" FAR
	    "}", NULL, 0, "payload is not JSON" },
	{ "payload integer overflow", NULL,
	    "{\"sub\":99999999999999999999,\"exp\":" FAR "}", NULL, 0,
	    "payload is not JSON" },

	/* exp and nbf. */
	{ "missing exp", NULL, "{\"sub\":\"u\"}", NULL, 0, "no exp" },
	{ "exp string", NULL, "{\"sub\":\"u\",\"exp\":\"" FAR "\"}", NULL, 0,
	    "exp is not a number" },
	{ "exp null", NULL, "{\"sub\":\"u\",\"exp\":null}", NULL, 0,
	    "exp is not a number" },
	{ "exp true", NULL, "{\"sub\":\"u\",\"exp\":true}", NULL, 0,
	    "exp is not a number" },
	{ "expired (now - 60)", NULL, "{\"sub\":\"u\",\"exp\":1699999940}",
	    NULL, 0, "expired" },
	{ "expired (now - 61)", NULL, "{\"sub\":\"u\",\"exp\":1699999939}",
	    NULL, 0, "expired" },
	{ "expired long ago", NULL, "{\"sub\":\"u\",\"exp\":0}", NULL, 0,
	    "expired" },
	{ "expired negative", NULL,
	    "{\"sub\":\"u\",\"exp\":-9223372036854775807}", NULL, 0,
	    "expired" },
	{ "expired real", NULL, "{\"sub\":\"u\",\"exp\":1699999939.9}", NULL,
	    0, "expired" },
	{ "nbf beyond leeway (now + 61)", NULL,
	    "{" SUB_EXP ",\"nbf\":1700000061}", NULL, 0, "nbf" },
	{ "nbf far future", NULL, "{" SUB_EXP ",\"nbf\":" FAR "}", NULL, 0,
	    "nbf" },
	{ "nbf real", NULL, "{" SUB_EXP ",\"nbf\":1700000060.5}", NULL, 0,
	    "nbf" },
	{ "nbf string", NULL, "{" SUB_EXP ",\"nbf\":\"1\"}", NULL, 0, "nbf" },
	{ "nbf null", NULL, "{" SUB_EXP ",\"nbf\":null}", NULL, 0, "nbf" },

	/* sub. */
	{ "missing sub", NULL, "{\"exp\":" FAR "}", NULL, 0, "no sub" },
	{ "sub empty", NULL, "{\"sub\":\"\",\"exp\":" FAR "}", NULL, 0,
	    "sub is empty" },
	{ "sub float", NULL, "{\"sub\":4.2,\"exp\":" FAR "}", NULL, 0,
	    "sub is not" },
	{ "sub integral float", NULL, "{\"sub\":42.0,\"exp\":" FAR "}", NULL,
	    0, "sub is not" },
	{ "sub exponent", NULL, "{\"sub\":4e1,\"exp\":" FAR "}", NULL, 0,
	    "sub is not" },
	{ "sub array", NULL, "{\"sub\":[\"u\"],\"exp\":" FAR "}", NULL, 0,
	    "sub is not" },
	{ "sub object", NULL, "{\"sub\":{\"id\":\"u\"},\"exp\":" FAR "}",
	    NULL, 0, "sub is not" },
	{ "sub true", NULL, "{\"sub\":true,\"exp\":" FAR "}", NULL, 0,
	    "sub is not" },
	{ "sub null", NULL, "{\"sub\":null,\"exp\":" FAR "}", NULL, 0,
	    "sub is not" },

	/* channels. */
	{ "channels string", NULL, "{" SUB_EXP ",\"channels\":\"room:7\"}",
	    NULL, 0, "channels is not an array" },
	{ "channels object", NULL, "{" SUB_EXP ",\"channels\":{\"a\":1}}",
	    NULL, 0, "channels is not an array" },
	{ "channels null", NULL, "{" SUB_EXP ",\"channels\":null}", NULL, 0,
	    "channels is not an array" },
	{ "channels number", NULL, "{" SUB_EXP ",\"channels\":7}", NULL, 0,
	    "channels is not an array" },
	{ "channel number", NULL, "{" SUB_EXP ",\"channels\":[\"a\",7]}",
	    NULL, 0, "channel is not a string" },
	{ "channel null", NULL, "{" SUB_EXP ",\"channels\":[null]}", NULL, 0,
	    "channel is not a string" },
	{ "channel array", NULL, "{" SUB_EXP ",\"channels\":[[\"a\"]]}", NULL,
	    0, "channel is not a string" },
	{ "channel object", NULL, "{" SUB_EXP ",\"channels\":[{}]}", NULL, 0,
	    "channel is not a string" },
	{ "channel empty", NULL, "{" SUB_EXP ",\"channels\":[\"a\",\"\"]}",
	    NULL, 0, "channel is empty" },
	{ "16 channels", NULL, "{" SUB_EXP ",\"channels\":[\"1\",\"2\",\"3\","
	    "\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\","
	    "\"14\",\"15\",\"16\"]}", NULL, 0, "too many channels" },
	{ NULL, NULL, NULL, NULL, 0, NULL },
};

static void
test_minted(void **state)
{
	(void)state;
	for (const struct mint_case *t = mint_cases; t->label; t++) {
		char *tok = mint(t->header ? t->header : HDR, t->payload,
		    SECRET);
		struct jwt_claims c;
		const char *reason = NULL;

		if (!t->sub) {
			expect_refused(t->label, tok, SECRET, NOW, t->why);
			free(tok);
			continue;
		}
		print_message("accepted: %s\n", t->label);
		if (jwt_verify(tok, strlen(tok), SECRET, strlen(SECRET), NOW,
		    &c, &reason) != 0) {
			print_error("%s: refused: %s\n", t->label, reason);
			fail();
		}
		assert_string_equal(c.sub, t->sub);
		assert_int_equal(c.nchannels, t->nchannels);
		jwt_claims_free(&c);
		free(tok);
	}
}

/* Text-level damage to a valid token (PY_ALICE under PY_SECRET). */
struct raw_case {
	const char *label;
	const char *token;
	const char *why;	/* part of the reason */
};

static const struct raw_case raw_cases[] = {
	{ "empty", "", "empty token" },
	{ "one segment", PY_H, "three segments" },
	{ "two segments", PY_H "." PY_P, "three segments" },
	{ "four segments", PY_H "." PY_P "." PY_S ".", "three segments" },
	{ "four full segments", PY_H "." PY_P "." PY_S "." PY_S,
	    "three segments" },
	{ "only dots", "..", "empty segment" },
	{ "empty header", "." PY_P "." PY_S, "empty segment" },
	{ "empty payload", PY_H ".." PY_S, "empty segment" },
	{ "empty signature", PY_H "." PY_P ".", "empty segment" },
	{ "padded header", PY_H "==." PY_P "." PY_S, "header is not base64" },
	{ "padded payload", PY_H "." PY_P "=." PY_S, "payload is not base64" },
	{ "padded signature", PY_H "." PY_P "." PY_S "=",
	    "signature is not base64" },
	{ "'+' in signature", PY_H "." PY_P "." "uSn1Rfw+7LvPCVPsvhNpWmZtWfpO"
	    "nuhk1QQgR3MRpRY", "signature is not base64" },
	{ "'/' in signature", PY_H "." PY_P "." "uSn1Rfw/7LvPCVPsvhNpWmZtWfpO"
	    "nuhk1QQgR3MRpRY", "signature is not base64" },
	{ "standard base64 alphabet", PY_H "."
	    "eyJzdWIiOjQyLCJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTcwMDAwMDAwMH0."
	    "VeYw498+VOpHmvJG6vsi+jjHOG9ur4/W5bWMNg+9Bog",
	    "signature is not base64" },
	{ "'*' in payload", PY_H "." "eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0N*g"
	    "wMH0." PY_S, "payload is not base64" },
	{ "space in payload", PY_H "." "eyJzdWIiOiJhbGljZSIsImV4cCI6 NDEwMjQ0"
	    "NDgwMH0." PY_S, "payload is not base64" },
	{ "newline at the end", PY_H "." PY_P "." PY_S "\n",
	    "signature is not base64" },
	{ "percent-encoded", PY_H "." PY_P "%2E" PY_S, "three segments" },
	{ "header length 4n+1", PY_H "A." PY_P "." PY_S,
	    "header is not base64" },
	{ "payload length 4n+1", PY_H "." PY_P "AA." PY_S,
	    "payload is not base64" },
	{ "payload unused bits set", PY_H "."
	    "eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH1." PY_S,
	    "payload is not base64" },
	{ "signature unused bits set", PY_H "." PY_P "."
	    "uSn1RfwE7LvPCVPsvhNpWmZtWfpOnuhk1QQgR3MRpRZ",
	    "signature is not base64" },
	{ "one bit flipped in payload", PY_H "."
	    "eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMX0." PY_S,
	    "signature does not match" },
	{ "sub changed", PY_H "." "eyJzdWIiOiJib2IiLCJleHAiOjQxMDI0NDQ4MDB9."
	    PY_S, "signature does not match" },
	{ "one bit flipped in signature", PY_H "." PY_P "."
	    "uSn1RfwE7LvPCVPsvhNpWmZtWfpOnuhk1QQgR3MRpRI",
	    "signature does not match" },
	{ "signature truncated", PY_H "." PY_P "."
	    "uSn1RfwE7LvPCVPsvhNpWmZtWfpOnuhk1QQgR3MR",
	    "signature does not match" },
	{ "signature extended", PY_H "." PY_P "." PY_S "AAAA",
	    "signature does not match" },
	{ "HS512 signature under HS256 header", PY_H "." PY_P "."
	    "mUMif_6G_fntf0YSNKlawMjMfHGIrUaxRc4kb7JOeq3wDXgdBEmtQIMl27sWb"
	    "RDMrmwN8BWTlMTNu1HsK5f5gg", "signature does not match" },
	{ "header and payload swapped", PY_P "." PY_H "." PY_S, "alg" },
	{ NULL, NULL, NULL },
};

static void
test_raw(void **state)
{
	(void)state;
	for (const struct raw_case *t = raw_cases; t->label; t++)
		expect_refused(t->label, t->token, PY_SECRET, NOW, t->why);
}

/* A NUL byte inside the token is one more invalid character. */
static void
test_embedded_nul(void **state)
{
	static const char tok[] = PY_H "." PY_P "\0." PY_S;
	struct jwt_claims c;
	const char *reason = NULL;

	(void)state;
	assert_int_equal(jwt_verify(tok, sizeof(tok) - 1, PY_SECRET,
	    strlen(PY_SECRET), NOW, &c, &reason), -1);
	assert_non_null(reason);
	/* The length is honoured: the prefix before NUL alone is valid. */
	assert_int_equal(jwt_verify(PY_ALICE "garbage", strlen(PY_ALICE),
	    PY_SECRET, strlen(PY_SECRET), NOW, &c, &reason), 0);
	jwt_claims_free(&c);
}

/* The size cap holds for validly signed tokens too. */
static void
test_size_cap(void **state)
{
	size_t payload_len = 0;
	int found = 0;

	(void)state;
	for (size_t pad = 2900; pad < 3200 && !found; pad++) {
		char *payload = malloc(pad + 64);
		char *tok;
		struct jwt_claims c;
		const char *reason = NULL;

		assert_non_null(payload);
		snprintf(payload, pad + 64, "{" SUB_EXP ",\"pad\":\"%*s\"}",
		    (int)pad, "");
		tok = mint(HDR, payload, SECRET);
		if (strlen(tok) == JWT_MAX_TOKEN) {
			found = 1;
			payload_len = pad;
			assert_int_equal(jwt_verify(tok, strlen(tok), SECRET,
			    strlen(SECRET), NOW, &c, &reason), 0);
			jwt_claims_free(&c);
		}
		if (strlen(tok) > JWT_MAX_TOKEN)
			expect_refused("signed, over the cap", tok, SECRET,
			    NOW, "too long");
		free(payload);
		free(tok);
	}
	assert_true(found);
	assert_true(payload_len > 0);

	/* Refused before any decoding: junk is never looked at. */
	{
		char *big = malloc(JWT_MAX_TOKEN + 2);

		assert_non_null(big);
		memset(big, '!', JWT_MAX_TOKEN + 1);
		big[JWT_MAX_TOKEN + 1] = '\0';
		expect_refused("4097 bytes of junk", big, SECRET, NOW,
		    "too long");
		free(big);
	}
}

/* Overlong sub and channel, and the limits themselves. */
static void
test_key_limits(void **state)
{
	char long_key[JWT_MAX_KEY + 2];
	char payload[3 * JWT_MAX_KEY];
	struct jwt_claims c;
	const char *reason = NULL;
	char *tok;

	(void)state;
	memset(long_key, 'k', sizeof(long_key) - 1);
	long_key[sizeof(long_key) - 1] = '\0';

	snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":" FAR "}",
	    long_key);
	tok = mint(HDR, payload, SECRET);
	expect_refused("sub 1025 bytes", tok, SECRET, NOW, "too long");
	free(tok);

	long_key[JWT_MAX_KEY] = '\0';
	snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":" FAR "}",
	    long_key);
	tok = mint(HDR, payload, SECRET);
	assert_int_equal(jwt_verify(tok, strlen(tok), SECRET, strlen(SECRET),
	    NOW, &c, &reason), 0);
	assert_int_equal(c.sub_len, JWT_MAX_KEY);
	jwt_claims_free(&c);
	free(tok);

	snprintf(payload, sizeof(payload), "{" SUB_EXP ",\"channels\":"
	    "[\"%s\"]}", long_key);
	tok = mint(HDR, payload, SECRET);
	assert_int_equal(jwt_verify(tok, strlen(tok), SECRET, strlen(SECRET),
	    NOW, &c, &reason), 0);
	assert_int_equal(c.channel_lens[0], JWT_MAX_KEY);
	jwt_claims_free(&c);
	free(tok);

	long_key[JWT_MAX_KEY] = 'k';
	snprintf(payload, sizeof(payload), "{" SUB_EXP ",\"channels\":"
	    "[\"a\",\"%s\"]}", long_key);
	tok = mint(HDR, payload, SECRET);
	expect_refused("channel 1025 bytes", tok, SECRET, NOW, "too long");
	free(tok);
}

/* Keys: the one it was signed with, and nothing else. */
static void
test_keys(void **state)
{
	char *tok = mint(HDR, "{" SUB_EXP "}", SECRET);
	struct jwt_claims c;
	const char *reason = NULL;

	(void)state;
	expect_refused("another key", tok, PY_SECRET, NOW, "signature");
	expect_refused("key with one byte more", tok, SECRET "x", NOW,
	    "signature");
	assert_int_equal(jwt_verify(tok, strlen(tok), SECRET,
	    strlen(SECRET) - 1, NOW, &c, &reason), -1);
	assert_int_equal(jwt_verify(tok, strlen(tok), SECRET, 0, NOW, &c,
	    &reason), -1);
	assert_int_equal(jwt_verify(tok, strlen(tok), SECRET, strlen(SECRET),
	    NOW, &c, &reason), 0);
	jwt_claims_free(&c);
	jwt_claims_free(&c);
	jwt_claims_free(NULL);
	free(tok);
}

/* jwt_sign -> jwt_verify, and what jwt_sign refuses. */
struct sign_case {
	const char *label;
	const char *sub;
	long long ttl;
	const char *channels[17];	/* NULL-terminated */
	int ok;
};

static const struct sign_case sign_cases[] = {
	{ "plain", "alice", 3600, { NULL }, 1 },
	{ "numeric string", "42", 60, { NULL }, 1 },
	{ "odd characters", "O'Brien \"%_\" \xc3\xa9 \\", 1, { NULL }, 1 },
	{ "channels", "bob", 3600, { "room:7", "team:blue", NULL }, 1 },
	{ "15 channels", "bob", 3600, { "1", "2", "3", "4", "5", "6", "7",
	    "8", "9", "10", "11", "12", "13", "14", "15", NULL }, 1 },
	{ "16 channels", "bob", 3600, { "1", "2", "3", "4", "5", "6", "7",
	    "8", "9", "10", "11", "12", "13", "14", "15", "16", NULL }, 0 },
	{ "empty sub", "", 3600, { NULL }, 0 },
	{ "ttl 0", "alice", 0, { NULL }, 0 },
	{ "ttl negative", "alice", -5, { NULL }, 0 },
	{ "empty channel", "alice", 3600, { "a", "", NULL }, 0 },
	{ "invalid UTF-8 sub", "\xff", 3600, { NULL }, 0 },
	{ NULL, NULL, 0, { NULL }, 0 },
};

static void
test_sign(void **state)
{
	(void)state;
	for (const struct sign_case *t = sign_cases; t->label; t++) {
		struct jwt_claims c;
		const char *reason = NULL;
		char *tok = NULL;
		size_t n = 0;

		print_message("sign: %s\n", t->label);
		while (t->channels[n])
			n++;
		if (!t->ok) {
			assert_int_equal(jwt_sign(SECRET, strlen(SECRET),
			    t->sub, t->ttl, t->channels, n, NOW, &tok,
			    &reason), -1);
			assert_null(tok);
			assert_non_null(reason);
			continue;
		}
		assert_int_equal(jwt_sign(SECRET, strlen(SECRET), t->sub,
		    t->ttl, t->channels, n, NOW, &tok, &reason), 0);
		assert_non_null(tok);
		assert_null(strchr(tok, '='));
		assert_null(strchr(tok, '+'));
		assert_null(strchr(tok, '/'));
		assert_int_equal(jwt_verify(tok, strlen(tok), SECRET,
		    strlen(SECRET), NOW, &c, &reason), 0);
		assert_string_equal(c.sub, t->sub);
		assert_int_equal(c.nchannels, n);
		for (size_t i = 0; i < n; i++)
			assert_string_equal(c.channels[i], t->channels[i]);
		jwt_claims_free(&c);
		/* Valid up to exp + leeway, and not after. */
		assert_int_equal(jwt_verify(tok, strlen(tok), SECRET,
		    strlen(SECRET), NOW + t->ttl + JWT_LEEWAY - 1, &c,
		    &reason), 0);
		jwt_claims_free(&c);
		expect_refused("expired signed token", tok, SECRET,
		    NOW + t->ttl + JWT_LEEWAY, "expired");
		expect_refused("signed token, other key", tok, PY_SECRET, NOW,
		    "signature");
		free(tok);
	}
}

/* A token jwt_sign makes is what the spec and PyJWT expect. */
static void
test_sign_shape(void **state)
{
	const char *reason = NULL;
	char *tok = NULL;
	char *want;

	(void)state;
	assert_int_equal(jwt_sign(SECRET, strlen(SECRET), "alice", 3600,
	    NULL, 0, NOW, &tok, &reason), 0);
	want = mint(HDR, "{\"sub\":\"alice\",\"iat\":1700000000,"
	    "\"exp\":1700003600}", SECRET);
	assert_string_equal(tok, want);
	free(tok);
	free(want);
	assert_int_equal(jwt_sign(SECRET, 0, "alice", 3600, NULL, 0, NOW,
	    &tok, &reason), -1);
	assert_null(tok);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pyjwt),
		cmocka_unit_test(test_minted),
		cmocka_unit_test(test_raw),
		cmocka_unit_test(test_embedded_nul),
		cmocka_unit_test(test_size_cap),
		cmocka_unit_test(test_key_limits),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_sign_shape),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
