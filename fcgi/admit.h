/* SPDX-License-Identifier: BSD-2-Clause */
/* Admission: whether a request becomes a stream, and every refusal. */
#ifndef FCGI_ADMIT_H
#define FCGI_ADMIT_H

#include <stdatomic.h>
#include <stddef.h>

#include "config.h"
#include "hub.h"
#include "outbox.h"
#include "request.h"
#include "stats.h"
#include "transport.h"

/* Shared by every thread that admits requests; lives as long as they do. */
struct admit {
	const struct config *cfg;	/* borrowed */
	struct hub *hub;		/* borrowed */
	long max_streams;		/* SSE_MAX_STREAMS, or lower to fit
					 * RLIMIT_NOFILE */
	atomic_ulong serial;		/* request numbers for logs */
	atomic_ulong refused[STATS_STATUSES];	/* by stats_statuses */
	atomic_int probing;		/* one probe at a time: it holds a
					 * thread for about 1.2 s */
	atomic_int fd_short;		/* out of descriptors: logged once an
					 * episode */
	atomic_int stopped;		/* the hub stopped: refuse with 503 */
	int keep_store;			/* keep the database connection between
					 * requests (FastCGI); CGI closes it */
};

/* Set up a: cfg and hub are borrowed and must outlive it. */
void admit_init(struct admit *a, const struct config *cfg, struct hub *hub,
    long max_streams);

/* From now on refuse every request with 503 (the hub has stopped). */
void admit_stop(struct admit *a);

/*
 * One request, FastCGI or CGI alike: answer the stats, a probe, HEAD or
 * a refusal here, or turn it into a stream for the hub. r is borrowed;
 * tr's connection is taken. padding: size of the opening comment (CGI).
 * Returns 1 when a stream went to the hub, 0 when answered here.
 */
int admit_request(struct admit *a, const struct request *r,
    const struct transport *tr, size_t padding);

#endif
