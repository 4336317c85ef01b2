/* SPDX-License-Identifier: BSD-2-Clause */
/* The doctor's reading of a response head: status and the headers it judges. */
#include "head.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

/* Copy a header value, cut to the field, spaces around it dropped. */
static void
doctor_set(char *dst, size_t size, const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static int
doctor_head_line(struct doctor_head *h, const char *line, size_t n,
    char *err, size_t errlen)
{
	static const struct {
		const char *name;
		size_t off;
		size_t size;
	} fields[] = {
#define DOCTOR_FIELD(name, f) \
	{ name, offsetof(struct doctor_head, f), \
	    sizeof(((struct doctor_head *)0)->f) }
		DOCTOR_FIELD("server", server),
		DOCTOR_FIELD("content-type", content_type),
		DOCTOR_FIELD("content-encoding", content_encoding),
		DOCTOR_FIELD("transfer-encoding", transfer_encoding),
		DOCTOR_FIELD("x-accel-buffering", x_accel_buffering),
		DOCTOR_FIELD("upgrade", upgrade),
		DOCTOR_FIELD("www-authenticate", www_authenticate),
		DOCTOR_FIELD("retry-after", retry_after),
#undef DOCTOR_FIELD
		{ NULL, 0, 0 }
	};
	const char *colon = memchr(line, ':', n);
	size_t nlen;
	char value[32];
	char *end;

	if (!colon)
		return 0;	/* not a header: ignored, as browsers do */
	nlen = (size_t)(colon - line);
	colon++;
	if (nlen == 14 && strncasecmp(line, "content-length", 14) == 0) {
		doctor_set(value, sizeof(value), colon,
		    (size_t)(line + n - colon));
		errno = 0;
		h->content_length = strtoll(value, &end, 10);
		if (value[0] < '0' || value[0] > '9' || *end != '\0' ||
		    errno != 0)
			return doctor_fail(err, errlen, "bad Content-Length in "
			    "the response");
		return 0;
	}
	for (size_t i = 0; fields[i].name; i++) {
		if (strlen(fields[i].name) == nlen &&
		    strncasecmp(line, fields[i].name, nlen) == 0) {
			doctor_set((char *)h + fields[i].off, fields[i].size,
			    colon, (size_t)(line + n - colon));
			break;
		}
	}
	return 0;
}

/* n ASCII digits at p? */
static int
doctor_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

int
doctor_head_parse(const char *p, size_t len, struct doctor_head *h,
    char *err, size_t errlen)
{
	const char *end = p + len;
	const char *nl;
	size_t n;
	int first = 1;

	memset(h, 0, sizeof(*h));
	h->content_length = -1;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (first) {
			/* "HTTP/1.1 200 OK" */
			if (n < 12 || strncmp(p, "HTTP/1.", 7) != 0 ||
			    !doctor_digits(p + 7, 1) || p[8] != ' ' ||
			    !doctor_digits(p + 9, 3) ||
			    (n > 12 && p[12] != ' '))
				return doctor_fail(err, errlen, "not an HTTP/1 "
				    "response (is this a web server?)");
			h->minor = p[7] - '0';
			h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 +
			    (p[11] - '0');
			first = 0;
		} else if (doctor_head_line(h, p, n, err, errlen) == -1) {
			return -1;
		}
		p = nl ? nl + 1 : end;
	}
	if (first)
		return doctor_fail(err, errlen, "empty response");
	return 0;
}
