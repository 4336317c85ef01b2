/* SPDX-License-Identifier: BSD-2-Clause */
/* Whole answers sent outside the event loop: errors, HEAD, the stats. */
#include "answer.h"

#include <unistd.h>

#include "request.h"

void
answer_whole(const struct transport *tr, const struct buf *body)
{
	struct buf wire;

	buf_init(&wire, body->len + 1024);
	if (!body->failed &&
	    transport_frame(tr, &wire, body->data, body->len) == 0 &&
	    transport_frame_end(tr, &wire) == 0)
		(void)transport_write_all(tr->fd, &wire, ANSWER_TIMEOUT_MS);
	buf_free(&wire);
	transport_close(tr);
}

void
answer_error(const struct transport *tr, int status, const char *header,
    int head)
{
	struct buf body;

	buf_init(&body, 4096);
	if (request_append_error(&body, status, header, head) == 0)
		answer_whole(tr, &body);
	else
		transport_close(tr);
	buf_free(&body);
}

const char *
answer_error_header(const struct config *cfg, int status)
{
	if (status == 401 && cfg->auth == AUTH_JWT)
		return "WWW-Authenticate: Bearer";
	if (status == 405)
		return "Allow: GET, HEAD";
	if (status == 503 || status == 429)
		return ANSWER_RETRY_AFTER;
	return NULL;
}

void
answer_stream_head(struct stream *s, const struct config *cfg)
{
	if (stream_frame_head(s, cfg, 0) == 0 && stream_frame_end(s) == 0)
		(void)transport_write_all(s->tr.fd, &s->wire,
		    ANSWER_TIMEOUT_MS);
	transport_close(&s->tr);
}

void
answer_stats(const struct transport *tr, const struct hub_stats *st,
    const unsigned long refused[STATS_STATUSES], int head)
{
	struct buf body;

	buf_init(&body, 64 * 1024);
	(void)buf_append_str(&body, "Status: 200 OK\r\nContent-Type: "
	    "text/plain; version=0.0.4; charset=utf-8\r\n"
	    "Cache-Control: no-store\r\n\r\n");
	if (head || stats_format(&body, st, refused, (long)getpid()) == 0)
		answer_whole(tr, &body);
	else
		transport_close(tr);
	buf_free(&body);
}
