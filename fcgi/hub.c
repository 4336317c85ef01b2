/* The event loop of a process: owns every stream, the watcher, timers. */
#include "hub.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "outbox.h"
#include "resume.h"
#include "sse.h"
#include "subs.h"
#include "watch.h"

#define HUB_BATCH 512		/* rows per watcher read */
#define HUB_CATCHUP_BATCH 256	/* rows per stream read */
#define HUB_POLL_FALLBACK 0.05	/* data_version poll without inotify */
#define HUB_POLL_SAFETY 1.0	/* data_version poll with inotify */
#define HUB_SWEEP 1.0		/* stream deadlines are checked this often */
#define HUB_SWEEP_FINE 0.05	/* ... when SSE_MAX_STREAM is set */
#define HUB_END_GRACE 10.0	/* an ending stream may drain this long */
#define HUB_REOPEN 1.0		/* retry a failed database this often */

/*
 * A write to the -wal raises inotify before the writer updates the
 * wal-index in -shm, which raises nothing; a read in that gap sees no new
 * row. So after each notification the hub looks at SQLite's WAL write
 * lock (one F_GETLK) again and again, at delays doubling from
 * HUB_PROBE_FIRST to HUB_PROBE_MAX (HUB_PROBE_SLOW once the lock has
 * been held for HUB_PROBE_LONG), and probes PRAGMA data_version (a read
 * transaction) once the lock is free, then stops. While the lock stays
 * held it still probes every HUB_PROBE_HELD, so that a commit just before
 * a long transaction does not wait for it. When the lock cannot be
 * inspected it probes on a doubling schedule up to HUB_PROBE_BLIND_LAST.
 * Cheap looks matter: under mod_fcgid every process has its own watcher,
 * so every commit is looked at by every process; a process with at most
 * one stream (mod_fcgid, CGI) therefore starts looking after
 * HUB_PROBE_FIRST_ALONE, which saves two hundred processes a dozen
 * wake-ups per commit for a millisecond of latency.
 */
#define HUB_PROBE_FIRST 0.00005
#define HUB_PROBE_FIRST_ALONE 0.001	/* first look with <= 1 stream */
#define HUB_PROBE_MAX 0.001
#define HUB_PROBE_LONG 0.02
#define HUB_PROBE_SLOW 0.05
#define HUB_PROBE_HELD 0.008
#define HUB_PROBE_BLIND_LAST 0.2

static char hub_tag_wake;	/* epoll data for the wake eventfd */
static char hub_tag_watch;	/* epoll data for inotify */

struct hub {
	const struct config *cfg;
	struct outbox *ob;		/* NULL while the database is down */
	struct watch *watch;		/* NULL: poll data_version instead */
	int ep;				/* epoll set */
	int wake_fd;			/* eventfd: submissions and shutdown */
	volatile sig_atomic_t stop;	/* set by hub_shutdown */
	int stopping;			/* streams were told to end */
	atomic_long slots;		/* streams accepted and not ended */

	pthread_mutex_t lock;		/* guards submitted and per_user */
	struct stream *submitted;	/* from acceptor threads */
	struct subs *per_user;		/* user -> its streams, for the cap */

	/* Counters for the stats endpoint: written here, read by others. */
	atomic_ulong n_streams;
	atomic_ulong n_events;
	atomic_ulong n_bytes;
	atomic_ulong n_heartbeats;
	atomic_ulong n_wakeups;
	atomic_ulong n_reads;
	atomic_llong newest_id;

	struct subs *subs;		/* recipient key -> streams */
	struct stream ring;		/* activity order; sentinel */
	size_t nstreams;
	struct stream *catchup;		/* streams reading their backlog */
	struct stream *dirty;		/* streams with bytes to write */
	struct stream *dead;		/* ended; freed at the end of a turn */

	long long cursor;		/* highest id the watcher has read */
	long long pruned;		/* outbox_meta pruned_through, this turn */
	int cursor_known;
	int check_now;			/* read the outbox this turn */
	int probe_now;			/* read it if data_version moved */
	double probe_at;		/* next probe while a commit is in
					 * flight; 0 = none */
	double probe_gap;		/* its current delay */
	double probe_since;		/* the notification that started it */
	double probe_last;		/* last data_version probe */
	double next_poll;		/* next data_version poll */
	long long data_version;
	double next_sweep;
	double next_reopen;
	int db_down_logged;		/* the outage is already in the log */
	int no_pwait2;			/* epoll_pwait2 missing: ms timeouts */
	struct buf scratch;		/* one event, framed once for all */
};

static double
hub_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the activity ring: least recently written first ---- */

static void
hub_ring_unlink(struct stream *s)
{
	s->prev->next = s->next;
	s->next->prev = s->prev;
	s->prev = s->next = s;
}

static void
hub_ring_append(struct hub *hub, struct stream *s)
{
	s->prev = hub->ring.prev;
	s->next = &hub->ring;
	hub->ring.prev->next = s;
	hub->ring.prev = s;
}

static void
hub_touch(struct hub *hub, struct stream *s, double now)
{
	s->last_out = now;
	hub_ring_unlink(s);
	hub_ring_append(hub, s);
}

static void
hub_mark_dirty(struct hub *hub, struct stream *s)
{
	if (s->in_dirty)
		return;
	s->in_dirty = 1;
	s->dirty_next = hub->dirty;
	hub->dirty = s;
}

static void
hub_mark_catchup(struct hub *hub, struct stream *s)
{
	if (s->in_catchup)
		return;
	s->in_catchup = 1;
	s->catchup_next = hub->catchup;
	hub->catchup = s;
}

/* ---- opening the database ---- */

/*
 * Drop the hub's connection. Every caller also ends all streams, so the
 * cursor is read afresh on reopen: a database replaced or re-created
 * starts its ids again, and the old cursor would hide its rows.
 */
static void
hub_close_outbox(struct hub *hub)
{
	outbox_close(hub->ob);
	hub->ob = NULL;
	hub->cursor_known = 0;
}

static int
hub_open_outbox(struct hub *hub, double now)
{
	char err[OUTBOX_ERR_LEN];

	if (hub->ob)
		return 0;
	if (now < hub->next_reopen)
		return -1;
	hub->next_reopen = now + HUB_REOPEN;
	hub->ob = outbox_open(hub->cfg->db, err, sizeof(err));
	if (!hub->ob) {
		/* Once per outage: requests log their own 503s meanwhile. */
		if (!hub->db_down_logged)
			log_warnx("%s; retrying every %.0f s", err,
			    HUB_REOPEN);
		hub->db_down_logged = 1;
		return -1;
	}
	if (hub->db_down_logged)
		log_info("database %s is readable again", hub->cfg->db);
	hub->db_down_logged = 0;
	if (!hub->cursor_known) {
		if (outbox_max_id(hub->ob, &hub->cursor, err, sizeof(err))
		    == -1) {
			log_warnx("%s", err);
			outbox_close(hub->ob);
			hub->ob = NULL;
			return -1;
		}
		hub->cursor_known = 1;
		atomic_store(&hub->newest_id, hub->cursor);
	}
	(void)outbox_data_version(hub->ob, &hub->data_version);
	hub->check_now = 1;	/* rows may have come while it was closed */
	return 0;
}

/* ---- ending streams ---- */

static void
hub_destroy(struct hub *hub, struct stream *s, const char *why)
{
	if (s->tr.fd < 0)
		return;		/* already dead */
	log_debug("req=%lu user=%s stream closed: %s", s->serial,
	    stream_user_for_log(s->user, s->user_len), why);
	for (size_t i = 0; i < s->nkeys; i++)
		subs_remove(hub->subs, s->keys[i], s->key_lens[i], s);
	hub_unclaim_user(hub, s);
	hub_ring_unlink(s);
	hub->nstreams--;
	epoll_ctl(hub->ep, EPOLL_CTL_DEL, s->tr.fd, NULL);
	transport_close(&s->tr);
	s->tr.fd = -1;
	s->submit_next = hub->dead;
	hub->dead = s;
	atomic_fetch_sub(&hub->slots, 1);
}

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
	struct epoll_event ev = { 0 };

	if (s->want_out == want || s->tr.fd < 0)
		return;
	ev.events = hub_hangup_events(s) | (want ? EPOLLOUT : 0);
	ev.data.ptr = s;
	if (epoll_ctl(hub->ep, EPOLL_CTL_MOD, s->tr.fd, &ev) == 0)
		s->want_out = want;
}

/* Write what the stream has; decide what comes next for it. */
static void
hub_flush(struct hub *hub, struct stream *s)
{
	enum stream_write_result r;

	size_t before = s->wire.len;

	if (s->tr.fd < 0)
		return;
	r = stream_write(s);
	atomic_fetch_add_explicit(&hub->n_bytes, before - s->wire.len,
	    memory_order_relaxed);
	if (r == STREAM_GONE) {
		hub_destroy(hub, s, "client went away");
		return;
	}
	if (r == STREAM_BLOCKED) {
		hub_set_want_out(hub, s, 1);
		return;
	}
	hub_set_want_out(hub, s, 0);
	if (s->ending)
		hub_destroy(hub, s, "ended");
	else if (!s->synced)
		hub_mark_catchup(hub, s);
}

static void
hub_end_stream(struct hub *hub, struct stream *s, const char *why)
{
	if (s->ending || s->tr.fd < 0)
		return;
	log_debug("req=%lu ending stream: %s", s->serial, why);
	if (stream_frame_end(s) == -1) {
		hub_destroy(hub, s, "out of memory");
		return;
	}
	s->end_at = hub_now() + HUB_END_GRACE;
	hub_mark_dirty(hub, s);
}

static void
hub_end_all(struct hub *hub, const char *why)
{
	struct stream *s;
	struct stream *n;

	for (s = hub->ring.next; s != &hub->ring; s = n) {
		n = s->next;
		hub_end_stream(hub, s, why);
	}
}

/* ---- framing rows ---- */

/* Frame row into hub->scratch once; the same bytes go to every stream. */
static int
hub_frame_row(struct hub *hub, const struct outbox_row *row)
{
	int cleaned = 0;

	buf_reset(&hub->scratch);
	if (sse_append_event(&hub->scratch, row->id, row->event,
	    row->event_len, row->data, row->data_len, &cleaned) == -1) {
		log_warnx("row %lld: cannot frame (out of memory)", row->id);
		return -1;
	}
	if (cleaned)
		log_warnx("row %lld: CR, LF or NUL dropped from its event "
		    "name", row->id);
	return 0;
}

static void
hub_give(struct hub *hub, struct stream *s, const struct outbox_row *row,
    double now)
{
	if (stream_frame(s, hub->scratch.data, hub->scratch.len) == -1) {
		hub_destroy(hub, s, "output buffer full");
		return;
	}
	s->last_id = row->id;
	atomic_fetch_add_explicit(&hub->n_events, 1, memory_order_relaxed);
	hub_touch(hub, s, now);
	hub_mark_dirty(hub, s);
}

struct hub_dispatch {
	struct hub *hub;
	const struct outbox_row *row;
	double now;
};

/* A live row reaches a stream that is up to date with the watcher. */
static void
hub_dispatch_one(void *ctx, void *member)
{
	struct hub_dispatch *d = ctx;
	struct stream *s = member;

	if (!s->synced || s->ending || s->tr.fd < 0 ||
	    d->row->id <= s->last_id)
		return;
	hub_give(d->hub, s, d->row, d->now);
	/* A slow reader stops taking live rows; it reads its own later. */
	if (s->wire.len > STREAM_WIRE_HIGH)
		s->synced = 0;
}

static int
hub_on_new_row(void *ctx, const struct outbox_row *row)
{
	struct hub_dispatch *d = ctx;
	struct hub *hub = d->hub;

	d->row = row;
	if (hub->nstreams > 0 && hub_frame_row(hub, row) == 0) {
		if (!row->user_id) {
			for (struct stream *s = hub->ring.next, *n;
			    s != &hub->ring; s = n) {
				n = s->next;
				hub_dispatch_one(d, s);
			}
		} else {
			subs_each(hub->subs, row->user_id, row->user_len,
			    hub_dispatch_one, d);
		}
	}
	hub->cursor = row->id;
	atomic_store_explicit(&hub->newest_id, row->id, memory_order_relaxed);
	return 0;
}

/* The watcher's one query per commit: read new rows, wake their streams. */
static void
hub_read_new_rows(struct hub *hub, double now)
{
	struct hub_dispatch d = { hub, NULL, now };
	char err[OUTBOX_ERR_LEN];
	int count = 0;

	if (hub_open_outbox(hub, now) == -1)
		return;
	atomic_fetch_add_explicit(&hub->n_reads, 1, memory_order_relaxed);
	if (outbox_fetch_all(hub->ob, hub->cursor, HUB_BATCH, hub_on_new_row,
	    &d, &count, err, sizeof(err)) == -1) {
		log_warnx("%s; ending streams so clients resume", err);
		hub_close_outbox(hub);
		hub_end_all(hub, "database error");
		return;
	}
	if (count == HUB_BATCH)
		hub->check_now = 1;	/* more to read, after other work */
}

struct hub_catchup {
	struct hub *hub;
	struct stream *s;
	double now;
	int stopped;		/* the batch stopped before its last row */
};

static int
hub_on_backlog_row(void *ctx, const struct outbox_row *row)
{
	struct hub_catchup *c = ctx;

	if (hub_frame_row(c->hub, row) == -1) {
		c->stopped = 1;
		return -1;
	}
	hub_give(c->hub, c->s, row, c->now);
	/* Big rows: stop at the high-water mark, go on once written. */
	if (c->s->tr.fd < 0 || c->s->wire.len > STREAM_WIRE_HIGH) {
		c->stopped = 1;
		return -1;
	}
	return 0;
}

/*
 * A stream that is behind may fall below what `sse-outbox prune` deleted
 * while it waits: tell it with a reset event, as a reconnect would be
 * told, rather than skip the rows in silence. hub->pruned is read once a
 * turn (hub_read_pruned). -1 when the stream ended.
 */
static int
hub_check_pruned(struct hub *hub, struct stream *s)
{
	char data[RESUME_DATA_LEN];

	if (!resume_check_pruned(s->last_id, hub->pruned, data, sizeof(data)))
		return 0;
	log_info("req=%lu fell behind pruned id %lld: sending reset",
	    s->serial, hub->pruned);
	if (stream_frame_reset(s, data) == -1) {
		hub_destroy(hub, s, "out of memory");
		return -1;
	}
	s->last_id = hub->pruned;
	hub_mark_dirty(hub, s);
	return 0;
}

/* Before a turn's catch-up batches: how far prune went, one query. */
static void
hub_read_pruned(struct hub *hub, double now)
{
	char err[OUTBOX_ERR_LEN];
	long long high;

	if (hub_open_outbox(hub, now) == -1)
		return;
	if (outbox_history(hub->ob, &high, &hub->pruned, err, sizeof(err)) ==
	    -1) {
		log_warnx("%s; ending streams so clients resume", err);
		hub_close_outbox(hub);
		hub_end_all(hub, "database error");
	}
}

/* One bounded batch of a stream's own rows, up to the watcher's cursor. */
static void
hub_catch_up(struct hub *hub, struct stream *s, double now)
{
	struct hub_catchup c = { hub, s, now, 0 };
	char err[OUTBOX_ERR_LEN];
	int count = 0;

	if (s->ending || s->tr.fd < 0 || s->synced)
		return;
	if (s->wire.len > STREAM_WIRE_HIGH)
		return;		/* resumes when the wire drains */
	if (hub_open_outbox(hub, now) == -1) {
		hub_end_stream(hub, s, "database unavailable");
		return;
	}
	if (hub_check_pruned(hub, s) == -1)
		return;
	if (outbox_fetch_for(hub->ob, (const char *const *)s->keys,
	    s->key_lens, s->nkeys,
	    s->last_id, hub->cursor, HUB_CATCHUP_BATCH, hub_on_backlog_row,
	    &c, &count, err, sizeof(err)) == -1) {
		log_warnx("req=%lu %s; ending the stream so the client "
		    "resumes", s->serial, err);
		hub_end_stream(hub, s, "database error");
		return;
	}
	if (s->tr.fd < 0)
		return;
	if (c.stopped)
		return;		/* hub_flush resumes it once written */
	if (count < HUB_CATCHUP_BATCH)
		s->synced = 1;
	else
		hub_mark_catchup(hub, s);
}

/* ---- new streams ---- */

static void
hub_adopt(struct hub *hub, struct stream *s, double now)
{
	struct epoll_event ev = { 0 };

	s->prev = s->next = s;
	s->started = now;
	s->last_out = now;
	if (hub->cfg->max_stream > 0) {
		/* Up to 10 % early, so streams opened together do not all
		 * reconnect together. */
		double jitter = (double)(random() % 1000) / 10000.0;

		s->end_at = now + (double)hub->cfg->max_stream *
		    (1.0 - jitter);
	}
	hub_ring_append(hub, s);
	hub->nstreams++;
	atomic_fetch_add_explicit(&hub->n_streams, 1, memory_order_relaxed);
	for (size_t i = 0; i < s->nkeys; i++) {
		if (subs_add(hub->subs, s->keys[i], s->key_lens[i], s) == -1) {
			s->nkeys = i;
			hub_destroy(hub, s, "out of memory");
			return;
		}
	}
	ev.events = hub_hangup_events(s);
	ev.data.ptr = s;
	/* stdout may be a regular file in a manual CGI run: not pollable. */
	if (epoll_ctl(hub->ep, EPOLL_CTL_ADD, s->tr.fd, &ev) == -1 &&
	    errno != EPERM)
		log_warn("req=%lu epoll_ctl", s->serial);
	log_debug("req=%lu user=%s stream opened after id %lld", s->serial,
	    stream_user_for_log(s->user, s->user_len), s->last_id);
	if (stream_frame_head(s, hub->cfg, s->padding) == -1) {
		hub_destroy(hub, s, "out of memory");
		return;
	}
	if (hub->stopping) {
		hub_end_stream(hub, s, "shutting down");
		return;
	}
	/* The request's own check just found the database readable. */
	hub->next_reopen = 0;
	hub_mark_dirty(hub, s);
	hub_mark_catchup(hub, s);
}

static void
hub_take_submitted(struct hub *hub, double now)
{
	struct stream *list;
	uint64_t n;

	if (read(hub->wake_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_warn("eventfd read");
	pthread_mutex_lock(&hub->lock);
	list = hub->submitted;
	hub->submitted = NULL;
	pthread_mutex_unlock(&hub->lock);
	/* The list is newest first; adopt oldest first. */
	{
		struct stream *rev = NULL;

		while (list) {
			struct stream *next = list->submit_next;

			list->submit_next = rev;
			rev = list;
			list = next;
		}
		list = rev;
	}
	while (list) {
		struct stream *next = list->submit_next;

		list->submit_next = NULL;
		hub_adopt(hub, list, now);
		list = next;
	}
}

/* ---- timers ---- */

static void
hub_heartbeats(struct hub *hub, double now)
{
	double hb = (double)hub->cfg->heartbeat;

	while (hub->ring.next != &hub->ring &&
	    hub->ring.next->last_out + hb <= now) {
		struct stream *s = hub->ring.next;

		if (!s->ending && stream_frame(s, ":\n", 2) == -1) {
			hub_destroy(hub, s, "output buffer full");
			continue;
		}
		atomic_fetch_add_explicit(&hub->n_heartbeats, 1,
		    memory_order_relaxed);
		hub_touch(hub, s, now);
		hub_mark_dirty(hub, s);
	}
}

static void
hub_sweep(struct hub *hub, double now)
{
	struct stream *s;
	struct stream *n;

	if (now < hub->next_sweep)
		return;
	/* SSE_MAX_STREAM deadlines are spread by jitter: look often
	 * enough that the spread survives. */
	hub->next_sweep = now + (hub->cfg->max_stream > 0 ? HUB_SWEEP_FINE :
	    HUB_SWEEP);
	for (s = hub->ring.next; s != &hub->ring; s = n) {
		n = s->next;
		if (s->end_at == 0 || now < s->end_at)
			continue;
		if (s->ending)
			hub_destroy(hub, s, "client did not take the end");
		else
			hub_end_stream(hub, s, "SSE_MAX_STREAM reached");
	}
}

/*
 * Has anyone committed since the last look? The version is read before
 * the rows, so a commit landing in between is seen again next time, never
 * missed.
 */
static void
hub_probe(struct hub *hub, double now)
{
	long long v;

	if (hub_open_outbox(hub, now) == -1)
		return;
	if (outbox_data_version(hub->ob, &v) == -1) {
		hub->check_now = 1;	/* let the read report the error */
		return;
	}
	if (v != hub->data_version) {
		hub->data_version = v;
		hub->check_now = 1;
	}
}

static void
hub_poll(struct hub *hub, double now)
{
	if (now >= hub->next_poll) {
		hub->next_poll = now + (hub->watch ? HUB_POLL_SAFETY :
		    HUB_POLL_FALLBACK);
		hub->probe_now = 1;
	}
	if (hub->probe_at > 0 && now >= hub->probe_at)
		hub->probe_now = 1;
	if (hub->probe_now) {
		/* Look at the lock first: free before the probe means the
		 * probe saw every commit that had been written. */
		int active = hub->watch ? watch_writer_active(hub->watch) : -1;
		double cap = now - hub->probe_since < HUB_PROBE_LONG ?
		    HUB_PROBE_MAX : HUB_PROBE_SLOW;

		hub->probe_now = 0;
		if (active == 0 && hub->probe_at > 0) {
			/* Woken by a write and the writer is done: read the
			 * rows at once (one transaction, not two). */
			hub->check_now = 1;
		} else if (active != 1 ||
		    now - hub->probe_last >= HUB_PROBE_HELD) {
			hub->probe_last = now;
			hub_probe(hub, now);
		}
		if (active == 0 || (active == -1 &&
		    hub->probe_gap >= HUB_PROBE_BLIND_LAST)) {
			hub->probe_at = 0;
			return;
		}
		hub->probe_at = now + hub->probe_gap;
		hub->probe_gap *= 2;
		if (active == 1 && hub->probe_gap > cap)
			hub->probe_gap = cap;
	}
}

/* Seconds until something is due; 0 when work is waiting. */
static double
hub_timeout(struct hub *hub, double now)
{
	double next = hub->next_poll;

	if (hub->check_now || hub->probe_now || hub->dirty || hub->catchup)
		return 0;
	if (hub->probe_at > 0 && hub->probe_at < next)
		next = hub->probe_at;
	if (hub->ring.next != &hub->ring) {
		double t = hub->ring.next->last_out +
		    (double)hub->cfg->heartbeat;

		if (t < next)
			next = t;
		if (hub->next_sweep < next)
			next = hub->next_sweep;
	}
	if (next <= now)
		return 0;
	return next - now;
}

/* epoll_wait with a sub-millisecond timeout: the probes need it. */
static int
hub_wait(struct hub *hub, struct epoll_event *evs, int max, double timeout)
{
	struct timespec ts;
	int n;

	ts.tv_sec = (time_t)timeout;
	ts.tv_nsec = (long)((timeout - (double)ts.tv_sec) * 1e9);
	if (!hub->no_pwait2) {
		n = epoll_pwait2(hub->ep, evs, max, &ts, NULL);
		if (n != -1 || errno != ENOSYS)
			return n;
		hub->no_pwait2 = 1;	/* old kernel, or valgrind */
	}
	return epoll_wait(hub->ep, evs, max,
	    (int)(timeout * 1000.0) + (timeout > 0));
}

/* ---- the loop ---- */

struct hub *
hub_new(const struct config *cfg, char *err, size_t errlen)
{
	struct hub *hub = calloc(1, sizeof(*hub));
	struct epoll_event ev = { 0 };
	char werr[256];

	if (!hub) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	hub->cfg = cfg;
	hub->ep = -1;
	hub->wake_fd = -1;
	hub->ring.prev = hub->ring.next = &hub->ring;
	pthread_mutex_init(&hub->lock, NULL);
	buf_init(&hub->scratch, STREAM_WIRE_CAP);
	atomic_init(&hub->slots, 0);
	hub->subs = subs_new();
	hub->per_user = subs_new();
	hub->ep = epoll_create1(EPOLL_CLOEXEC);
	hub->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!hub->subs || !hub->per_user || hub->ep < 0 ||
	    hub->wake_fd < 0) {
		snprintf(err, errlen, "cannot set up the event loop: %s",
		    strerror(errno));
		goto out;
	}
	ev.events = EPOLLIN;
	ev.data.ptr = &hub_tag_wake;
	if (epoll_ctl(hub->ep, EPOLL_CTL_ADD, hub->wake_fd, &ev) == -1) {
		snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
		goto out;
	}
	hub->watch = watch_open(cfg->db, werr, sizeof(werr));
	if (hub->watch) {
		ev.events = EPOLLIN;
		ev.data.ptr = &hub_tag_watch;
		if (epoll_ctl(hub->ep, EPOLL_CTL_ADD, watch_fd(hub->watch),
		    &ev) == -1) {
			watch_close(hub->watch);
			hub->watch = NULL;
		}
	}
	if (!hub->watch)
		log_warnx("change watcher unavailable (%s); polling the "
		    "database every %d ms instead", werr,
		    (int)(HUB_POLL_FALLBACK * 1000));
	(void)hub_open_outbox(hub, hub_now());
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
	while (hub->ring.next != &hub->ring)
		hub_destroy(hub, hub->ring.next, "hub closed");
	while (hub->dead) {
		struct stream *s = hub->dead;

		hub->dead = s->submit_next;
		stream_free(s);
	}
	while (hub->submitted) {
		struct stream *s = hub->submitted;

		hub->submitted = s->submit_next;
		transport_close(&s->tr);
		stream_free(s);
	}
	outbox_close(hub->ob);
	watch_close(hub->watch);
	subs_free(hub->subs);
	subs_free(hub->per_user);
	buf_free(&hub->scratch);
	if (hub->ep >= 0)
		close(hub->ep);
	if (hub->wake_fd >= 0)
		close(hub->wake_fd);
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

	hub->stop = 1;
	if (write(hub->wake_fd, &one, sizeof(one)) < 0)
		return;
}

static void
hub_count_member(void *ctx, void *member)
{
	(void)member;
	(*(long *)ctx)++;
}

int
hub_claim_user(struct hub *hub, struct stream *s, long max)
{
	long held = 0;
	int rc = 0;

	if (max <= 0)
		return 0;
	pthread_mutex_lock(&hub->lock);
	subs_each(hub->per_user, s->user, s->user_len, hub_count_member,
	    &held);
	if (held >= max || subs_add(hub->per_user, s->user, s->user_len, s)
	    == -1)
		rc = -1;
	else
		s->claimed = 1;
	pthread_mutex_unlock(&hub->lock);
	return rc;
}

void
hub_unclaim_user(struct hub *hub, struct stream *s)
{
	if (!s->claimed)
		return;
	pthread_mutex_lock(&hub->lock);
	subs_remove(hub->per_user, s->user, s->user_len, s);
	pthread_mutex_unlock(&hub->lock);
	s->claimed = 0;
}

void
hub_get_stats(struct hub *hub, struct hub_stats *st)
{
	st->open_streams = atomic_load(&hub->slots);
	st->streams_total = atomic_load(&hub->n_streams);
	st->events = atomic_load(&hub->n_events);
	st->bytes = atomic_load(&hub->n_bytes);
	st->heartbeats = atomic_load(&hub->n_heartbeats);
	st->wakeups = atomic_load(&hub->n_wakeups);
	st->reads = atomic_load(&hub->n_reads);
	st->newest_id = atomic_load(&hub->newest_id);
}

long
hub_reserve_slot(struct hub *hub)
{
	return atomic_fetch_add(&hub->slots, 1) + 1;
}

void
hub_release_slot(struct hub *hub)
{
	atomic_fetch_sub(&hub->slots, 1);
}

static void
hub_on_event(struct hub *hub, struct epoll_event *ev, double now)
{
	struct stream *s;
	int mask;

	if (ev->data.ptr == &hub_tag_wake) {
		hub_take_submitted(hub, now);
		return;
	}
	if (ev->data.ptr == &hub_tag_watch) {
		mask = watch_drain(hub->watch);
		if (mask & WATCH_REPLACED) {
			log_warnx("database %s was replaced or removed; "
			    "ending streams so clients resume",
			    hub->cfg->db);
			hub_close_outbox(hub);
			hub->next_reopen = 0;
			hub_end_all(hub, "database replaced");
		}
		if (mask & WATCH_COMMIT) {
			atomic_fetch_add_explicit(&hub->n_wakeups, 1,
			    memory_order_relaxed);
			hub->probe_since = now;
			hub->probe_last = 0;
			if (hub->nstreams > 1) {
				hub->probe_now = 1;
				hub->probe_gap = HUB_PROBE_FIRST;
			} else if (hub->probe_at == 0) {
				/* Spread over a few ms: hundreds of processes
				 * opening read transactions at the same
				 * instant contend for SQLite's five WAL read
				 * marks. */
				hub->probe_at = now + HUB_PROBE_FIRST_ALONE *
				    (1.0 + (double)(random() % 2000) / 1000.0);
				hub->probe_gap = HUB_PROBE_FIRST_ALONE;
			}
		}
		return;
	}
	s = ev->data.ptr;
	if (s->tr.fd < 0)
		return;
	if (ev->events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		/*
		 * The server half-closed the connection (its client left).
		 * Ending the response properly, not just closing, spares the
		 * server an "unexpected end-of-file" error in its log.
		 */
		if (!(ev->events & (EPOLLHUP | EPOLLERR)) && !s->ending &&
		    stream_frame_end(s) == 0)
			(void)stream_write(s);
		hub_destroy(hub, s, "client went away");
		return;
	}
	if (ev->events & EPOLLOUT)
		hub_flush(hub, s);
}

static void
hub_turn(struct hub *hub, double now)
{
	struct stream *list;

	hub_poll(hub, now);
	if (hub->check_now) {
		hub->check_now = 0;
		hub_read_new_rows(hub, now);
	}
	if (hub->catchup)
		hub_read_pruned(hub, now);
	list = hub->catchup;
	hub->catchup = NULL;
	while (list) {
		struct stream *next = list->catchup_next;

		list->in_catchup = 0;
		hub_catch_up(hub, list, now);
		list = next;
	}
	hub_heartbeats(hub, now);
	hub_sweep(hub, now);
	list = hub->dirty;
	hub->dirty = NULL;
	while (list) {
		struct stream *next = list->dirty_next;

		list->in_dirty = 0;
		hub_flush(hub, list);
		list = next;
	}
	/* Free the ended streams no list points at any more. */
	list = hub->dead;
	hub->dead = NULL;
	while (list) {
		struct stream *next = list->submit_next;

		if (list->in_catchup || list->in_dirty) {
			list->submit_next = hub->dead;
			hub->dead = list;
		} else {
			stream_free(list);
		}
		list = next;
	}
}

int
hub_run(struct hub *hub, int until_idle)
{
	struct epoll_event evs[256];
	int adopted_any = 0;
	int rc = 0;

	for (;;) {
		double now = hub_now();
		int n = hub_wait(hub, evs, 256, hub_timeout(hub, now));

		if (n < 0 && errno != EINTR) {
			log_warn("epoll_wait");
			rc = -1;
			break;
		}
		now = hub_now();
		for (int i = 0; i < n; i++)
			hub_on_event(hub, &evs[i], now);
		if (hub->stop && !hub->stopping) {
			hub->stopping = 1;
			hub_take_submitted(hub, now);
			hub_end_all(hub, "shutting down");
		}
		if (hub->nstreams > 0)
			adopted_any = 1;
		hub_turn(hub, now);
		if (log_threshold >= LOG_LEVEL_DEBUG && hub_now() - now > 0.005)
			log_debug("slow turn: %.1f ms with %zu streams",
			    (hub_now() - now) * 1000.0, hub->nstreams);
		if (hub->stopping && hub->nstreams == 0)
			break;
		if (until_idle && adopted_any && hub->nstreams == 0)
			break;
	}
	return rc;
}
