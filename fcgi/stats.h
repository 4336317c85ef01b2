/* SPDX-License-Identifier: BSD-2-Clause */
/* The stats endpoint's text: Prometheus exposition format, pure. */
#ifndef FCGI_STATS_H
#define FCGI_STATS_H

#include "buf.h"
#include "hub.h"
#include "mustcheck.h"

/* HTTP statuses counted for refused requests, in this order. */
#define STATS_STATUSES 7
extern const int stats_statuses[STATS_STATUSES];	/* 400 ... 503, 0 */

/* Index of status in stats_statuses (the last slot counts the rest). */
int stats_status_index(int status);

/*
 * Append the metrics (text format 0.0.4) for one process to b: its
 * streams, events, bytes, heartbeats, watcher wake-ups and reads, the
 * newest id, and refused requests by status (refused[i] for
 * stats_statuses[i]). Returns 0 or -1 when b is full.
 */
int stats_format(struct buf *b, const struct hub_stats *st,
    const unsigned long refused[STATS_STATUSES], long pid) MUSTCHECK;

#endif
