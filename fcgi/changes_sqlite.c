/* SPDX-License-Identifier: BSD-2-Clause */
/* Commits to an SQLite file: inotify, then a look at the write lock. */
#include "changes.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "beat.h"
#include "watch.h"

/*
 * A write to the -wal raises inotify before the writer updates the
 * wal-index in -shm, which raises nothing; a read in that gap sees no new
 * row. So after a notification the source looks at SQLite's WAL write
 * lock (one F_GETLK) at delays doubling from FIRST to MAX (SLOW once the
 * lock has been held for LONG), and asks for a read once the lock is
 * free. A process serving many streams caps the delay at FINE for the
 * first FINE_FOR: the lock is mostly held through the writer's fsync of
 * the -wal, a few hundred microseconds, and with MAX as the cap the read
 * came a quarter of a millisecond after the unlock on average. While the
 * lock stays held it asks for a version look every HELD, so that a
 * commit just before a long transaction does not wait for it. When the
 * lock cannot be inspected (no -shm yet) it asks for version
 * looks on a doubling schedule and stops after BLIND_LAST; these gaps
 * are all above zero.
 *
 * Sleeping is not enough in a process serving many streams: on a virtual
 * machine whose CPUs halt when idle, a wait of 200 microseconds overslept
 * by 0.8 ms at the 99th percentile and by up to 9 ms, and a read waits
 * for every sleep between the notification and the unlock. For the first
 * SPIN after a notification such a process does not sleep: it looks at
 * the lock on every turn of the loop (which still serves every other
 * event), spending at most SPIN_SHARE of its time so, however often
 * commits come; then the schedule above goes on.
 *
 * A process that does not spin (fewer streams: the host-wide reader's
 * leader among them) would otherwise look half a dozen times through a
 * writer's fsync, each look a wake-up that costs more than the look. It
 * remembers how long the lock stayed held after the notification for
 * the last HOLDS commits and makes its first look at HOLD_SHARE of the
 * shortest of them: never after the quickest recent commit, and a look
 * that finds the lock free already records a shorter hold, so the
 * estimate can only err early.
 *
 * Under mod_fcgid every process has its own source, so every commit is
 * looked at by every process; a process with at most one stream starts
 * after FIRST_ALONE, spread over a few ms: hundreds of processes opening
 * read transactions at one instant contend for SQLite's WAL read marks.
 */
#define CHG_FIRST 0.00005
#define CHG_FIRST_ALONE 0.001
#define CHG_MAX 0.001
#define CHG_FINE 0.0002
#define CHG_FINE_FOR 0.005
#define CHG_SPIN 0.005
#define CHG_SPIN_SHARE 0.1
#define CHG_SPIN_STREAMS 16	/* spin for this many streams or more */
#define CHG_HOLDS 16
#define CHG_HOLD_SHARE 0.8
#define CHG_LONG 0.02
#define CHG_SLOW 0.05
#define CHG_HELD 0.008
#define CHG_BLIND_LAST 0.2
#define CHG_POLL_FALLBACK 0.05	/* version look without inotify */
#define CHG_REARM 1.0		/* retry a lost directory watch */

struct changes_sqlite {
	struct changes base;
	struct watch *watch;	/* NULL: inotify unavailable, poll */
	int pending;		/* a write was seen, the lock is watched */
	double look_at;		/* next look at the lock */
	double gap;		/* its current delay, always > 0 */
	double since;		/* the notification that started it */
	int fine;		/* many streams: CHG_FINE at first */
	double spin_until;	/* look every turn until then */
	double spin_left;	/* seconds of spinning allowed, ... */
	double spin_refill;	/* ... as of then */
	double last_version;	/* last version look while it was held */
	double holds[CHG_HOLDS];	/* recent notification-to-free times */
	unsigned nholds;
	double next_poll;
	double phase;		/* this process's beat (beat_phase) */
	double rearm_at;	/* the watch was lost: retry then; 0 = no */
};

static int
changes_sqlite_fd(struct changes *c)
{
	struct changes_sqlite *cs = (struct changes_sqlite *)c;

	return cs->watch ? watch_fd(cs->watch) : -1;
}

/* When to look first after a notification (no spinning). */
static double
changes_sqlite_first_look(const struct changes_sqlite *cs)
{
	double least;

	if (cs->nholds < CHG_HOLDS)
		return 0;
	least = cs->holds[0];
	for (unsigned i = 1; i < CHG_HOLDS; i++)
		if (cs->holds[i] < least)
			least = cs->holds[i];
	return least * CHG_HOLD_SHARE;
}

static void
changes_sqlite_held_for(struct changes_sqlite *cs, double held)
{
	cs->holds[cs->nholds++ % CHG_HOLDS] = held;
	if (cs->nholds >= 2 * CHG_HOLDS)
		cs->nholds -= CHG_HOLDS;	/* stays >= CHG_HOLDS */
}

/* Spin for CHG_SPIN if the share allows it. */
static void
changes_sqlite_spin(struct changes_sqlite *cs, double now)
{
	double left = cs->spin_left + (now - cs->spin_refill) * CHG_SPIN_SHARE;

	if (now < cs->spin_until)
		return;		/* spinning already */
	if (left > 4 * CHG_SPIN)
		left = 4 * CHG_SPIN;
	cs->spin_refill = now;
	cs->spin_left = left;
	if (left < CHG_SPIN)
		return;
	cs->spin_left -= CHG_SPIN;
	cs->spin_until = now + CHG_SPIN;
}

/* The lock is free: the spin's unused time is given back. */
static void
changes_sqlite_spin_done(struct changes_sqlite *cs, double now)
{
	if (now < cs->spin_until)
		cs->spin_left += cs->spin_until - now;
	cs->spin_until = 0;
}

static int
changes_sqlite_on_ready(struct changes *c, double now, size_t nstreams)
{
	struct changes_sqlite *cs = (struct changes_sqlite *)c;
	int mask = watch_drain(cs->watch);
	int due = CHANGES_NONE;

	if (mask & WATCH_LOST)
		cs->rearm_at = now;
	if (mask & WATCH_REPLACED)
		due |= CHANGES_REPLACED;
	if (!(mask & WATCH_COMMIT))
		return due;
	cs->since = now;
	cs->last_version = 0;
	if (nstreams > 1) {
		cs->pending = 1;
		cs->fine = 1;
		cs->gap = CHG_FIRST;
		cs->look_at = now;
		if (nstreams >= CHG_SPIN_STREAMS)
			changes_sqlite_spin(cs, now);
		else
			cs->look_at += changes_sqlite_first_look(cs);
	} else if (!cs->pending) {
		cs->pending = 1;
		cs->fine = 0;
		cs->gap = CHG_FIRST_ALONE;
		cs->look_at = now + CHG_FIRST_ALONE *
		    (1.0 + (double)(random() % 2000) / 1000.0);
	}
	return due;
}

/* The lock look after a notification: what to do, and when to look
 * again. */
static int
changes_sqlite_look(struct changes_sqlite *cs, double now)
{
	int active = watch_writer_active(cs->watch);
	double held = now - cs->since;
	double cap = held < CHG_LONG ? CHG_MAX : CHG_SLOW;
	int due = CHANGES_NONE;

	if (cs->fine && held < CHG_FINE_FOR)
		cap = CHG_FINE;
	if (active == 0) {
		/* The writer is done: every commit it announced is
		 * visible. One read, not a version look and a read. */
		cs->pending = 0;
		changes_sqlite_spin_done(cs, now);
		if (cs->fine && held < CHG_LONG)
			changes_sqlite_held_for(cs, held);
		return CHANGES_READ;
	}
	if (active == 1) {
		if (now - cs->last_version >= CHG_HELD) {
			cs->last_version = now;
			due = CHANGES_LOOK;
		}
		if (now < cs->spin_until) {
			cs->look_at = now;	/* next turn */
			return due;
		}
		cs->gap *= 2;
		if (cs->gap > cap)
			cs->gap = cap;
		cs->look_at = now + cs->gap;
		return due;
	}
	/* Cannot tell: look at the version, less and less often. */
	cs->gap *= 2;
	if (cs->gap >= CHG_BLIND_LAST)
		cs->pending = 0;
	else
		cs->look_at = now + cs->gap;
	return CHANGES_LOOK;
}

static int
changes_sqlite_due(struct changes *c, double now)
{
	struct changes_sqlite *cs = (struct changes_sqlite *)c;
	int due = CHANGES_NONE;

	if (cs->rearm_at > 0 && now >= cs->rearm_at) {
		if (watch_rearm(cs->watch) == 0) {
			cs->rearm_at = 0;
			/* Anything may have happened while blind. */
			due |= CHANGES_REPLACED;
		} else {
			cs->rearm_at = now + CHG_REARM;
		}
	}
	if (now >= cs->next_poll) {
		/* With inotify a version look is a net, on the beat the
		 * heartbeats keep: one wake-up a second for both. */
		cs->next_poll = cs->watch ? beat_at(now + BEAT_PERIOD / 2,
		    BEAT_PERIOD, cs->phase * BEAT_PERIOD) :
		    now + CHG_POLL_FALLBACK;
		due |= CHANGES_LOOK;
		if (cs->watch && cs->rearm_at == 0 &&
		    (watch_verify(cs->watch) & WATCH_LOST)) {
			cs->rearm_at = now;
			due |= CHANGES_REPLACED;
		}
		/* Without inotify nothing else notices a replaced file. */
		if (!cs->watch || cs->rearm_at > 0)
			due |= CHANGES_VERIFY;
	}
	if (cs->pending && cs->watch && now >= cs->look_at)
		due |= changes_sqlite_look(cs, now);
	return due;
}

static double
changes_sqlite_deadline(const struct changes *c)
{
	const struct changes_sqlite *cs = (const struct changes_sqlite *)c;
	double next = cs->next_poll;

	if (cs->pending && cs->look_at < next)
		next = cs->look_at;
	if (cs->rearm_at > 0 && cs->rearm_at < next)
		next = cs->rearm_at;
	return next;
}

static void
changes_sqlite_free(struct changes *c)
{
	struct changes_sqlite *cs = (struct changes_sqlite *)c;

	watch_close(cs->watch);
	free(cs);
}

static const struct changes_ops changes_sqlite_ops = {
	.fd = changes_sqlite_fd,
	.on_ready = changes_sqlite_on_ready,
	.due = changes_sqlite_due,
	.deadline = changes_sqlite_deadline,
	.free = changes_sqlite_free,
};

struct changes *
changes_sqlite_open(const char *path, char *why, size_t whylen)
{
	struct changes_sqlite *cs = calloc(1, sizeof(*cs));

	if (!cs)
		return NULL;
	cs->base.ops = &changes_sqlite_ops;
	cs->phase = beat_phase(getpid());
	why[0] = '\0';
	cs->watch = watch_open(path, why, whylen);
	return &cs->base;
}
