/* SPDX-License-Identifier: BSD-2-Clause */
/* One process's event loop: adopts streams, runs each turn, shuts down. */
#include "hub.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "beat.h"
#include "changes.h"
#include "conn.h"
#include "counters.h"
#include "deliver.h"
#include "log.h"
#include "loop.h"
#include "outbox.h"
#include "quota.h"
#include "registry.h"

/*
 * Stream deadlines (SSE_MAX_STREAM, an ending stream's grace) are met by
 * a walk of every stream when the earliest falls due, at most once per
 * HUB_SWEEP (HUB_SWEEP_FINE with SSE_MAX_STREAM, whose jitter spreads
 * thousands of deadlines: the spread must survive). A walk on a fixed
 * period instead woke every mod_fcgid process 20 times a second with
 * nothing due.
 */
#define HUB_SWEEP 1.0
#define HUB_SWEEP_FINE 0.05
#define HUB_END_GRACE 10.0	/* an ending stream may drain this long */
#define HUB_BUSY_RETRY 0.002	/* the store was busy: try again after */
#define HUB_RECONNECT 1.0	/* its server went away: read again after */
/*
 * A process whose rows another process reads (changes_holds_rows) closes
 * its database connection once it has not used it for REST seconds: it
 * needs it only to catch a stream up. Open, the connection keeps memory
 * and a lock on SQLite's -shm that every lock call of every process on
 * that file walks past (a thousand of them made each call ~10 us).
 */
#define HUB_REST 1.0
/*
 * Heartbeats fall due together for streams that opened or took a
 * broadcast together: thousands in one turn, whose writes a row then
 * queues behind, here and in the web server. They go out in batches
 * instead, one batch per TICK at most, sized so that all the streams
 * together would take at most SPREAD (a quarter of the interval when
 * that is shorter). Smaller batches more often cost more wake-ups here
 * and in the web server: a 1 ms tick raised idle CPU by a third at
 * 5,000 streams.
 *
 * Streams that opened at different times fall due one by one, and a
 * wake-up, more than the write, is what a heartbeat costs. So they wait
 * for this process's next beat (beat.h: every BEAT_PERIOD, or an eighth
 * of the interval when that is shorter), which the once-a-second look
 * at the database keeps too: a heartbeat is never early and at most a
 * beat + SPREAD late. BATCH_MIN lets a beat's heartbeats go in one
 * wake-up up to 1,400 streams at 15 s (67 a second at 1,000), TURN at a
 * time: between those the loop looks for new rows without sleeping, so
 * a row waits behind at most TURN heartbeats here. At 1,000 idle
 * streams this process went from about 105 wake-ups and 17 ms of CPU
 * every 30 s to 50 and 12 ms.
 */
#define HUB_HB_TICK 0.01
#define HUB_HB_SPREAD 2.0
#define HUB_HB_BATCH_MIN 96
#define HUB_HB_TURN 32
/* Catch-up reads per turn: new rows and writes are never kept waiting
 * behind many streams' backlogs. */
#define HUB_CATCHUP_PER_TURN 64

struct hub {
	const struct config *cfg;
	struct loop *loop;
	struct registry *reg;
	struct quota *quota;
	struct conn *conn;
	struct changes *changes;
	struct deliver deliver;
	struct counters counters;
	struct loop_handler wake_io;
	struct loop_handler changes_io;
	int wake_fd;			/* eventfd: submissions and shutdown */
	volatile sig_atomic_t stop;	/* set by hub_shutdown */
	int stopping;			/* streams were told to end */
	int failed;			/* the loop cannot wait any more */

	pthread_mutex_t lock;		/* guards submitted */
	struct stream *submitted;	/* from acceptor threads */

	int read_now;			/* read new rows this turn */
	int look_now;			/* read them if the version moved */
	int verify_now;			/* check the file is still ours */
	double retry_at;		/* the store was busy: retry then */
	int disconnected;		/* its server is away (logged once) */
	long long data_version;
	double store_used;		/* last turn that used the store */
	double next_sweep;
	size_t deadlines;		/* streams with an end_at */
	double hb_next;			/* next heartbeat batch; 0 = any time */
	double hb_tick_end;		/* this tick's batch ... */
	size_t hb_tick_left;		/* ... has this many left */
	double hb_wave;			/* heartbeats go out on a grid ... */
	double hb_phase;		/* ... of this period and offset */
};

/* ---- ending streams ---- */

/* The registry frees a stream here, once no walk or list holds it. */
static void
hub_release(void *ctx, struct stream *s)
{
	struct hub *hub = ctx;

	log_debug("req=%lu user=%s stream closed: %s", s->serial,
	    stream_user_for_log(s->user, s->user_len), s->dead_why);
	if (s->tr.fd >= 0) {
		loop_del(hub->loop, s->tr.fd);
		transport_close(&s->tr);
	}
	changes_follow(hub->changes, (const char *const *)s->keys,
	    s->key_lens, s->nkeys, 0);
	if (s->end_at != 0)
		hub->deadlines--;
	quota_unclaim_user(hub->quota, s);
	quota_release_slot(hub->quota);
	stream_free(s);
}

/* s must be gone by t; the sweep looks only while some stream must. */
static void
hub_set_deadline(struct hub *hub, struct stream *s, double t)
{
	if (hub->deadlines == 0 || t < hub->next_sweep)
		hub->next_sweep = t;
	if (s->end_at == 0)
		hub->deadlines++;
	s->end_at = t;
}

static void
hub_end_stream(struct hub *hub, struct stream *s, const char *why)
{
	if (s->ending || s->dead)
		return;
	log_debug("req=%lu ending stream: %s", s->serial, why);
	if (stream_frame_end(s) == -1) {
		log_warnx("req=%lu out of memory ending the stream; closing "
		    "it", s->serial);
		registry_kill(hub->reg, s, "out of memory");
		return;
	}
	hub_set_deadline(hub, s, loop_now() + HUB_END_GRACE);
	registry_mark_dirty(hub->reg, s);
}

struct hub_end_walk {
	struct hub *hub;
	const char *why;
};

static void
hub_end_one(void *ctx, struct stream *s)
{
	struct hub_end_walk *w = ctx;

	hub_end_stream(w->hub, s, w->why);
}

static void
hub_end_all(struct hub *hub, const char *why)
{
	struct hub_end_walk w = { hub, why };

	registry_each(hub->reg, hub_end_one, &w);
}

/* ---- writing ---- */

/*
 * What tells that the peer left. FastCGI: the web server half-closes the
 * connection when its client leaves. CGI: no RDHUP, because Apache's
 * mod_cgid hands the script one socket as stdin and stdout and
 * half-closes it once the request is sent; a real close still raises
 * EPOLLHUP or EPOLLERR, which epoll always reports.
 */
static uint32_t
hub_hangup_events(const struct stream *s)
{
	return s->tr.fastcgi ? EPOLLRDHUP : 0;
}

static void
hub_set_want_out(struct hub *hub, struct stream *s, int want)
{
	if (s->want_out == want || s->dead)
		return;
	if (loop_mod(hub->loop, s->tr.fd, hub_hangup_events(s) |
	    (want ? EPOLLOUT : 0), &s->io) == 0)
		s->want_out = want;
}

/* Write what the stream has; decide what comes next for it. */
static void
hub_flush(struct hub *hub, struct stream *s)
{
	size_t before = s->wire.len;
	enum stream_write_result r;

	if (s->dead)
		return;
	r = stream_write(s);
	counters_add(&hub->counters.bytes, before - s->wire.len);
	if (r == STREAM_GONE) {
		registry_kill(hub->reg, s, "client went away");
		return;
	}
	if (r == STREAM_BLOCKED) {
		hub_set_want_out(hub, s, 1);
		return;
	}
	hub_set_want_out(hub, s, 0);
	if (s->ending)
		registry_kill(hub->reg, s, "ended");
	else if (!s->synced)
		registry_mark_catchup(hub->reg, s);
}

/* epoll reports the stream's connection. */
static void
hub_on_stream_io(struct loop_handler *h, uint32_t events)
{
	struct stream *s = (struct stream *)((char *)h -
	    offsetof(struct stream, io));
	struct hub *hub = h->ctx;

	if (s->dead)
		return;
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		/*
		 * The server half-closed the connection (its client left).
		 * Ending the response properly, not just closing, spares the
		 * server an "unexpected end-of-file" error in its log.
		 */
		if (!(events & (EPOLLHUP | EPOLLERR)) && !s->ending &&
		    stream_frame_end(s) == 0)
			(void)stream_write(s);
		registry_kill(hub->reg, s, "client went away");
		return;
	}
	if (events & EPOLLOUT)
		hub_flush(hub, s);
}

/* ---- the store ---- */

/* Drop the connection and end every stream: clients resume elsewhere
 * or later from their own Last-Event-ID. */
static void
hub_store_failed(struct hub *hub, const char *err, const char *why)
{
	log_warnx("%s; ending streams so clients resume", err);
	conn_drop(hub->conn);
	deliver_forget_cursor(&hub->deliver);
	hub_end_all(hub, why);
}

/* The file was replaced or removed: read the one there now, from the
 * start; every stream ends so that its client resumes. */
static void
hub_store_replaced(struct hub *hub)
{
	char name[512];

	outbox_describe(hub->cfg->db, name, sizeof(name));	/* no password */
	log_warnx("database %s was replaced or removed; ending streams so "
	    "clients resume", name);
	conn_drop(hub->conn);
	conn_retry_now(hub->conn);
	deliver_forget_cursor(&hub->deliver);
	hub_end_all(hub, "database replaced");
}

/* The change source knows where the live cursor is (another process
 * read the rows before it): move it there. */
static void
hub_move_cursor(struct hub *hub)
{
	long long cursor;

	if (changes_cursor(hub->changes, &cursor) == 0)
		deliver_move_cursor(&hub->deliver, cursor);
}

/* A row another process read, taken from the change source. */
static int
hub_take_row(void *ctx, const struct outbox_row *row)
{
	struct hub *hub = ctx;

	return deliver_row(&hub->deliver, row, loop_now());
}

/*
 * Another process read new rows and holds them for us: give them to the
 * streams that are up to date, without a read of our own. When it
 * cannot give them all, streams read their own rows up to its cursor.
 */
static void
hub_take_rows(struct hub *hub)
{
	long long upto;

	if (!hub->deliver.cursor_known)
		return;		/* learnt when the store opens */
	if (changes_rows(hub->changes, hub->deliver.cursor, hub_take_row, hub,
	    &upto) == 0) {
		deliver_advance(&hub->deliver, upto);
		return;
	}
	hub_move_cursor(hub);
}

/* The open store, or NULL while it is down. */
static struct outbox *
hub_store(struct hub *hub, double now)
{
	int fresh = 0;
	struct outbox *ob = conn_get(hub->conn, now, &fresh);

	if (ob && fresh) {
		deliver_forget_cursor(&hub->deliver);
		hub_move_cursor(hub);
		(void)outbox_data_version(ob, &hub->data_version);
		hub->read_now = 1;	/* rows may have come meanwhile */
	}
	return ob;
}

/*
 * A read failed because the store's server went away (a PostgreSQL
 * restart or failover; outbox_disconnected): nothing was read and every
 * position is still valid, so streams stay open, heartbeats go on, and
 * the read is tried again later on the same handle, which connects
 * again. Rows committed meanwhile are read then, from the positions.
 * Returns 0 when the failure was something else.
 */
static int
hub_store_disconnected(struct hub *hub, struct outbox *ob, const char *err,
    double now)
{
	if (!outbox_disconnected(ob))
		return 0;
	if (!hub->disconnected)
		log_warnx("%s; streams stay open, reading again every %.0f s",
		    err, HUB_RECONNECT);
	hub->disconnected = 1;
	hub->retry_at = now + HUB_RECONNECT;
	return 1;
}

/*
 * The server is readable again after hub_store_disconnected. A failover
 * to a replica that had not received the newest commits comes back with
 * a history that ends below what streams were already sent: positions
 * above it would skip the ids given anew, so every stream ends and its
 * client resumes (and is told "reset" if its id is unknown there).
 */
static void
hub_store_reconnected(struct hub *hub, struct outbox *ob)
{
	char err[OUTBOX_ERR_LEN];
	long long high;
	long long pruned;

	if (!hub->disconnected)
		return;
	hub->disconnected = 0;
	if (hub->deliver.cursor_known &&
	    outbox_history(ob, &high, &pruned, err, sizeof(err)) == 0 &&
	    high < hub->deliver.cursor) {
		log_warnx("database readable again, but its ids end at %lld, "
		    "below %lld already sent (a failover lost commits); "
		    "ending streams so clients resume", high,
		    hub->deliver.cursor);
		deliver_forget_cursor(&hub->deliver);
		/* A shared source's other processes end theirs too. */
		changes_read_done(hub->changes, -1);
		hub->read_now = 1;	/* learn it again, for resumed streams */
		hub_end_all(hub, "database history went back");
		return;
	}
	log_info("database readable again; streams go on from where they "
	    "were");
}

/* The store was busy: nothing is lost, the work is tried again. */
static void
hub_store_busy(struct hub *hub, double now)
{
	hub->retry_at = now + HUB_BUSY_RETRY;
}

static void
hub_look(struct hub *hub, struct outbox *ob)
{
	long long v;

	if (hub->verify_now) {
		hub->verify_now = 0;
		if (!outbox_still_current(ob, hub->cfg->db)) {
			hub_store_replaced(hub);
			return;
		}
	}
	/* The version is read before the rows, so a commit landing in
	 * between is seen again next time, never missed. */
	if (outbox_data_version(ob, &v) == -1) {
		hub->read_now = 1;	/* let the read report the error */
		return;
	}
	if (v != hub->data_version) {
		hub->data_version = v;
		hub->read_now = 1;
	}
}

static void
hub_read_new_rows(struct hub *hub, struct outbox *ob, double now)
{
	char err[OUTBOX_ERR_LEN];

	enum deliver_result r = deliver_live(&hub->deliver, ob, now, err,
	    sizeof(err));

	/* Whatever was read is published, even when the read failed. */
	if (hub->deliver.cursor_known)
		changes_read_done(hub->changes, hub->deliver.cursor);
	switch (r) {
	case DELIVER_DONE:
		hub_store_reconnected(hub, ob);
		break;
	case DELIVER_MORE:
		hub_store_reconnected(hub, ob);
		hub->read_now = 1;	/* after other work */
		break;
	case DELIVER_AGAIN:
		hub->read_now = 1;
		hub_store_busy(hub, now);
		break;
	case DELIVER_FAILED:
		if (hub_store_disconnected(hub, ob, err, now))
			hub->read_now = 1;
		else
			hub_store_failed(hub, err, "database error");
		break;
	}
}

/* At most HUB_CATCHUP_PER_TURN backlog reads; the rest wait a turn. */
static void
hub_catch_up(struct hub *hub, struct outbox *ob, double now)
{
	char err[OUTBOX_ERR_LEN];
	struct stream *s;
	int budget = HUB_CATCHUP_PER_TURN;
	enum deliver_result r;

	r = deliver_read_pruned(&hub->deliver, ob, err, sizeof(err));
	if (r == DELIVER_AGAIN) {
		hub_store_busy(hub, now);
		return;
	}
	if (r == DELIVER_FAILED) {
		if (!hub_store_disconnected(hub, ob, err, now))
			hub_store_failed(hub, err, "database error");
		return;
	}
	while (budget-- > 0 && (s = registry_next_catchup(hub->reg))) {
		r = deliver_catch_up(&hub->deliver, ob, s, now, err,
		    sizeof(err));
		if (r == DELIVER_AGAIN) {
			registry_mark_catchup(hub->reg, s);
			hub_store_busy(hub, now);
			return;
		}
		if (r == DELIVER_FAILED &&
		    hub_store_disconnected(hub, ob, err, now)) {
			registry_mark_catchup(hub->reg, s);
			return;
		}
		if (r == DELIVER_FAILED) {
			log_warnx("req=%lu %s; ending the stream so the "
			    "client resumes", s->serial, err);
			hub_end_stream(hub, s, "database error");
		}
	}
}

/* ---- timers ---- */

/* Heartbeats per batch: all streams within the spread, a few at least. */
static size_t
hub_hb_batch(struct hub *hub)
{
	double hb = (double)hub->cfg->heartbeat;
	double spread = hb / 4 < HUB_HB_SPREAD ? hb / 4 : HUB_HB_SPREAD;
	size_t n = (size_t)((double)registry_count(hub->reg) * HUB_HB_TICK /
	    spread) + 1;

	return n < HUB_HB_BATCH_MIN ? HUB_HB_BATCH_MIN : n;
}

/* When the heartbeat of the stream that has been silent longest goes:
 * on the first beat at or after it is due. */
static double
hub_hb_at(const struct hub *hub)
{
	struct stream *oldest = registry_oldest(hub->reg);
	double due;

	if (!oldest)
		return 0;
	due = oldest->last_out + (double)hub->cfg->heartbeat;
	due = beat_at(due, hub->hb_wave, hub->hb_phase);
	return due < hub->hb_next ? hub->hb_next : due;
}

static void
hub_heartbeats(struct hub *hub, double now)
{
	double hb = (double)hub->cfg->heartbeat;
	double at = hub_hb_at(hub);
	size_t turn = HUB_HB_TURN;
	struct stream *s;

	if (at == 0 || now < at)
		return;
	if (now >= hub->hb_tick_end) {
		hub->hb_tick_end = now + HUB_HB_TICK;
		hub->hb_tick_left = hub_hb_batch(hub);
	}
	hub->hb_next = 0;
	while ((s = registry_oldest(hub->reg)) && s->last_out + hb <= now) {
		if (hub->hb_tick_left == 0) {
			hub->hb_next = hub->hb_tick_end;	/* the rest */
			break;
		}
		if (turn-- == 0) {
			hub->hb_next = now;	/* a new row first, if any */
			break;
		}
		hub->hb_tick_left--;
		if (!s->ending && stream_frame(s, ":\n", 2) == -1) {
			log_warnx("req=%lu out of memory for a heartbeat; "
			    "ending the stream", s->serial);
			registry_kill(hub->reg, s, "out of memory");
			continue;
		}
		counters_add(&hub->counters.heartbeats, 1);
		registry_touch(hub->reg, s, now);
		registry_mark_dirty(hub->reg, s);
	}
}

struct hub_sweep_walk {
	struct hub *hub;
	double now;
	double earliest;	/* of the deadlines still ahead */
};

static void
hub_sweep_one(void *ctx, struct stream *s)
{
	struct hub_sweep_walk *w = ctx;

	if (s->end_at != 0 && w->now >= s->end_at) {
		if (s->ending)
			registry_kill(w->hub->reg, s,
			    "client did not take the end");
		else	/* a new deadline: its grace */
			hub_end_stream(w->hub, s, "SSE_MAX_STREAM reached");
	}
	if (!s->dead && s->end_at != 0 && s->end_at < w->earliest)
		w->earliest = s->end_at;
}

static void
hub_sweep(struct hub *hub, double now)
{
	struct hub_sweep_walk w = { hub, now, HUGE_VAL };
	double soonest;

	if (now < hub->next_sweep || hub->deadlines == 0)
		return;
	registry_each(hub->reg, hub_sweep_one, &w);
	soonest = now + (hub->cfg->max_stream > 0 ? HUB_SWEEP_FINE :
	    HUB_SWEEP);
	hub->next_sweep = w.earliest > soonest ? w.earliest : soonest;
}

/* When the store may rest (HUB_REST); 0: not now. */
static double
hub_rest_at(const struct hub *hub)
{
	if (!conn_current(hub->conn) || !changes_holds_rows(hub->changes) ||
	    hub->read_now || hub->look_now || registry_has_catchup(hub->reg))
		return 0;
	return hub->store_used + HUB_REST;
}

static void
hub_rest_store(struct hub *hub, double now)
{
	double at = hub_rest_at(hub);

	if (at > 0 && now >= at) {
		log_debug("rows come from the host's reader: closing the "
		    "database until a stream needs to catch up");
		conn_rest(hub->conn);
		/* Its memory back to the system: the freed pages would
		 * stay the process's own, and there are a thousand of
		 * these processes. */
		(void)malloc_trim(0);
	}
}

/* Seconds until something is due; 0 when work is waiting. */
static double
hub_timeout(struct hub *hub, double now)
{
	double next = changes_deadline(hub->changes);
	double retry = conn_retry_at(hub->conn);
	double rest = hub_rest_at(hub);
	double hb = hub_hb_at(hub);

	if (hub->retry_at > now) {
		/* The store's work waits; heartbeats and commits do not. */
		if (hub->retry_at < next)
			next = hub->retry_at;
	} else if (hub->read_now || hub->look_now ||
	    registry_has_work(hub->reg)) {
		return 0;
	}
	if (hb > 0 && hb < next)
		next = hb;
	if (hub->deadlines > 0 && hub->next_sweep < next)
		next = hub->next_sweep;
	if (rest > 0 && rest < next)
		next = rest;
	/* A stream waits for the store to come back. */
	if (retry > 0 && registry_count(hub->reg) > 0 && retry < next)
		next = retry;
	return next <= now ? 0 : next - now;
}

/* ---- new streams ---- */

static void
hub_adopt(struct hub *hub, struct stream *s, double now)
{
	s->io.fn = hub_on_stream_io;
	s->io.ctx = hub;
	/* Before any read for it; hub_release says it went. */
	changes_follow(hub->changes, (const char *const *)s->keys,
	    s->key_lens, s->nkeys, 1);
	if (hub->cfg->max_stream > 0) {
		/* Up to 10 % early, so streams opened together do not all
		 * reconnect together. */
		double jitter = (double)(random() % 1000) / 10000.0;

		hub_set_deadline(hub, s, now + (double)hub->cfg->max_stream *
		    (1.0 - jitter));
	}
	counters_add(&hub->counters.streams, 1);
	if (registry_add(hub->reg, s, now) == -1) {
		log_warnx("req=%lu out of memory adopting the stream",
		    s->serial);
		s->dead_why = "out of memory";
		hub_release(hub, s);
		return;
	}
	/* stdout may be a regular file in a manual CGI run: not pollable. */
	if (loop_add(hub->loop, s->tr.fd, hub_hangup_events(s), &s->io) == -1
	    && errno != EPERM)
		log_warn("req=%lu epoll_ctl", s->serial);
	log_debug("req=%lu user=%s stream opened after id %lld", s->serial,
	    stream_user_for_log(s->user, s->user_len), s->last_id);
	if (stream_frame_head(s, hub->cfg, s->padding) == -1) {
		log_warnx("req=%lu out of memory for the head", s->serial);
		registry_kill(hub->reg, s, "out of memory");
		return;
	}
	if (hub->stopping) {
		hub_end_stream(hub, s, "shutting down");
		return;
	}
	/* The request's own check just found the database readable. */
	conn_retry_now(hub->conn);
	registry_mark_dirty(hub->reg, s);
	registry_mark_catchup(hub->reg, s);
}

static void
hub_take_submitted(struct hub *hub, double now)
{
	struct stream *list;
	struct stream *rev = NULL;
	uint64_t n;

	if (read(hub->wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("eventfd read");
	pthread_mutex_lock(&hub->lock);
	list = hub->submitted;
	hub->submitted = NULL;
	pthread_mutex_unlock(&hub->lock);
	/* The list is newest first; adopt oldest first. */
	while (list) {
		struct stream *next = list->submit_next;

		list->submit_next = rev;
		rev = list;
		list = next;
	}
	while (rev) {
		struct stream *next = rev->submit_next;

		rev->submit_next = NULL;
		hub_adopt(hub, rev, now);
		rev = next;
	}
}

static void
hub_on_wake(struct loop_handler *h, uint32_t events)
{
	(void)events;
	hub_take_submitted(h->ctx, loop_now());
}

static void
hub_on_changes(struct loop_handler *h, uint32_t events)
{
	struct hub *hub = h->ctx;
	double now = loop_now();
	int due = changes_on_ready(hub->changes, now,
	    registry_count(hub->reg));

	(void)events;
	counters_add(&hub->counters.wakeups, 1);
	if (!(due & CHANGES_REPLACED))
		return;
	/* A producer's last close deletes -wal and -shm; if the files the
	 * connection opened are still the ones there, nothing changed. */
	if (conn_current(hub->conn) &&
	    outbox_still_current(conn_current(hub->conn), hub->cfg->db)) {
		hub->look_now = 1;
		return;
	}
	hub_store_replaced(hub);
}

/* ---- the turn ---- */

/* This turn's reads, in order: the version, new rows, backlogs. */
static void
hub_use_store(struct hub *hub, double now)
{
	struct outbox *ob = hub_store(hub, now);
	struct stream *s;

	if (!ob && conn_busy(hub->conn)) {
		hub_store_busy(hub, now);	/* everything waits a moment */
		return;
	}
	hub->store_used = now;
	if (!ob) {
		/* Not kept for later: a reopened store reads anyway
		 * (hub_store), and kept it would make every turn due at
		 * once until the retry. */
		hub->look_now = 0;
		hub->read_now = 0;
		/* A stream that needs its backlog cannot be served: it
		 * ends, and its client's retry gets a 503 saying why. */
		while ((s = registry_next_catchup(hub->reg)))
			hub_end_stream(hub, s, "database unavailable");
		return;
	}
	if (hub->look_now) {
		hub->look_now = 0;
		hub_look(hub, ob);
		if (!(ob = conn_current(hub->conn)))
			return;
	}
	if (hub->read_now) {
		hub->read_now = 0;
		hub_read_new_rows(hub, ob, now);
		if (!(ob = conn_current(hub->conn)) || now < hub->retry_at)
			return;
	}
	if (hub->deliver.cursor_known && registry_has_catchup(hub->reg))
		hub_catch_up(hub, ob, now);
}

static void
hub_turn(struct hub *hub, double now)
{
	struct stream *s;
	int due = changes_due(hub->changes, now);

	if (due & CHANGES_REPLACED)
		hub_store_replaced(hub);
	if (due & CHANGES_ROWS)
		hub_take_rows(hub);
	if ((due & CHANGES_CURSOR) && hub->deliver.cursor_known)
		hub_move_cursor(hub);
	if (due & CHANGES_READ)
		hub->read_now = 1;
	if (due & CHANGES_LOOK)
		hub->look_now = 1;
	if (due & CHANGES_VERIFY)
		hub->verify_now = 1;
	if (now < hub->retry_at)
		;	/* the store was busy a moment ago */
	else if (hub->read_now || hub->look_now ||
	    registry_has_catchup(hub->reg))
		hub_use_store(hub, now);
	hub_heartbeats(hub, now);
	hub_sweep(hub, now);
	while ((s = registry_next_dirty(hub->reg)))
		hub_flush(hub, s);
	registry_reap(hub->reg, hub_release, hub);
	hub_rest_store(hub, now);
}

/* ---- life ---- */

/* The live read passed a row: a shared source wakes whom it is for. */
static void
hub_saw_row(void *ctx, const struct outbox_row *row)
{
	struct hub *hub = ctx;

	changes_saw_row(hub->changes, row);
}

/* The per-process source, or the host-wide one when asked and usable. */
static struct changes *
hub_open_changes(const struct config *cfg, int host_wide, char *why,
    size_t whylen)
{
	struct changes *c;

	/* The shared file lives beside an SQLite database, or in a place
	 * of our own for a PostgreSQL URI (hostmap_place.c): one LISTEN
	 * connection per host. */
	if (host_wide) {
		c = changes_host_open(cfg->db, why, whylen);
		if (c)
			return c;
		log_warnx("host-wide change reader unavailable (%s); this "
		    "process watches the database itself", why);
	}
	return changes_open(cfg->db, why, whylen);
}

struct hub *
hub_new(const struct config *cfg, int host_wide, char *err, size_t errlen)
{
	struct hub *hub = calloc(1, sizeof(*hub));
	char why[256];

	if (!hub) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	hub->cfg = cfg;
	hub->wake_fd = -1;
	hub->hb_wave = (double)cfg->heartbeat / 8 < BEAT_PERIOD ?
	    (double)cfg->heartbeat / 8 : BEAT_PERIOD;
	hub->hb_phase = beat_phase(getpid()) * hub->hb_wave;

	pthread_mutex_init(&hub->lock, NULL);
	hub->loop = loop_new(err, errlen);
	if (!hub->loop)
		goto out;
	hub->reg = registry_new();
	hub->quota = quota_new();
	hub->conn = conn_new(cfg->db);
	hub->changes = hub_open_changes(cfg, host_wide, why, sizeof(why));
	hub->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!hub->reg || !hub->quota || !hub->conn || !hub->changes) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	deliver_init(&hub->deliver, hub->reg, &hub->counters);
	hub->deliver.on_row = hub_saw_row;
	hub->deliver.on_row_ctx = hub;
	hub->wake_io.fn = hub_on_wake;
	hub->wake_io.ctx = hub;
	hub->changes_io.fn = hub_on_changes;
	hub->changes_io.ctx = hub;
	if (hub->wake_fd < 0 ||
	    loop_add(hub->loop, hub->wake_fd, EPOLLIN, &hub->wake_io) == -1) {
		snprintf(err, errlen, "cannot set up the event loop: %s",
		    strerror(errno));
		goto out;
	}
	if (changes_fd(hub->changes) >= 0 &&
	    loop_add(hub->loop, changes_fd(hub->changes), EPOLLIN,
	    &hub->changes_io) == -1) {
		snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
		goto out;
	}
	if (why[0])
		log_warnx("change watcher unavailable (%s); polling the "
		    "database instead", why);
	/*
	 * The loop opens its connection on its first turn that reads, as
	 * after an outage (hub_store). Under CGI that is after admission
	 * closed its own: a one-stream process never holds two at once
	 * (docs/performance.md).
	 */
	return hub;
out:
	hub_free(hub);
	return NULL;
}

void
hub_free(struct hub *hub)
{
	if (!hub)
		return;
	if (hub->reg)
		registry_free(hub->reg, hub_release, hub);
	while (hub->submitted) {
		struct stream *s = hub->submitted;

		hub->submitted = s->submit_next;
		transport_close(&s->tr);
		quota_unclaim_user(hub->quota, s);
		stream_free(s);
	}
	if (hub->reg)
		deliver_free(&hub->deliver);
	conn_free(hub->conn);
	changes_free(hub->changes);
	quota_free(hub->quota);
	if (hub->wake_fd >= 0)
		close(hub->wake_fd);
	loop_free(hub->loop);
	pthread_mutex_destroy(&hub->lock);
	free(hub);
}

void
hub_submit(struct hub *hub, struct stream *s)
{
	uint64_t one = 1;

	pthread_mutex_lock(&hub->lock);
	s->submit_next = hub->submitted;
	hub->submitted = s;
	pthread_mutex_unlock(&hub->lock);
	if (write(hub->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("eventfd write");
}

void
hub_shutdown(struct hub *hub)
{
	uint64_t one = 1;
	int saved = errno;

	/* Called from signal handlers: a failed write only means the
	 * eventfd is already readable; errno is the interrupted code's. */
	hub->stop = 1;
	(void)!write(hub->wake_fd, &one, sizeof(one));
	errno = saved;
}

int
hub_claim_user(struct hub *hub, struct stream *s, long max)
{
	return quota_claim_user(hub->quota, s, max);
}

void
hub_unclaim_user(struct hub *hub, struct stream *s)
{
	quota_unclaim_user(hub->quota, s);
}

struct outbox *
hub_admit_store(struct hub *hub, char *err, size_t errlen)
{
	return conn_admit_acquire(hub->conn, err, errlen);
}

void
hub_admit_store_done(struct hub *hub, int close_it)
{
	conn_admit_release(hub->conn, close_it);
}

long
hub_reserve_slot(struct hub *hub)
{
	return quota_reserve_slot(hub->quota);
}

void
hub_release_slot(struct hub *hub)
{
	quota_release_slot(hub->quota);
}

void
hub_get_stats(struct hub *hub, struct hub_stats *st)
{
	struct counters *c = &hub->counters;

	st->open_streams = quota_slots(hub->quota);
	st->streams_total = atomic_load(&c->streams);
	st->events = atomic_load(&c->events);
	st->bytes = atomic_load(&c->bytes);
	st->heartbeats = atomic_load(&c->heartbeats);
	st->wakeups = atomic_load(&c->wakeups);
	st->reads = atomic_load(&c->reads);
	st->newest_id = atomic_load(&c->newest_id);
}

int
hub_run(struct hub *hub, int until_idle)
{
	int adopted_any = 0;

	for (;;) {
		double now = loop_now();

		if (loop_wait(hub->loop, hub_timeout(hub, now)) == -1) {
			log_warn("the event loop cannot wait");
			return -1;
		}
		now = loop_now();
		if (hub->stop && !hub->stopping) {
			hub->stopping = 1;
			hub_take_submitted(hub, now);
			hub_end_all(hub, "shutting down");
		}
		if (atomic_load(&hub->counters.streams) > 0)
			adopted_any = 1;
		hub_turn(hub, now);
		if (log_threshold >= LOG_LEVEL_DEBUG &&
		    loop_now() - now > 0.005)
			log_debug("slow turn: %.1f ms with %zu streams",
			    (loop_now() - now) * 1000.0,
			    registry_count(hub->reg));
		if (hub->stopping && registry_count(hub->reg) == 0)
			return 0;
		if (until_idle && adopted_any && registry_count(hub->reg) == 0)
			return 0;
	}
}
