/* SPDX-License-Identifier: BSD-2-Clause */
/* Whole answers sent outside the event loop: errors, HEAD, the stats. */
#ifndef FCGI_ANSWER_H
#define FCGI_ANSWER_H

#include "buf.h"
#include "config.h"
#include "hub.h"
#include "stats.h"
#include "stream.h"
#include "transport.h"

/* How long a whole answer may wait for a slow peer to take it. */
#define ANSWER_TIMEOUT_MS 5000
#define ANSWER_RETRY_AFTER "Retry-After: 5"

/*
 * Send body (CGI head and body) on tr, end the response and close tr.
 * Nothing is sent when body overflowed its cap. body is borrowed.
 */
void answer_whole(const struct transport *tr, const struct buf *body);

/*
 * Send the error answer for status (with the extra header line, may be
 * NULL; no body for head) and close tr.
 */
void answer_error(const struct transport *tr, int status,
    const char *header, int head);

/* The extra header a refusal with status carries, or NULL. */
const char *answer_error_header(const struct config *cfg, int status);

/* The head of stream s, then its end (HEAD); close s's transport. s is
 * borrowed: the caller frees it. */
void answer_stream_head(struct stream *s, const struct config *cfg);

/* The stats endpoint: this process's counters (head: headers only),
 * refused[i] requests refused with stats_statuses[i]; close tr. */
void answer_stats(const struct transport *tr, const struct hub_stats *st,
    const unsigned long refused[STATS_STATUSES], int head);

#endif
