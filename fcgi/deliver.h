/* SPDX-License-Identifier: BSD-2-Clause */
/* Rows to streams: live fan-out of new rows, and each stream's backlog. */
#ifndef FCGI_DELIVER_H
#define FCGI_DELIVER_H

#include <stddef.h>

#include "buf.h"
#include "counters.h"
#include "outbox.h"
#include "registry.h"

/*
 * A row whose event takes more than this on the wire is not sent: the
 * stream gets a "skipped" event with the row's id instead (so that the
 * client's Last-Event-ID moves past it and a reconnect does not fetch it
 * again), and the log says which row. The same on the live and the
 * catch-up path.
 */
#define DELIVER_ROW_MAX (64 * 1024 * 1024)

enum deliver_result {
	DELIVER_FAILED = -1,	/* err says why: drop the connection */
	DELIVER_DONE = 0,
	DELIVER_MORE = 1,	/* more rows wait: call again after other work */
	DELIVER_AGAIN = 2,	/* the store was busy: call again soon */
};

struct deliver {
	struct buf scratch;	/* one event, framed once for all streams */
	long long cursor;	/* highest id the live path has read */
	int cursor_known;
	long long pruned;	/* prune's mark, read once a turn */
	struct counters *counters;
	struct registry *reg;
	/* Told of every row the live read passes; NULL: nobody. */
	void (*on_row)(void *ctx, const struct outbox_row *row);
	void *on_row_ctx;
};

void deliver_init(struct deliver *d, struct registry *reg,
    struct counters *counters);
void deliver_free(struct deliver *d);

/* The store was reopened: learn the cursor again before reading. */
void deliver_forget_cursor(struct deliver *d);

/*
 * Rows up to cursor are committed (another process read them): the live
 * cursor is cursor from here on, and every stream reads its own rows up
 * to it in its catch-up.
 */
void deliver_move_cursor(struct deliver *d, long long cursor);

/*
 * A row another process read (the host-wide reader's ring), given as the
 * live read would: to each up-to-date stream it is for, by this
 * process's own comparison of its recipient with the streams' keys.
 * Rows at or below the cursor are ignored. Returns 0.
 */
int deliver_row(struct deliver *d, const struct outbox_row *row, double now);

/* Every row up to cursor was given (deliver_row) or was for nobody
 * here: the live cursor moves there, no stream falls behind. */
void deliver_advance(struct deliver *d, long long cursor);

/*
 * Read the rows committed after the cursor (at most one batch) and give
 * each to the streams it is for that are up to date; the others read it
 * in their catch-up.
 */
enum deliver_result deliver_live(struct deliver *d, struct outbox *ob, double now,
    char *err, size_t errlen);

/* Before a turn's catch-up batches: how far prune went. */
enum deliver_result deliver_read_pruned(struct deliver *d, struct outbox *ob, char *err,
    size_t errlen);

/*
 * One batch of s's own rows after its last id, up to the live cursor.
 * DELIVER_DONE: s is up to date, waits for its wire to drain, or is back
 * on the catch-up list for its next batch.
 */
enum deliver_result deliver_catch_up(struct deliver *d, struct outbox *ob, struct stream *s,
    double now, char *err, size_t errlen);

#endif
