/* SPDX-License-Identifier: BSD-2-Clause */
/* The text/event-stream wire format: pure functions, no I/O. */
#ifndef FCGI_SSE_H
#define FCGI_SSE_H

#include <stddef.h>

#include "buf.h"

/*
 * Append one event to b: "id: <id>", "event: <name>" when name is non-NULL
 * and non-empty after cleaning, one "data: <piece>" line per piece of data
 * split at CR LF, CR and LF (empty pieces included), then a blank line.
 * CR, LF and NUL are dropped from the name; *name_cleaned (if not NULL)
 * tells whether any were. A negative id sends no "id:" line (for events
 * outside the outbox, which must not move the client's Last-Event-ID).
 * Borrowed arguments; returns 0, or -1 when b's cap is reached (b->failed
 * is then set).
 */
int sse_append_event(struct buf *b, long long id, const char *name,
    size_t name_len, const char *data, size_t data_len, int *name_cleaned);

/*
 * The exact number of bytes sse_append_event appends for these arguments,
 * without building them: to refuse an over-large row before any memory
 * is spent on it.
 */
size_t sse_event_size(long long id, const char *name, size_t name_len,
    const char *data, size_t data_len);

/* Append "retry: <ms>" and a blank line. */
int sse_append_retry(struct buf *b, long ms);

/* Append a comment made of n spaces (to push past buffering proxies). */
int sse_append_padding(struct buf *b, size_t n);

#endif
