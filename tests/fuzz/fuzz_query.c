/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target: query parameters, percent-decoding and cookies,
 * each checked against a plain reference implementation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

/*
 * Input: 1 selector byte, then the text. The selector picks the name
 * looked up (and, bit 7, whether the text is a Cookie header instead of
 * a query string). The text stops at its first NUL, as a CGI variable
 * does; request_percent_decode also gets the raw bytes, NULs included.
 */

static const char *const names[] = {
	"user", "token", "lastEventId", "probe", "a", "sse_token", "",
};

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_query oracle: %s\n", what);
	abort();
}

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* x-www-form-urlencoded value: '+' is space, %XX a byte, no NUL. */
static int
ref_decode(const char *s, size_t len, char *out, size_t *out_len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; ) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			int hi = i + 1 < len ? hexval((unsigned char)s[i + 1])
			    : -1;
			int lo = i + 2 < len ? hexval((unsigned char)s[i + 2])
			    : -1;

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			out[o++] = (char)(hi << 4 | lo);
			i += 3;
		} else if (c == '\0') {
			return -1;
		} else {
			out[o++] = c == '+' ? ' ' : (char)c;
			i++;
		}
	}
	*out_len = o;
	return 0;
}

/* Split at '&'; a key is everything before the first '='. */
static int
ref_query(const char *q, const char *name, char *out, size_t *out_len)
{
	size_t qlen = strlen(q);
	size_t nlen = strlen(name);
	const char *val = NULL;
	size_t val_len = 0;
	int count = 0;
	size_t start = 0;

	for (size_t i = 0; i <= qlen; i++) {
		const char *piece;
		size_t plen;
		size_t k;

		if (i < qlen && q[i] != '&')
			continue;
		piece = q + start;
		plen = i - start;
		start = i + 1;
		for (k = 0; k < plen && piece[k] != '='; k++)
			;
		if (k != nlen || memcmp(piece, name, nlen) != 0)
			continue;
		if (plen == 0 && nlen == 0 && i == qlen)
			continue;	/* nothing after the last '&' */
		count++;
		val = k < plen ? piece + k + 1 : piece + plen;
		val_len = k < plen ? plen - k - 1 : 0;
	}
	if (count == 0)
		return 0;
	if (count > 1)
		return -1;
	return ref_decode(val, val_len, out, out_len) == 0 ? 1 : -1;
}

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static int
is_cookie_octet(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) ||
	    (c >= 0x2d && c <= 0x3a) || (c >= 0x3c && c <= 0x5b) ||
	    (c >= 0x5d && c <= 0x7e);
}

/* RFC 6265 section 5.4 pairs; OWS trimmed around names and values. */
static int
ref_cookie(const char *h, const char *name, char *out, size_t *out_len)
{
	size_t hlen = strlen(h);
	size_t nlen = strlen(name);
	const char *val = NULL;
	size_t val_len = 0;
	int count = 0;
	size_t start = 0;

	for (size_t i = 0; i <= hlen; i++) {
		size_t a;
		size_t b;
		size_t eq;

		if (i < hlen && h[i] != ';')
			continue;
		a = start;
		b = i;
		start = i + 1;
		for (eq = a; eq < b && h[eq] != '='; eq++)
			;
		if (eq == b)
			continue;	/* no '=': skipped */
		{
			size_t ka = a;
			size_t kb = eq;
			size_t va = eq + 1;
			size_t vb = b;

			while (ka < kb && is_ows(h[ka]))
				ka++;
			while (kb > ka && is_ows(h[kb - 1]))
				kb--;
			if (kb - ka != nlen || memcmp(h + ka, name, nlen) != 0)
				continue;
			while (va < vb && is_ows(h[va]))
				va++;
			while (vb > va && is_ows(h[vb - 1]))
				vb--;
			count++;
			val = h + va;
			val_len = vb - va;
		}
	}
	if (count == 0)
		return 0;
	if (count > 1)
		return -1;
	if (val_len >= 2 && val[0] == '"' && val[val_len - 1] == '"') {
		val++;
		val_len -= 2;
	}
	for (size_t i = 0; i < val_len; i++)
		if (!is_cookie_octet((unsigned char)val[i]))
			return -1;
	memcpy(out, val, val_len);
	*out_len = val_len;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	const char *name;
	char *text;
	char *ref;
	char *dec;
	char *value = NULL;
	size_t value_len = 0;
	size_t ref_len = 0;
	size_t dec_len = 0;
	int sel;
	int rc;
	int want;

	if (n == 0)
		return 0;
	sel = d[0];
	d++;
	n--;
	name = names[(sel & 0x7f) % (sizeof(names) / sizeof(names[0]))];
	text = malloc(n + 1);
	ref = malloc(n + 1);
	dec = malloc(n + 1);
	if (!text || !ref || !dec)
		fail("out of memory");
	memcpy(text, d, n);
	text[n] = '\0';

	/* The decoder on raw bytes, NULs included. */
	rc = request_percent_decode(text, n, dec, &dec_len);
	want = ref_decode(text, n, ref, &ref_len);
	if (rc != want)
		fail("percent_decode: result differs from the reference");
	if (rc == 0 && (dec_len != ref_len || memcmp(dec, ref, ref_len) != 0
	    || dec[dec_len] != '\0' || memchr(dec, '\0', dec_len)))
		fail("percent_decode: output differs from the reference");

	if (sel & 0x80) {
		rc = request_cookie(text, name, &value, &value_len);
		want = ref_cookie(text, name, ref, &ref_len);
	} else {
		rc = request_query_param(text, name, &value, &value_len);
		want = ref_query(text, name, ref, &ref_len);
	}
	if (rc != want)
		fail("result differs from the reference");
	if (rc == 1) {
		if (!value || value_len != ref_len ||
		    memcmp(value, ref, ref_len) != 0 ||
		    value[value_len] != '\0')
			fail("value differs from the reference");
	} else if (value || value_len) {
		fail("a value without success");
	}
	free(value);
	free(text);
	free(ref);
	free(dec);
	return 0;
}
