/* SPDX-License-Identifier: BSD-2-Clause */
/* How response bytes travel: FastCGI STDOUT records, or raw CGI stdout. */
#ifndef FCGI_TRANSPORT_H
#define FCGI_TRANSPORT_H

#include <stddef.h>

#include "buf.h"
#include "mustcheck.h"

/*
 * A response channel. In FastCGI mode libfcgi parses the request and then
 * hands the connection over; from there on sse-outbox writes the records
 * itself, so that writes can be non-blocking and an idle stream holds no
 * library buffers.
 */
struct transport {
	int fd;			/* connection (FastCGI) or stdout (CGI) */
	int request_id;		/* FastCGI request id; unused in CGI */
	int fastcgi;		/* 1 = FastCGI records, 0 = raw CGI */
};

/* Append n response bytes to wire, framed for t. */
int transport_frame(const struct transport *t, struct buf *wire,
    const char *p, size_t n) MUSTCHECK;

/* Append the end of the response (FastCGI: empty STDOUT, END_REQUEST). */
int transport_frame_end(const struct transport *t, struct buf *wire)
    MUSTCHECK;

/*
 * Write all of wire to fd, waiting for room (bounded by timeout_ms) when
 * the descriptor is non-blocking. For short answers outside the event
 * loop. Returns 0, or -1 with errno set.
 */
int transport_write_all(int fd, const struct buf *wire, int timeout_ms);

/*
 * Close the channel. For FastCGI, first read what the web server sent and
 * nobody read (the empty STDIN record): closing a TCP socket with unread
 * input sends a reset, which can discard the response's last bytes.
 */
void transport_close(const struct transport *t);

#endif
