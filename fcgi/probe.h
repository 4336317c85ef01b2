/* SPDX-License-Identifier: BSD-2-Clause */
/* The diagnostic stream `sse-outbox doctor` asks for (GET ...?probe=1). */
#ifndef FCGI_PROBE_H
#define FCGI_PROBE_H

#include <stddef.h>

#include "config.h"
#include "transport.h"

#define PROBE_EVENTS 5		/* events in a probe stream */
#define PROBE_SPACING_MS 300	/* between two probe events */

/*
 * Answer a probe on a blocking transport: the stream's headers and
 * retry:, then PROBE_EVENTS events "probe" PROBE_SPACING_MS apart, each
 * without an id (a probe never moves a client's Last-Event-ID) and with
 * data {"n":N,"of":5,"spacing_ms":300}, then the end of the response.
 * Whoever reads them can tell a streaming path (events spaced) from a
 * buffering one (all at once at the end). With head (a HEAD request):
 * the same head, at once, and no body. Returns 0, or -1 when the client
 * went away.
 */
int probe_run(const struct transport *tr, const struct config *cfg,
    size_t padding, int head);

#endif
