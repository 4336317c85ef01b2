/* The SQLite side: open the outbox, read rows after an id. */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#define OUTBOX_BUSY_MS 2000

struct outbox {
	sqlite3 *db;
	sqlite3_stmt *max_id;		/* SELECT max(id) */
	sqlite3_stmt *fetch_all;	/* rows after an id, any recipient */
	sqlite3_stmt *fetch_for;	/* rows after an id for some keys */
	sqlite3_stmt *data_version;	/* PRAGMA data_version */
};

static const char sql_max_id[] =
    "SELECT coalesce(max(id), 0) FROM outbox";
static const char sql_fetch_all[] =
    "SELECT id, user_id, event, data FROM outbox"
    " WHERE id > ?1 ORDER BY id LIMIT ?2";
/* ?3..?18 are the stream's keys; unused ones are bound to NULL. */
static const char sql_fetch_for[] =
    "SELECT id, user_id, event, data FROM outbox"
    " WHERE id > ?1 AND id <= ?2"
    " AND (user_id IS NULL OR user_id IN"
    " (?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18))"
    " ORDER BY id LIMIT ?19";
static const char sql_data_version[] = "PRAGMA data_version";

static int
outbox_fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what,
	    db ? sqlite3_errmsg(db) : "out of memory");
	return -1;
}

struct outbox *
outbox_open(const char *path, char *err, size_t errlen)
{
	struct outbox *ob = calloc(1, sizeof(*ob));
	int rc;

	if (!ob) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/*
	 * Read-only, never create: a missing database is the operator's
	 * mistake to report, not an empty file to make in its place.
	 */
	rc = sqlite3_open_v2(path, &ob->db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database %s: %s", path,
		    ob->db ? sqlite3_errmsg(ob->db) : sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_busy_timeout(ob->db, OUTBOX_BUSY_MS);
	sqlite3_extended_result_codes(ob->db, 1);
	rc = sqlite3_prepare_v2(ob->db, sql_max_id, -1, &ob->max_id, NULL);
	if (rc != SQLITE_OK) {
		const char *msg = sqlite3_errmsg(ob->db);

		if (strstr(msg, "no such table"))
			snprintf(err, errlen, "database %s has no outbox "
			    "table (apply sql/schema.sql)", path);
		else
			snprintf(err, errlen, "cannot read database %s: %s",
			    path, msg);
		goto out;
	}
	if (sqlite3_prepare_v2(ob->db, sql_fetch_all, -1, &ob->fetch_all,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ob->db, sql_fetch_for, -1, &ob->fetch_for,
	    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(ob->db, sql_data_version, -1,
	    &ob->data_version, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "database %s: outbox lacks the columns "
		    "id, user_id, event, data: %s", path,
		    sqlite3_errmsg(ob->db));
		goto out;
	}
	/* Reading once proves the file is a database we may read. */
	{
		long long id;

		if (outbox_max_id(ob, &id, err, errlen) == -1)
			goto out;
	}
	return ob;
out:
	outbox_close(ob);
	return NULL;
}

void
outbox_close(struct outbox *ob)
{
	if (!ob)
		return;
	sqlite3_finalize(ob->max_id);
	sqlite3_finalize(ob->fetch_all);
	sqlite3_finalize(ob->fetch_for);
	sqlite3_finalize(ob->data_version);
	sqlite3_close(ob->db);
	free(ob);
}

int
outbox_max_id(struct outbox *ob, long long *id, char *err, size_t errlen)
{
	int rc = sqlite3_step(ob->max_id);

	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(ob->max_id, 0);
	sqlite3_reset(ob->max_id);
	if (rc != SQLITE_ROW)
		return outbox_fail(ob->db, "reading the newest id", err,
		    errlen);
	return 0;
}

/* Step st, hand each row to fn; always leaves st reset. */
static int
outbox_run(struct outbox *ob, sqlite3_stmt *st, outbox_row_fn fn, void *ctx,
    int *count, char *err, size_t errlen)
{
	struct outbox_row row;
	int rc;

	*count = 0;
	for (;;) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		row.id = sqlite3_column_int64(st, 0);
		row.user_id = (const char *)sqlite3_column_text(st, 1);
		row.user_len = (size_t)sqlite3_column_bytes(st, 1);
		row.event = (const char *)sqlite3_column_text(st, 2);
		row.event_len = (size_t)sqlite3_column_bytes(st, 2);
		row.data = (const char *)sqlite3_column_text(st, 3);
		row.data_len = (size_t)sqlite3_column_bytes(st, 3);
		if (!row.data)
			row.data_len = 0;
		(*count)++;
		if (fn(ctx, &row) == -1) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return outbox_fail(ob->db, "reading outbox rows", err, errlen);
	return 0;
}

int
outbox_fetch_all(struct outbox *ob, long long after, int limit,
    outbox_row_fn fn, void *ctx, int *count, char *err, size_t errlen)
{
	sqlite3_bind_int64(ob->fetch_all, 1, after);
	sqlite3_bind_int(ob->fetch_all, 2, limit);
	return outbox_run(ob, ob->fetch_all, fn, ctx, count, err, errlen);
}

int
outbox_fetch_for(struct outbox *ob, const char *const *keys,
    const size_t *key_lens, size_t nkeys, long long after, long long upto,
    int limit, outbox_row_fn fn, void *ctx, int *count, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = ob->fetch_for;

	if (nkeys > OUTBOX_MAX_KEYS) {
		snprintf(err, errlen, "too many recipient keys");
		return -1;
	}
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, upto);
	for (size_t i = 0; i < OUTBOX_MAX_KEYS; i++) {
		if (i < nkeys)
			sqlite3_bind_text(st, (int)i + 3, keys[i],
			    (int)key_lens[i], SQLITE_STATIC);
		else
			sqlite3_bind_null(st, (int)i + 3);
	}
	sqlite3_bind_int(st, 19, limit);
	return outbox_run(ob, st, fn, ctx, count, err, errlen);
}

int
outbox_data_version(struct outbox *ob, long long *version)
{
	int rc = sqlite3_step(ob->data_version);

	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int64(ob->data_version, 0);
	sqlite3_reset(ob->data_version);
	return rc == SQLITE_ROW ? 0 : -1;
}
