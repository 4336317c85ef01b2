/* SPDX-License-Identifier: BSD-2-Clause */
/* One process's event loop: adopts streams, runs each turn, shuts down. */
#ifndef FCGI_HUB_H
#define FCGI_HUB_H

#include <stddef.h>

#include "config.h"
#include "stream.h"

struct hub;
struct outbox;

/*
 * Make the hub for one process: its own database connection, the change
 * watcher (inotify, or a data_version poll when that fails) and an epoll
 * set. host_wide: the process serves one stream at a time (CGI,
 * mod_fcgid), so it shares one reader of the database with the other
 * processes of the host (changes_host.c) when it can. cfg is borrowed
 * and must outlive the hub. NULL with err on failure.
 */
struct hub *hub_new(const struct config *cfg, int host_wide, char *err,
    size_t errlen);
void hub_free(struct hub *hub);

/*
 * Hand an accepted stream to the hub (thread-safe). The hub frames its
 * head (with s->padding), replays its rows, and owns it from here on.
 */
void hub_submit(struct hub *hub, struct stream *s);

/*
 * Run the loop until hub_shutdown was called and every stream ended; with
 * until_idle, also return once the last stream ended (CGI: one stream).
 * 0, or -1 when the loop itself failed (logged): the process must not
 * say it stopped cleanly.
 */
int hub_run(struct hub *hub, int until_idle);

/* Ask every stream to end cleanly, then hub_run returns.
 * Async-signal-safe. */
void hub_shutdown(struct hub *hub);

/*
 * Count s against its user's SSE_MAX_PER_USER (max, 0 = no limit) before
 * submitting it. Returns 0, or -1 when the user already holds max streams
 * in this process. The hub forgets s when it ends. Thread-safe.
 */
int hub_claim_user(struct hub *hub, struct stream *s, long max);
/* Forget a claimed stream that was never submitted. */
void hub_unclaim_user(struct hub *hub, struct stream *s);

/*
 * Admission's database connection (conn.h: conn_admit_acquire), locked
 * until hub_admit_store_done; NULL with err (and errno EMFILE or ENFILE
 * when descriptors ran out) when the database cannot be opened. For
 * accepting threads (and CGI before the loop runs).
 */
struct outbox *hub_admit_store(struct hub *hub, char *err, size_t errlen);
void hub_admit_store_done(struct hub *hub, int close_it);

/* What the stats endpoint reports; counters since the process started. */
struct hub_stats {
	long open_streams;
	unsigned long streams_total;	/* streams adopted */
	unsigned long events;		/* rows framed for a stream */
	unsigned long bytes;		/* bytes written to streams */
	unsigned long heartbeats;
	unsigned long wakeups;		/* change notifications handled */
	unsigned long reads;		/* watcher reads of new rows */
	long long newest_id;		/* the watcher's cursor */
};
void hub_get_stats(struct hub *hub, struct hub_stats *st);

/* Streams alive now (accepted and not yet ended), for SSE_MAX_STREAMS. */
long hub_reserve_slot(struct hub *hub);	/* returns count after reserving */
void hub_release_slot(struct hub *hub);

#endif
