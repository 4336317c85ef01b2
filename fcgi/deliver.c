/* SPDX-License-Identifier: BSD-2-Clause */
/* Rows to streams: live fan-out of new rows, and each stream's backlog. */
#include "deliver.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "resume.h"
#include "sse.h"

#define DELIVER_LIVE_BATCH 512		/* rows per live read */
#define DELIVER_CATCHUP_BATCH 256	/* rows per stream read */
#define DELIVER_SCRATCH_KEEP (1024 * 1024) /* larger: freed after use */

void
deliver_init(struct deliver *d, struct registry *reg,
    struct counters *counters)
{
	buf_init(&d->scratch, DELIVER_ROW_MAX);
	d->cursor = 0;
	d->cursor_known = 0;
	d->pruned = 0;
	d->counters = counters;
	d->reg = reg;
	d->on_row = NULL;
	d->on_row_ctx = NULL;
}

void
deliver_free(struct deliver *d)
{
	buf_free(&d->scratch);
}

void
deliver_forget_cursor(struct deliver *d)
{
	d->cursor_known = 0;
}

/* After a big row, give the memory back: the process stays small. */
static void
deliver_shrink(struct deliver *d)
{
	if (d->scratch.size > DELIVER_SCRATCH_KEEP)
		buf_free(&d->scratch);
}

/*
 * The most bytes a row can take on the wire without counting them: every
 * byte of data at worst a line of its own ("data: " and "\n"), plus the
 * id, event and blank lines. Rows under DELIVER_ROW_MAX by this bound,
 * nearly all of them, are framed without a counting pass first.
 */
static int
deliver_may_be_too_large(const struct outbox_row *row)
{
	size_t bound = DELIVER_ROW_MAX / 8 - 64;

	return row->data_len > bound || row->event_len > bound ||
	    row->data_len + row->event_len > bound;
}

/*
 * Frame row into the scratch buffer once; the same bytes go to every
 * stream it is for. A row too large for the wire becomes a "skipped"
 * event carrying its id, and the log says so. -1 only when memory ran
 * out.
 */
static int
deliver_frame(struct deliver *d, const struct outbox_row *row)
{
	size_t size = 0;
	int cleaned = 0;
	char data[128];

	buf_reset(&d->scratch);
	if (deliver_may_be_too_large(row))
		size = sse_event_size(row->id, row->event, row->event_len,
		    row->data, row->data_len);
	if (size > DELIVER_ROW_MAX) {
		log_warnx("row %lld is %zu bytes as an event, over the limit "
		    "of %d: streams get a \"skipped\" event with its id "
		    "instead", row->id, size, DELIVER_ROW_MAX);
		snprintf(data, sizeof(data), "{\"reason\":\"too-large\","
		    "\"bytes\":%zu,\"limit\":%d}", size, DELIVER_ROW_MAX);
		return sse_append_event(&d->scratch, row->id, "skipped", 7,
		    data, strlen(data), NULL);
	}
	if (sse_append_event(&d->scratch, row->id, row->event,
	    row->event_len, row->data, row->data_len, &cleaned) == -1)
		return -1;
	if (cleaned)
		log_warnx("row %lld: CR, LF or NUL dropped from its event "
		    "name", row->id);
	return 0;
}

/* The framed row reaches s: its bytes, its id, its place in line. */
static void
deliver_give(struct deliver *d, struct stream *s, long long id, double now)
{
	if (stream_take(s, d->scratch.data, d->scratch.len, id) == -1) {
		log_warnx("req=%lu user=%s out of memory for row %lld; "
		    "ending the stream (the client resumes)", s->serial,
		    stream_user_for_log(s->user, s->user_len), id);
		registry_kill(d->reg, s, "out of memory");
		return;
	}
	counters_add(&d->counters->events, 1);
	registry_touch(d->reg, s, now);
	registry_mark_dirty(d->reg, s);
}

struct deliver_live_walk {
	struct deliver *d;
	long long id;
	double now;
};

/* A live row reaches a stream that is up to date with the cursor. */
static void
deliver_live_one(void *ctx, struct stream *s)
{
	struct deliver_live_walk *w = ctx;

	if (!s->synced || s->ending || w->id <= s->last_id)
		return;
	deliver_give(w->d, s, w->id, w->now);
	/* A slow reader stops taking live rows; it reads its own later. */
	if (s->wire.len > STREAM_WIRE_HIGH)
		s->synced = 0;
}

/* Call fn for each live stream row is for, by the store's one rule. */
static void
deliver_each_recipient(struct deliver *d, const struct outbox_row *row,
    void (*fn)(void *ctx, struct stream *s), void *ctx)
{
	switch (row->to) {
	case OUTBOX_TO_ALL:
		registry_each(d->reg, fn, ctx);
		break;
	case OUTBOX_TO_KEY:
		registry_each_for_key(d->reg, row->user_id, row->user_len, fn,
		    ctx);
		break;
	case OUTBOX_TO_NOBODY:
		break;
	}
}

/* s missed a live row: it reads it in its catch-up instead. */
static void
deliver_mark_behind(void *ctx, struct stream *s)
{
	struct deliver *d = ctx;

	s->synced = 0;
	registry_mark_catchup(d->reg, s);
}

static int
deliver_on_live_row(void *ctx, const struct outbox_row *row)
{
	struct deliver_live_walk *w = ctx;
	struct deliver *d = w->d;

	w->id = row->id;
	if (d->on_row)
		d->on_row(d->on_row_ctx, row);
	if (registry_count(d->reg) > 0) {
		if (deliver_frame(d, row) == -1) {
			/* Not one stream could take it: each reads it in
			 * its catch-up, where memory may be found. */
			log_warnx("row %lld: out of memory framing it; the "
			    "streams it is for read it again", row->id);
			deliver_each_recipient(d, row, deliver_mark_behind,
			    d);
		} else {
			deliver_each_recipient(d, row, deliver_live_one, w);
		}
		deliver_shrink(d);
	}
	d->cursor = row->id;
	atomic_store_explicit(&d->counters->newest_id, row->id,
	    memory_order_relaxed);
	return 0;
}

int
deliver_row(struct deliver *d, const struct outbox_row *row, double now)
{
	struct deliver_live_walk w = { d, 0, now };

	if (row->id <= d->cursor)
		return 0;	/* had it */
	return deliver_on_live_row(&w, row);
}

void
deliver_advance(struct deliver *d, long long cursor)
{
	if (cursor <= d->cursor)
		return;
	d->cursor = cursor;
	atomic_store(&d->counters->newest_id, cursor);
}

void
deliver_move_cursor(struct deliver *d, long long cursor)
{
	d->cursor = cursor;
	d->cursor_known = 1;
	atomic_store(&d->counters->newest_id, cursor);
	registry_each(d->reg, deliver_mark_behind, d);
}

static enum deliver_result
deliver_learn_cursor(struct deliver *d, struct outbox *ob, char *err,
    size_t errlen)
{
	int rc;

	if (d->cursor_known)
		return DELIVER_DONE;
	rc = outbox_max_id(ob, &d->cursor, err, errlen);
	if (rc == OUTBOX_AGAIN)
		return DELIVER_AGAIN;
	if (rc != 0)
		return DELIVER_FAILED;
	d->cursor_known = 1;
	atomic_store(&d->counters->newest_id, d->cursor);
	return DELIVER_DONE;
}

enum deliver_result
deliver_live(struct deliver *d, struct outbox *ob, double now, char *err,
    size_t errlen)
{
	struct deliver_live_walk w = { d, 0, now };
	enum deliver_result r;
	int count = 0;
	int rc;

	r = deliver_learn_cursor(d, ob, err, errlen);
	if (r != DELIVER_DONE)
		return r;
	counters_add(&d->counters->reads, 1);
	rc = outbox_fetch_all(ob, d->cursor, DELIVER_LIVE_BATCH,
	    deliver_on_live_row, &w, &count, err, errlen);
	if (rc == OUTBOX_AGAIN)
		return DELIVER_AGAIN;
	if (rc != 0)
		return DELIVER_FAILED;
	return count == DELIVER_LIVE_BATCH ? DELIVER_MORE : DELIVER_DONE;
}

enum deliver_result
deliver_read_pruned(struct deliver *d, struct outbox *ob, char *err,
    size_t errlen)
{
	long long high;
	int rc = outbox_history(ob, &high, &d->pruned, err, errlen);

	if (rc == OUTBOX_AGAIN)
		return DELIVER_AGAIN;
	return rc == 0 ? DELIVER_DONE : DELIVER_FAILED;
}

struct deliver_backlog_walk {
	struct deliver *d;
	struct stream *s;
	double now;
	int stopped;		/* the batch stopped before its last row */
};

static int
deliver_on_backlog_row(void *ctx, const struct outbox_row *row)
{
	struct deliver_backlog_walk *w = ctx;
	struct stream *s = w->s;

	if (deliver_frame(w->d, row) == -1) {
		log_warnx("req=%lu row %lld: out of memory framing it; "
		    "ending the stream (the client resumes)", s->serial,
		    row->id);
		registry_kill(w->d->reg, s, "out of memory");
		w->stopped = 1;
		return -1;
	}
	deliver_give(w->d, s, row->id, w->now);
	deliver_shrink(w->d);
	/* Big rows: stop at the high-water mark, go on once written. */
	if (s->dead || s->wire.len > STREAM_WIRE_HIGH) {
		w->stopped = 1;
		return -1;
	}
	return 0;
}

/*
 * A stream that is behind may fall below what `sse-outbox prune` deleted
 * while it waits: it gets a reset event, as a reconnect would, rather
 * than a silent gap.
 */
static void
deliver_check_pruned(struct deliver *d, struct stream *s)
{
	char data[RESUME_DATA_LEN];

	if (!resume_check_pruned(s->last_id, d->pruned, data, sizeof(data)))
		return;
	log_info("req=%lu fell behind pruned id %lld: sending reset",
	    s->serial, d->pruned);
	if (stream_take_reset(s, data, d->pruned) == -1) {
		log_warnx("req=%lu out of memory for a reset event; ending "
		    "the stream (the client resumes)", s->serial);
		registry_kill(d->reg, s, "out of memory");
		return;
	}
	registry_mark_dirty(d->reg, s);
}

enum deliver_result
deliver_catch_up(struct deliver *d, struct outbox *ob, struct stream *s,
    double now, char *err, size_t errlen)
{
	struct deliver_backlog_walk w = { d, s, now, 0 };
	int count = 0;
	int rc;

	if (s->dead || s->ending || s->synced)
		return DELIVER_DONE;
	if (s->wire.len > STREAM_WIRE_HIGH)
		return DELIVER_DONE;	/* resumes when the wire drains */
	deliver_check_pruned(d, s);
	if (s->dead)
		return DELIVER_DONE;
	rc = outbox_fetch_for(ob, (const char *const *)s->keys, s->key_lens,
	    s->nkeys, s->last_id, d->cursor, DELIVER_CATCHUP_BATCH,
	    deliver_on_backlog_row, &w, &count, err, errlen);
	if (rc == OUTBOX_AGAIN)
		return DELIVER_AGAIN;
	if (rc != 0)
		return DELIVER_FAILED;
	if (s->dead || w.stopped)
		return DELIVER_DONE;	/* the flush resumes it once written */
	if (count < DELIVER_CATCHUP_BATCH)
		s->synced = 1;
	else
		registry_mark_catchup(d->reg, s);
	return DELIVER_DONE;
}
