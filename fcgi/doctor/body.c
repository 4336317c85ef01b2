/* SPDX-License-Identifier: BSD-2-Clause */
/* The doctor's reading of a probe body: HTTP framing removed, events timed. */
#include "body.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"

/* Chunked-framing states of struct doctor_body. */
enum {
	DOCTOR_CHUNK_SIZE,	/* reading "hex[;ext]" CR LF */
	DOCTOR_CHUNK_DATA,	/* left bytes of data to come */
	DOCTOR_CHUNK_END,	/* the CR LF after the data */
	DOCTOR_CHUNK_TRAILER,	/* trailer lines up to an empty one */
	DOCTOR_CHUNK_DONE
};


void
doctor_body_init(struct doctor_body *b, const struct doctor_head *h)
{
	memset(b, 0, sizeof(*b));
	if (strcasestr(h->transfer_encoding, "chunked")) {
		b->framing = DOCTOR_FRAME_CHUNKED;
		b->state = DOCTOR_CHUNK_SIZE;
	} else if (h->content_length >= 0) {
		b->framing = DOCTOR_FRAME_LENGTH;
		b->left = h->content_length;
		b->complete = b->left == 0;
	} else {
		b->framing = DOCTOR_FRAME_EOF;
	}
	b->parse_events = h->content_encoding[0] == '\0' ||
	    strcasecmp(h->content_encoding, "identity") == 0;
}

/* One event-stream line, per the WHATWG "event stream interpretation". */
static void
doctor_body_line(struct doctor_body *b, double now)
{
	const char *line = b->line;
	size_t n = b->line_len;
	const char *colon;
	const char *v;
	size_t flen;
	size_t vlen;

	if (n == 0) {
		/* Dispatch: an event without data is not one. */
		if (b->has_data) {
			if (!b->is_probe)
				b->nother++;
			else if (b->nprobes < DOCTOR_PROBES)
				b->probe_at[b->nprobes++] = now;
		}
		b->is_probe = 0;
		b->has_data = 0;
		return;
	}
	if (line[0] == ':')
		return;			/* a comment: heartbeat or padding */
	colon = memchr(line, ':', n);
	flen = colon ? (size_t)(colon - line) : n;
	v = colon ? colon + 1 : line + n;
	if (colon && v < line + n && *v == ' ')
		v++;
	vlen = (size_t)(line + n - v);
	if (flen == 5 && memcmp(line, "event", 5) == 0)
		b->is_probe = vlen == 5 && memcmp(v, "probe", 5) == 0;
	else if (flen == 4 && memcmp(line, "data", 4) == 0)
		b->has_data = 1;
}

/* Body bytes with the HTTP framing removed. */
static void
doctor_body_data(struct doctor_body *b, const char *p, size_t n,
    double now)
{
	if (n == 0)
		return;
	if (b->bytes == 0)
		b->first_at = now;
	b->last_at = now;
	b->bytes += (long long)n;
	if (!b->parse_events)
		return;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (b->after_cr) {
			b->after_cr = 0;
			if (c == '\n')
				continue;
		}
		if (c == '\r' || c == '\n') {
			b->after_cr = c == '\r';
			doctor_body_line(b, now);
			b->line_len = 0;
		} else if (b->line_len < sizeof(b->line)) {
			b->line[b->line_len++] = c;
		}
		/* A longer line is cut: only a field's name matters here. */
	}
}

/* A chunk-size or trailer line is complete in b->size_line. */
static int
doctor_chunk_line(struct doctor_body *b, char *err, size_t errlen)
{
	char *end;
	size_t n = b->size_len;

	if (n > 0 && b->size_line[n - 1] == '\r')
		n--;
	b->size_line[n] = '\0';
	b->size_len = 0;
	if (b->state == DOCTOR_CHUNK_TRAILER) {
		if (n == 0) {
			b->state = DOCTOR_CHUNK_DONE;
			b->complete = 1;
		}
		return 0;
	}
	errno = 0;
	b->left = strtoll(b->size_line, &end, 16);
	if (n == 0 || end == b->size_line || errno != 0 || b->left < 0 ||
	    (*end != '\0' && *end != ';' && *end != ' ' && *end != '\t'))
		return doctor_fail(err, errlen, "bad chunked encoding in the "
		    "response");
	if (b->left == 0) {
		b->state = DOCTOR_CHUNK_TRAILER;
	} else {
		b->state = DOCTOR_CHUNK_DATA;
		b->nchunks++;
	}
	return 0;
}

static int
doctor_body_chunked(struct doctor_body *b, const char *p, size_t n,
    double now, char *err, size_t errlen)
{
	size_t i = 0;

	while (i < n && b->state != DOCTOR_CHUNK_DONE) {
		if (b->state == DOCTOR_CHUNK_DATA) {
			size_t take = n - i;

			if ((long long)take > b->left)
				take = (size_t)b->left;
			doctor_body_data(b, p + i, take, now);
			b->left -= (long long)take;
			i += take;
			if (b->left == 0)
				b->state = DOCTOR_CHUNK_END;
			continue;
		}
		if (b->state == DOCTOR_CHUNK_END) {
			if (p[i] == '\n')
				b->state = DOCTOR_CHUNK_SIZE;
			else if (p[i] != '\r')
				return doctor_fail(err, errlen, "bad chunked "
				    "encoding in the response");
			i++;
			continue;
		}
		/* DOCTOR_CHUNK_SIZE or DOCTOR_CHUNK_TRAILER: a line. */
		if (p[i] == '\n') {
			i++;
			if (doctor_chunk_line(b, err, errlen) == -1)
				return -1;
			continue;
		}
		if (b->size_len + 1 >= sizeof(b->size_line)) {
			/* Trailer lines are skipped, not kept. */
			if (b->state != DOCTOR_CHUNK_TRAILER)
				return doctor_fail(err, errlen, "bad chunked "
				    "encoding in the response");
			b->size_len = 1;
		}
		b->size_line[b->size_len++] = p[i++];
	}
	return 0;
}

int
doctor_body_feed(struct doctor_body *b, const char *p, size_t n,
    double now, char *err, size_t errlen)
{
	long long before = b->bytes;
	int rc = 0;

	if (b->complete || n == 0)
		return 0;
	if (b->framing == DOCTOR_FRAME_CHUNKED) {
		rc = doctor_body_chunked(b, p, n, now, err, errlen);
	} else if (b->framing == DOCTOR_FRAME_LENGTH) {
		size_t take = (long long)n > b->left ? (size_t)b->left : n;

		doctor_body_data(b, p, take, now);
		b->left -= (long long)take;
		b->complete = b->left == 0;
	} else {
		doctor_body_data(b, p, n, now);
	}
	if (b->bytes > before)
		b->nreads++;
	return rc;
}

void
doctor_body_eof(struct doctor_body *b)
{
	if (b->framing == DOCTOR_FRAME_EOF)
		b->complete = 1;
}
