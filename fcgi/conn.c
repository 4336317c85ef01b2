/* SPDX-License-Identifier: BSD-2-Clause */
/* A process's database connections: the loop's own, and admission's. */
#include "conn.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "log.h"

/*
 * Two connections, and why they live together: SQLite shares one mapping
 * of the wal-index (-shm) among all connections of a process to the same
 * database file. After an operator deletes -wal and -shm, a connection
 * opened while any old one is still open inherits the deleted -shm and
 * never sees a commit again. So when the loop drops the store, admission's
 * connection is closed too before either is opened again.
 */
struct conn {
	const char *path;
	struct outbox *ob;	/* NULL while the database is down */
	double retry_at;	/* next attempt while down */
	int down_logged;	/* the outage is already in the log */
	int busy;		/* the last attempt found it busy */
	int rested;		/* closed by conn_rest, not by an error */
	pthread_mutex_t admit_lock;	/* held while admission uses: */
	struct outbox *admit_ob;	/* its connection, kept between
					 * requests (it may wait: the loop
					 * never does) */
	atomic_int admit_stale;	/* the loop dropped the store while
				 * admission held admit_ob */
};

struct conn *
conn_new(const char *path)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->path = path;
	pthread_mutex_init(&c->admit_lock, NULL);
	atomic_init(&c->admit_stale, 0);
	return c;
}

void
conn_free(struct conn *c)
{
	if (!c)
		return;
	outbox_close(c->ob);
	outbox_close(c->admit_ob);
	pthread_mutex_destroy(&c->admit_lock);
	free(c);
}

/* Close admission's connection now if it is not in use; else mark it,
 * and its user closes it. 1 when it is closed. */
static int
conn_close_admission(struct conn *c)
{
	if (pthread_mutex_trylock(&c->admit_lock) != 0) {
		atomic_store(&c->admit_stale, 1);
		return 0;
	}
	outbox_close(c->admit_ob);
	c->admit_ob = NULL;
	atomic_store(&c->admit_stale, 0);
	pthread_mutex_unlock(&c->admit_lock);
	return 1;
}

struct outbox *
conn_admit_acquire(struct conn *c, char *err, size_t errlen)
{
	pthread_mutex_lock(&c->admit_lock);
	/* Dropped by the loop, or a database replaced since: read the one
	 * there now. */
	if (c->admit_ob && (atomic_exchange(&c->admit_stale, 0) ||
	    !outbox_still_current(c->admit_ob, c->path))) {
		outbox_close(c->admit_ob);
		c->admit_ob = NULL;
	}
	if (!c->admit_ob)
		c->admit_ob = outbox_open(c->path, err, errlen);
	if (!c->admit_ob) {
		int open_errno = errno;	/* outbox_open's, for the caller */

		pthread_mutex_unlock(&c->admit_lock);
		errno = open_errno;
		return NULL;
	}
	return c->admit_ob;
}

void
conn_admit_release(struct conn *c, int close_it)
{
	if (close_it || atomic_exchange(&c->admit_stale, 0)) {
		outbox_close(c->admit_ob);
		c->admit_ob = NULL;
	}
	pthread_mutex_unlock(&c->admit_lock);
}

struct outbox *
conn_get(struct conn *c, double now, int *fresh)
{
	char err[OUTBOX_ERR_LEN];

	int rc;

	*fresh = 0;
	if (c->ob)
		return c->ob;
	if (now < c->retry_at)
		return NULL;
	/* Admission still holds a connection from before the drop. */
	if (atomic_load(&c->admit_stale) && !conn_close_admission(c)) {
		c->busy = 1;
		c->retry_at = now + CONN_BUSY_RETRY;
		return NULL;
	}
	rc = outbox_open_nowait(c->path, &c->ob, err, sizeof(err));
	c->busy = rc == OUTBOX_AGAIN;
	if (c->busy) {
		/* Another process is recovering the wal-index: soon. */
		c->retry_at = now + CONN_BUSY_RETRY;
		return NULL;
	}
	c->retry_at = now + CONN_REOPEN;
	if (rc != 0) {
		/* Once per outage: requests log their own 503s meanwhile. */
		if (!c->down_logged)
			log_warnx("%s; retrying every %.0f s", err,
			    CONN_REOPEN);
		c->down_logged = 1;
		return NULL;
	}
	if (c->down_logged) {
		char name[512];

		outbox_describe(c->path, name, sizeof(name));
		log_info("database %s is readable again", name);
	}
	c->down_logged = 0;
	c->retry_at = 0;
	*fresh = !c->rested;
	c->rested = 0;
	return c->ob;
}

struct outbox *
conn_current(const struct conn *c)
{
	return c->ob;
}

void
conn_drop(struct conn *c)
{
	outbox_close(c->ob);
	c->ob = NULL;
	c->rested = 0;
	(void)conn_close_admission(c);
}

void
conn_rest(struct conn *c)
{
	if (!c->ob)
		return;
	conn_drop(c);
	c->rested = 1;
	c->retry_at = 0;
}

void
conn_retry_now(struct conn *c)
{
	c->retry_at = 0;
}

int
conn_busy(const struct conn *c)
{
	return c->busy;
}

double
conn_retry_at(const struct conn *c)
{
	return c->ob ? 0 : c->retry_at;
}
