/* SPDX-License-Identifier: BSD-2-Clause */
/* How the event loop learns of commits: one interface, one module each. */
#ifndef FCGI_CHANGES_H
#define FCGI_CHANGES_H

#include <stddef.h>

#include "outbox.h"

/*
 * The hub knows commits only through this interface, so that another
 * source (a host-wide reader shared by many processes, a PostgreSQL
 * LISTEN connection) is a module that fills in changes_ops, not an edit
 * of the hub. Each call returns a mask of what the hub should do now.
 */
enum changes_due {
	CHANGES_NONE = 0,
	CHANGES_READ = 1,	/* new rows are visible: read them */
	CHANGES_LOOK = 2,	/* rows may be: read if the store's version
				 * moved (outbox_data_version) */
	CHANGES_VERIFY = 4,	/* check that the store is still the one
				 * opened (outbox_still_current) */
	CHANGES_REPLACED = 8,	/* the store was replaced: reopen it and end
				 * every stream so that clients resume */
	CHANGES_CURSOR = 16,	/* rows up to changes_cursor() are committed
				 * and may be for this process: move the live
				 * cursor there, and every stream reads its
				 * own rows up to it */
	CHANGES_ROWS = 32,	/* another process read new rows and holds
				 * them for this one: take them with
				 * changes_rows (on failure, do as for
				 * CHANGES_CURSOR) */
};

struct changes;

struct changes_ops {
	/* A descriptor to wait on for readability, or -1. */
	int (*fd)(struct changes *c);
	/* The descriptor is readable; nstreams streams are open. */
	int (*on_ready)(struct changes *c, double now, size_t nstreams);
	/* Timers: what is due at now. */
	int (*due)(struct changes *c, double now);
	/* When the next timer is due (monotonic seconds). */
	double (*deadline)(const struct changes *c);
	void (*free)(struct changes *c);

	/*
	 * Optional (NULL: the source does not care); a source shared by
	 * several processes needs them.
	 *
	 * cursor: 0 with the id the live cursor must be at: the hub calls
	 * it when it (re)opens the store and on CHANGES_CURSOR. -1: learn
	 * it from the store.
	 */
	int (*cursor)(struct changes *c, long long *cursor);
	/* The hub's live read passed a row... */
	void (*saw_row)(struct changes *c, const struct outbox_row *row);
	/* ... and ended, with the live cursor at cursor; -1: the store's
	 * history went back below it (a failover), it is learnt anew. */
	void (*read_done)(struct changes *c, long long cursor);
	/*
	 * CHANGES_ROWS: call fn for each row after `after` that another
	 * process read, in id order; 0 with *upto set to the id every row
	 * up to which was given (or was not for this process's streams),
	 * -1 when they cannot all be given (then the live cursor moves as
	 * for CHANGES_CURSOR and streams read their own rows).
	 */
	int (*rows)(struct changes *c, long long after, outbox_row_fn fn,
	    void *ctx, long long *upto);
	/* Do new rows come through rows() for now, so that the store is
	 * needed only to catch streams up? */
	int (*holds_rows)(const struct changes *c);
	/* A stream following keys[0..n) came (add 1) or went (add 0). */
	void (*follow)(struct changes *c, const char *const *keys,
	    const size_t *lens, size_t n, int add);
};

/* Every implementation starts with this. */
struct changes {
	const struct changes_ops *ops;
};

/*
 * The source for the store at path (changes.c picks by its form): for an
 * SQLite file, inotify on its directory plus a look at its write lock, or
 * a poll where inotify is unavailable (then *why says why, for one log
 * line); for a PostgreSQL URI, one LISTEN connection (*why stays "").
 * NULL: memory.
 */
struct changes *changes_open(const char *path, char *why, size_t whylen);

/* The implementations, for changes_open. */
struct changes *changes_sqlite_open(const char *path, char *why,
    size_t whylen);
struct changes *changes_pg_open(const char *uri, char *why, size_t whylen);

/*
 * The host-wide source (changes_host.c), for processes that serve one
 * stream at a time: one process per database reads each commit for all,
 * and wakes only the processes whose streams a row is for. NULL with why
 * when the shared file <path>-sse cannot be used: open changes_open
 * instead.
 */
struct changes *changes_host_open(const char *path, char *why,
    size_t whylen);

static inline int
changes_fd(struct changes *c)
{
	return c->ops->fd(c);
}

static inline int
changes_on_ready(struct changes *c, double now, size_t nstreams)
{
	return c->ops->on_ready(c, now, nstreams);
}

static inline int
changes_due(struct changes *c, double now)
{
	return c->ops->due(c, now);
}

static inline double
changes_deadline(const struct changes *c)
{
	return c->ops->deadline(c);
}

static inline int
changes_cursor(struct changes *c, long long *cursor)
{
	return c->ops->cursor ? c->ops->cursor(c, cursor) : -1;
}

static inline void
changes_saw_row(struct changes *c, const struct outbox_row *row)
{
	if (c->ops->saw_row)
		c->ops->saw_row(c, row);
}

static inline int
changes_holds_rows(const struct changes *c)
{
	return c->ops->holds_rows ? c->ops->holds_rows(c) : 0;
}

static inline int
changes_rows(struct changes *c, long long after, outbox_row_fn fn,
    void *ctx, long long *upto)
{
	return c->ops->rows ? c->ops->rows(c, after, fn, ctx, upto) : -1;
}

static inline void
changes_read_done(struct changes *c, long long cursor)
{
	if (c->ops->read_done)
		c->ops->read_done(c, cursor);
}

static inline void
changes_follow(struct changes *c, const char *const *keys,
    const size_t *lens, size_t n, int add)
{
	if (c->ops->follow)
		c->ops->follow(c, keys, lens, n, add);
}

static inline void
changes_free(struct changes *c)
{
	if (c)
		c->ops->free(c);
}

#endif
