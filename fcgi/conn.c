/* The event loop's own database connection: open, lose, reopen. */
#include "conn.h"

#include <stdlib.h>

#include "log.h"

struct conn {
	const char *path;
	struct outbox *ob;	/* NULL while the database is down */
	double retry_at;	/* next attempt while down */
	int down_logged;	/* the outage is already in the log */
	int busy;		/* the last attempt found it busy */
};

struct conn *
conn_new(const char *path)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c)
		c->path = path;
	return c;
}

void
conn_free(struct conn *c)
{
	if (!c)
		return;
	outbox_close(c->ob);
	free(c);
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
	*fresh = 1;
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
