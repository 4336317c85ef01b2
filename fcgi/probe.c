/* SPDX-License-Identifier: BSD-2-Clause */
/* The diagnostic stream `sse-outbox doctor` asks for (GET ...?probe=1). */
#include "probe.h"

#include <stdio.h>
#include <time.h>

#include "request.h"
#include "sse.h"
#include "stream.h"

#define PROBE_WRITE_TIMEOUT_MS 5000

static int
probe_send(const struct transport *tr, const char *p, size_t n)
{
	struct buf wire;
	int rc;

	buf_init(&wire, 64 * 1024);
	rc = transport_frame(tr, &wire, p, n);
	if (rc == 0)
		rc = transport_write_all(tr->fd, &wire,
		    PROBE_WRITE_TIMEOUT_MS);
	buf_free(&wire);
	return rc;
}

int
probe_run(const struct transport *tr, const struct config *cfg,
    size_t padding, int head)
{
	struct request_spec spec = {
		.method = head ? REQUEST_HEAD : REQUEST_GET,
	};
	struct stream_opening open = { .padding = padding };
	struct stream *s = stream_new(0, tr, &spec, &open);
	struct timespec gap = { 0, PROBE_SPACING_MS * 1000000L };
	struct buf ev;
	char data[96];
	int rc = -1;

	if (!s)
		return -1;
	buf_init(&ev, 4096);
	/* The same head as a real stream, so the path is tested as is. */
	if (stream_frame_head(s, cfg, padding) == -1 ||
	    transport_write_all(tr->fd, &s->wire, PROBE_WRITE_TIMEOUT_MS) ==
	    -1)
		goto out;
	/* HEAD: the head a GET would get, at once, and no body. */
	for (int n = 1; n <= PROBE_EVENTS && !head; n++) {
		int len = snprintf(data, sizeof(data),
		    "{\"n\":%d,\"of\":%d,\"spacing_ms\":%d}", n, PROBE_EVENTS,
		    PROBE_SPACING_MS);

		if (n > 1)
			nanosleep(&gap, NULL);
		buf_reset(&ev);
		if (sse_append_event(&ev, -1, "probe", 5, data, (size_t)len,
		    NULL) == -1 || probe_send(tr, ev.data, ev.len) == -1)
			goto out;
	}
	buf_reset(&ev);
	if (transport_frame_end(tr, &ev) == 0 &&
	    transport_write_all(tr->fd, &ev, PROBE_WRITE_TIMEOUT_MS) == 0)
		rc = 0;
out:
	buf_free(&ev);
	stream_free(s);
	return rc;
}
