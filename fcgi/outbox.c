/* SPDX-License-Identifier: BSD-2-Clause */
/* The store: picks SQLite or PostgreSQL by the form of SSE_DB. */
#include "outbox.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "outbox_store.h"
#include "pq_load.h"

int
outbox_is_postgres(const char *db)
{
	/* libpq's own URI prefixes (case-sensitive, as libpq reads them). */
	return strncmp(db, "postgresql://", 13) == 0 ||
	    strncmp(db, "postgres://", 11) == 0;
}

/*
 * A password may sit in the URI's user info (user:secret@) or in a
 * password= parameter; both become "***". Everything else is kept, so
 * that the log says which server and database.
 */
void
outbox_describe(const char *db, char *out, size_t outlen)
{
	const char *p = db;
	const char *auth_end;
	const char *colon;
	size_t len = 0;

	out[0] = '\0';
	if (!outbox_is_postgres(db)) {
		snprintf(out, outlen, "%s", db);
		return;
	}
#define OUTBOX_PUT(s, n) do {						\
	if (len < outlen)						\
		len += (size_t)snprintf(out + len, outlen - len, "%.*s",	\
		    (int)(n), (s));						\
} while (0)
	p = strstr(db, "://") + 3;
	OUTBOX_PUT(db, p - db);
	auth_end = p + strcspn(p, "@/?");
	if (*auth_end == '@') {
		colon = memchr(p, ':', (size_t)(auth_end - p));
		if (colon) {
			OUTBOX_PUT(p, colon - p);
			OUTBOX_PUT(":***", 4);
			p = auth_end;
		}
	}
	while (*p) {
		size_t n = strcspn(p, "?&");

		if (p != db && (p[-1] == '?' || p[-1] == '&') &&
		    strncmp(p, "password=", 9) == 0) {
			OUTBOX_PUT("password=***", 12);
		} else {
			OUTBOX_PUT(p, n);
		}
		p += n;
		if (*p) {
			OUTBOX_PUT(p, 1);
			p++;
		}
	}
#undef OUTBOX_PUT
}

/* libpq is loaded only here, for the first PostgreSQL store. */
static int
outbox_open_store(const char *path, int nowait, struct outbox **ob,
    char *err, size_t errlen)
{
	*ob = NULL;
	/* outbox.h: after a failure EMFILE or ENFILE in errno means this
	 * open ran out of descriptors; one left from an earlier call (an
	 * accept that failed so) must not read as that. SQLite's open sets
	 * errno itself; libpq's leaves whatever its last call set. */
	errno = 0;
	if (!outbox_is_postgres(path))
		return outbox_sqlite_open(path, nowait, ob, err, errlen);
	if (pq_load(err, errlen) == -1)
		return -1;
	return outbox_pg_open(path, nowait, ob, err, errlen);
}

struct outbox *
outbox_open(const char *path, char *err, size_t errlen)
{
	struct outbox *ob = NULL;

	if (outbox_open_store(path, 0, &ob, err, errlen) != 0)
		return NULL;
	return ob;
}

int
outbox_open_nowait(const char *path, struct outbox **ob, char *err,
    size_t errlen)
{
	return outbox_open_store(path, 1, ob, err, errlen);
}

void
outbox_close(struct outbox *ob)
{
	if (ob)
		ob->ops->close(ob);
}

int
outbox_disconnected(const struct outbox *ob)
{
	return ob->ops->disconnected ? ob->ops->disconnected(ob) : 0;
}

int
outbox_max_id(struct outbox *ob, long long *id, char *err, size_t errlen)
{
	return ob->ops->max_id(ob, id, err, errlen);
}

int
outbox_fetch_all(struct outbox *ob, long long after, int limit,
    outbox_row_fn fn, void *ctx, int *count, char *err, size_t errlen)
{
	return ob->ops->fetch_all(ob, after, limit, fn, ctx, count, err,
	    errlen);
}

int
outbox_fetch_for(struct outbox *ob, const char *const *keys,
    const size_t *key_lens, size_t nkeys, long long after, long long upto,
    int limit, outbox_row_fn fn, void *ctx, int *count, char *err,
    size_t errlen)
{
	return ob->ops->fetch_for(ob, keys, key_lens, nkeys, after, upto,
	    limit, fn, ctx, count, err, errlen);
}

int
outbox_history(struct outbox *ob, long long *high, long long *pruned,
    char *err, size_t errlen)
{
	return ob->ops->history(ob, high, pruned, err, errlen);
}

int
outbox_prune(const char *path, long long age, long long now,
    long long *deleted, long long *through, char *err, size_t errlen)
{
	if (outbox_is_postgres(path)) {
		if (pq_load(err, errlen) == -1)
			return -1;
		return outbox_pg_prune(path, age, now, deleted, through, err,
		    errlen);
	}
	return outbox_sqlite_prune(path, age, now, deleted, through, err,
	    errlen);
}

int
outbox_still_current(const struct outbox *ob, const char *path)
{
	return ob->ops->still_current(ob, path);
}

int
outbox_data_version(struct outbox *ob, long long *version)
{
	return ob->ops->data_version(ob, version);
}
