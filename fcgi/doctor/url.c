/* SPDX-License-Identifier: BSD-2-Clause */
/* The doctor's URL: an http:// URL split for a request, and parameters. */
#include "url.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

/* Copy n bytes into a field of size size, with a NUL; -1 if too long. */
static int
doctor_copy(char *dst, size_t size, const char *src, size_t n)
{
	if (n >= size)
		return -1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

int
doctor_url_parse(const char *url, struct doctor_url *u, char *err,
    size_t errlen)
{
	const char *p;
	const char *host;
	const char *port = NULL;
	size_t alen;
	size_t hlen;
	size_t plen = 0;
	size_t tlen;
	long v;
	char *end;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(url, "https://", 8) == 0)
		return doctor_fail(err, errlen, "https:// is not supported: "
		    "run the doctor on the server, against the local http:// "
		    "address (e.g. http://127.0.0.1/events), so it sees what "
		    "the web server does");
	if (strncasecmp(url, "http://", 7) != 0) {
		snprintf(err, errlen, "not an http:// URL: '%.100s'", url);
		return -1;
	}
	p = url + 7;
	alen = strcspn(p, "/?#");
	if (memchr(p, '@', alen))
		return doctor_fail(err, errlen, "credentials in the URL are "
		    "not used: give --basic USER:PASSWORD");
	host = p;
	if (*p == '[') {
		const char *close = memchr(p, ']', alen);

		if (!close)
			return doctor_fail(err, errlen, "bad IPv6 address in "
			    "the URL (no ']')");
		host = p + 1;
		hlen = (size_t)(close - host);
		if (close + 1 < p + alen) {
			if (close[1] != ':')
				return doctor_fail(err, errlen, "bad host in "
				    "the URL");
			port = close + 2;
		}
	} else {
		const char *colon = memchr(p, ':', alen);

		hlen = colon ? (size_t)(colon - p) : alen;
		if (colon)
			port = colon + 1;
	}
	if (hlen == 0)
		return doctor_fail(err, errlen, "no host in the URL");
	if (doctor_copy(u->host, sizeof(u->host), host, hlen) == -1)
		return doctor_fail(err, errlen, "host name too long");
	if (port) {
		plen = (size_t)(p + alen - port);
		if (plen == 0 || plen > 5 || strspn(port, "0123456789") < plen)
			return doctor_fail(err, errlen, "bad port in the URL");
		errno = 0;
		v = strtol(port, &end, 10);
		if (errno != 0 || end != port + plen || v < 1 || v > 65535)
			return doctor_fail(err, errlen, "bad port in the URL");
		(void)doctor_copy(u->port, sizeof(u->port), port, plen);
	} else {
		(void)doctor_copy(u->port, sizeof(u->port), "80", 2);
	}
	if (doctor_copy(u->authority, sizeof(u->authority), p, alen) == -1)
		return doctor_fail(err, errlen, "host name too long");
	p += alen;
	tlen = strcspn(p, "#");		/* a fragment is never sent */
	for (size_t i = 0; i < tlen; i++) {
		unsigned char c = (unsigned char)p[i];

		/* It goes into the request line as it is. */
		if (c <= ' ' || c == 0x7f)
			return doctor_fail(err, errlen, "the URL has spaces or "
			    "control characters: percent-encode them");
	}
	if (tlen == 0 || *p != '/') {
		u->target[0] = '/';
		if (doctor_copy(u->target + 1, sizeof(u->target) - 1, p, tlen)
		    == -1)
			return doctor_fail(err, errlen, "URL too long");
	} else if (doctor_copy(u->target, sizeof(u->target), p, tlen) == -1) {
		return doctor_fail(err, errlen, "URL too long");
	}
	return 0;
}

/* Append c to the target; -1 when it is full. */
static int
doctor_put(struct doctor_url *u, size_t *len, char c)
{
	if (*len + 1 >= sizeof(u->target))
		return -1;
	u->target[(*len)++] = c;
	return 0;
}

int
doctor_url_add_param(struct doctor_url *u, const char *name,
    const char *value, char *err, size_t errlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t start = strlen(u->target);
	size_t len = start;
	char last = len > 0 ? u->target[len - 1] : '\0';
	int rc = 0;

	/* '?' first, '&' between parameters, none after a trailing one. */
	if (!strchr(u->target, '?'))
		rc |= doctor_put(u, &len, '?');
	else if (last != '?' && last != '&')
		rc |= doctor_put(u, &len, '&');
	for (const char *s = name; *s; s++)
		rc |= doctor_put(u, &len, *s);
	rc |= doctor_put(u, &len, '=');
	for (const unsigned char *s = (const unsigned char *)value; *s; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._~", *s)) {
			rc |= doctor_put(u, &len, (char)*s);
		} else {
			rc |= doctor_put(u, &len, '%');
			rc |= doctor_put(u, &len, hex[*s >> 4]);
			rc |= doctor_put(u, &len, hex[*s & 15]);
		}
	}
	if (rc != 0) {
		u->target[start] = '\0';	/* unchanged */
		return doctor_fail(err, errlen, "URL too long");
	}
	u->target[len] = '\0';
	return 0;
}
