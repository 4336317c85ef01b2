/* SPDX-License-Identifier: BSD-2-Clause */
/* One stream's life: headers, framed events, heartbeats, writes, end. */
#include "stream.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sse.h"

struct stream *
stream_new(unsigned long serial, const struct transport *tr,
    struct request_spec *spec, const struct stream_opening *open)
{
	struct stream *s;

	if (open->reset && strlen(open->reset) >= RESUME_DATA_LEN)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	if (open->reset)
		strcpy(s->reset, open->reset);
	s->announce = open->announce;
	s->padding = open->padding;
	s->serial = serial;
	s->tr = *tr;
	s->user = spec->user;
	s->user_len = spec->user_len;
	spec->user = NULL;
	s->keys[0] = s->user;
	s->key_lens[0] = s->user_len;
	s->nkeys = 1;
	for (size_t i = 0; i < spec->nchannels; i++) {
		char *k = spec->channels[i];
		size_t len = spec->channel_lens[i];
		int dup = 0;

		spec->channels[i] = NULL;
		for (size_t j = 0; j < s->nkeys && !dup; j++)
			dup = s->key_lens[j] == len &&
			    memcmp(s->keys[j], k, len) == 0;
		if (dup) {
			free(k);
			continue;
		}
		s->keys[s->nkeys] = k;
		s->key_lens[s->nkeys++] = len;
	}
	spec->nchannels = 0;
	s->last_id = open->start_id;
	s->head_only = spec->method == REQUEST_HEAD;
	s->cors_origin = spec->cors_origin;
	spec->cors_origin = NULL;
	buf_init(&s->wire, STREAM_WIRE_CAP);
	return s;
}

void
stream_free(struct stream *s)
{
	if (!s)
		return;
	buf_free(&s->wire);
	for (size_t i = 0; i < s->nkeys; i++)
		free(s->keys[i]);
	free(s->cors_origin);
	free(s);
}

int
stream_frame(struct stream *s, const char *p, size_t n)
{
	return transport_frame(&s->tr, &s->wire, p, n);
}

int
stream_take(struct stream *s, const char *p, size_t n, long long id)
{
	if (stream_frame(s, p, n) == -1)
		return -1;
	s->last_id = id;
	return 0;
}

int
stream_take_reset(struct stream *s, const char *data, long long id)
{
	if (stream_frame_reset(s, data) == -1)
		return -1;
	s->last_id = id;
	return 0;
}

static int
stream_append_reset(struct buf *b, const char *data)
{
	return sse_append_event(b, -1, "reset", 5, data, strlen(data), NULL);
}

int
stream_frame_reset(struct stream *s, const char *data)
{
	struct buf ev;
	int rc;

	buf_init(&ev, 512);
	rc = stream_append_reset(&ev, data);
	if (rc == 0)
		rc = stream_frame(s, ev.data, ev.len);
	buf_free(&ev);
	return rc;
}

int
stream_frame_head(struct stream *s, const struct config *cfg,
    size_t padding)
{
	struct buf head;
	int rc;

	buf_init(&head, 64 * 1024);
	/*
	 * no-transform and X-Accel-Buffering keep proxies from compressing
	 * or holding the stream; Incremental (draft-ietf-httpbis-incremental)
	 * asks intermediaries to forward each part as it comes.
	 */
	(void)buf_append_str(&head,
	    "Status: 200 OK\r\n"
	    "Content-Type: text/event-stream; charset=utf-8\r\n"
	    "Cache-Control: no-cache, no-transform\r\n"
	    "X-Accel-Buffering: no\r\n"
	    "Incremental: ?1\r\n");
	if (s->cors_origin) {
		/* The origin matched SSE_CORS_ORIGINS exactly. */
		(void)buf_append_str(&head, "Access-Control-Allow-Origin: ");
		(void)buf_append_str(&head, s->cors_origin);
		(void)buf_append_str(&head, "\r\nAccess-Control-Allow-"
		    "Credentials: true\r\nVary: Origin\r\n");
	}
	(void)buf_append_str(&head, "\r\n");
	if (!s->head_only) {
		if (padding > 0)
			(void)sse_append_padding(&head, padding);
		(void)sse_append_retry(&head, cfg->retry);
		/*
		 * With SSE_ANNOUNCE_START=1, a client that came without a
		 * resume point learns where it starts: a block with only
		 * "id:" sets the browser's last
		 * event id without firing an event (HTML, "dispatch the
		 * event", steps 1-2). Should the connection drop before the
		 * first row, the reconnect then resumes here instead of at
		 * the end, and nothing committed in between is lost.
		 */
		if (s->announce) {
			(void)buf_append_str(&head, "id: ");
			(void)buf_append_i64(&head, s->last_id);
			(void)buf_append_str(&head, "\n\n");
		}
		if (s->reset[0])
			(void)stream_append_reset(&head, s->reset);
	}
	rc = head.failed ? -1 : stream_frame(s, head.data, head.len);
	buf_free(&head);
	return rc;
}

int
stream_frame_end(struct stream *s)
{
	s->ending = 1;
	return transport_frame_end(&s->tr, &s->wire);
}

enum stream_write_result
stream_write(struct stream *s)
{
	enum stream_write_result res = STREAM_DRAINED;

	while (s->wire.len > 0) {
		ssize_t n = write(s->tr.fd, s->wire.data, s->wire.len);

		if (n > 0) {
			/* O(1): the unsent rest is not moved. */
			buf_consume(&s->wire, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			res = STREAM_BLOCKED;
		else
			res = STREAM_GONE;
		break;
	}
	/* An idle stream keeps no buffer: memory per stream stays small. */
	if (s->wire.len == 0)
		buf_free(&s->wire);
	return res;
}

const char *
stream_user_for_log(const char *user, size_t len)
{
	static __thread char out[80];
	size_t o = 0;
	size_t i;

	/* Room left for one escape, "..." and the NUL. */
	for (i = 0; i < len && o + 8 < sizeof(out); i++) {
		unsigned char c = (unsigned char)user[i];

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			out[o++] = (char)c;
		} else {
			snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
			o += 4;
		}
	}
	if (i < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}
