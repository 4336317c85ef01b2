/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target: frame a fuzzed row, parse it back as a browser does. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sse.h"

/*
 * The input is a row: 8 bytes of id, 1 flags byte, 2 bytes of name
 * length, the name, then the data. Flag bit 0: the row has an event
 * name; bit 1: frame into a small buffer (the cap from the next 2
 * bytes), so the cap path is checked too.
 *
 * The oracle parses the output as the HTML Living Standard says
 * (9.2.6 "Interpreting an event stream"): lines end at CR LF, CR or LF;
 * "name: value" with one leading space dropped; data lines joined with
 * LF; a blank line dispatches. It must find exactly one event, whose id
 * is the row's, whose type is the name without CR, LF and NUL ("message"
 * when that leaves nothing), and whose data is the row's data with every
 * CR LF and lone CR turned into LF; no retry and no other field.
 */

struct parsed {
	int events;		/* dispatched events */
	int fields;		/* field lines of any name */
	int bad_fields;		/* fields other than id, event, data */
	int retry_seen;
	int comments;
	char *data;		/* data buffer, as the spec keeps it */
	size_t data_len;
	char *type;		/* event type buffer */
	size_t type_len;
	char last_id[32];	/* last event ID buffer */
	int id_too_long;
	/* what the first dispatch saw */
	char *ev_data;
	size_t ev_data_len;
	char *ev_type;
	size_t ev_type_len;
	char ev_id[32];
};

static void
fail(const char *what)
{
	fprintf(stderr, "fuzz_sse oracle: %s\n", what);
	abort();
}

static void
append(char **p, size_t *len, const char *s, size_t n)
{
	char *q = realloc(*p, *len + n + 1);

	if (!q)
		fail("out of memory");
	if (n)
		memcpy(q + *len, s, n);
	*len += n;
	q[*len] = '\0';
	*p = q;
}

static void
dispatch(struct parsed *p)
{
	if (p->data_len == 0) {
		p->type_len = 0;
		return;
	}
	p->data_len--;		/* the spec drops the last LF */
	p->events++;
	if (p->events == 1) {
		p->ev_data = p->data;
		p->ev_data_len = p->data_len;
		p->data = NULL;
		if (p->type_len) {
			p->ev_type = p->type;
			p->ev_type_len = p->type_len;
			p->type = NULL;
		} else {
			append(&p->ev_type, &p->ev_type_len, "message", 7);
		}
		memcpy(p->ev_id, p->last_id, sizeof(p->ev_id));
	}
	free(p->data);
	p->data = NULL;
	p->data_len = 0;
	free(p->type);
	p->type = NULL;
	p->type_len = 0;
}

static void
field(struct parsed *p, const char *name, size_t nlen, const char *v,
    size_t vlen)
{
	p->fields++;
	if (nlen == 5 && memcmp(name, "event", 5) == 0) {
		free(p->type);
		p->type = NULL;
		p->type_len = 0;
		append(&p->type, &p->type_len, v, vlen);
	} else if (nlen == 4 && memcmp(name, "data", 4) == 0) {
		append(&p->data, &p->data_len, v, vlen);
		append(&p->data, &p->data_len, "\n", 1);
	} else if (nlen == 2 && memcmp(name, "id", 2) == 0) {
		if (!memchr(v, '\0', vlen)) {
			if (vlen >= sizeof(p->last_id)) {
				p->id_too_long = 1;
			} else {
				memcpy(p->last_id, v, vlen);
				p->last_id[vlen] = '\0';
			}
		}
	} else if (nlen == 5 && memcmp(name, "retry", 5) == 0) {
		p->retry_seen = 1;
	} else {
		p->bad_fields++;
	}
}

static void
line(struct parsed *p, const char *s, size_t len)
{
	const char *colon;
	const char *v;
	size_t vlen;

	if (len == 0) {
		dispatch(p);
		return;
	}
	if (s[0] == ':') {
		p->comments++;
		return;
	}
	colon = memchr(s, ':', len);
	if (!colon) {
		field(p, s, len, "", 0);
		return;
	}
	v = colon + 1;
	vlen = len - (size_t)(v - s);
	if (vlen > 0 && v[0] == ' ') {
		v++;
		vlen--;
	}
	field(p, s, (size_t)(colon - s), v, vlen);
}

/* Returns the bytes left after the last line end (must be 0). */
static size_t
parse(struct parsed *p, const char *s, size_t len)
{
	size_t start = 0;
	size_t i = 0;

	while (i < len) {
		if (s[i] != '\r' && s[i] != '\n') {
			i++;
			continue;
		}
		line(p, s + start, i - start);
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
			i++;
		i++;
		start = i;
	}
	return len - start;
}

static uint64_t
take_u64(const uint8_t **d, size_t *n)
{
	uint64_t v = 0;

	for (int i = 0; i < 8 && *n > 0; i++, (*d)++, (*n)--)
		v = v << 8 | **d;
	return v;
}

static size_t
take_u16(const uint8_t **d, size_t *n)
{
	size_t v = 0;

	for (int i = 0; i < 2 && *n > 0; i++, (*d)++, (*n)--)
		v = v << 8 | **d;
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct parsed p;
	struct buf b;
	long long id;
	int flags;
	int has_name;
	size_t cap = 64 * 1024 * 1024;
	size_t name_len;
	const char *name;
	const char *data;
	size_t data_len;
	char *want_type = NULL;
	size_t want_type_len = 0;
	char *want_data = NULL;
	size_t want_data_len = 0;
	char want_id[32];
	int cleaned = -1;
	int want_cleaned = 0;
	int rc;

	id = (long long)(take_u64(&d, &n) & INT64_MAX);
	flags = n > 0 ? *d : 0;
	if (n > 0) {
		d++;
		n--;
	}
	has_name = flags & 1;
	if (flags & 2)
		cap = take_u16(&d, &n);
	name_len = take_u16(&d, &n);
	if (name_len > n)
		name_len = n;
	name = (const char *)d;
	data = (const char *)d + name_len;
	data_len = n - name_len;

	buf_init(&b, cap);
	rc = sse_append_event(&b, id, has_name ? name : NULL, name_len, data,
	    data_len, &cleaned);
	if (rc == -1) {
		/* Only a cap that is too small may refuse a row. */
		if (!b.failed || cap >= 64 * 1024 * 1024)
			fail("refused without reaching the cap");
		buf_free(&b);
		return 0;
	}
	if (b.failed || b.len > cap)
		fail("success reported past the cap");

	/* What a browser must see. */
	if (has_name) {
		for (size_t i = 0; i < name_len; i++) {
			char c = name[i];

			if (c == '\r' || c == '\n' || c == '\0')
				want_cleaned = 1;
			else
				append(&want_type, &want_type_len, &c, 1);
		}
	}
	if (want_type_len == 0)
		append(&want_type, &want_type_len, "message", 7);
	append(&want_data, &want_data_len, "", 0);
	for (size_t i = 0; i < data_len; i++) {
		char c = data[i];

		if (c == '\r') {
			if (i + 1 < data_len && data[i + 1] == '\n')
				i++;
			c = '\n';
		}
		append(&want_data, &want_data_len, &c, 1);
	}
	snprintf(want_id, sizeof(want_id), "%lld", id);

	memset(&p, 0, sizeof(p));
	if (parse(&p, b.data ? b.data : "", b.len) != 0)
		fail("output does not end with a line end");
	if (p.events != 1)
		fail("not exactly one event");
	if (p.retry_seen || p.bad_fields || p.comments || p.id_too_long)
		fail("a field other than id, event, data");
	if (p.data_len || p.type_len)
		fail("an undispatched event after the blank line");
	if (strcmp(p.ev_id, want_id) != 0)
		fail("wrong id");
	if (p.ev_type_len != want_type_len ||
	    memcmp(p.ev_type, want_type, want_type_len) != 0)
		fail("wrong event type");
	if (p.ev_data_len != want_data_len ||
	    memcmp(p.ev_data, want_data, want_data_len) != 0)
		fail("wrong data");
	if (cleaned != want_cleaned)
		fail("name_cleaned is wrong");

	free(p.ev_data);
	free(p.ev_type);
	free(p.data);
	free(p.type);
	free(want_type);
	free(want_data);
	buf_free(&b);
	return 0;
}
