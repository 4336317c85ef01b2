/* The SQLite side: open the outbox, read rows after an id. */
#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include <sqlite3.h>

#define OUTBOX_BUSY_MS 2000

struct outbox {
	sqlite3 *db;
	sqlite3_stmt *max_id;		/* SELECT max(id) */
	sqlite3_stmt *fetch_all;	/* rows after an id, any recipient */
	sqlite3_stmt *fetch_for[OUTBOX_MAX_KEYS]; /* [n-1]: for n keys,
					 * prepared on first use */
	dev_t dev;			/* the file opened, to notice when */
	ino_t ino;			/* the path names another one */
	sqlite3_stmt *data_version;	/* PRAGMA data_version */
	sqlite3_stmt *history;		/* high-water mark and pruned id */
};

static const char sql_max_id[] =
    "SELECT coalesce(max(id), 0) FROM outbox";
static const char sql_fetch_all[] =
    "SELECT id, user_id, event, data FROM outbox"
    " WHERE id > ?1 ORDER BY id LIMIT ?2";
/*
 * A stream's rows: broadcasts plus each of its keys, one index range per
 * part, merged in id order. SQLite runs UNION ALL ... ORDER BY as a merge
 * of the parts' index scans, so LIMIT stops after one batch whatever the
 * backlog; a single OR over user_id was planned as a multi-index OR with
 * a sort of the whole backlog for every batch.
 */
static const char sql_fetch_for_head[] =
    "SELECT id, user_id, event, data FROM outbox"
    " WHERE user_id IS NULL AND id > ?1 AND id <= ?2";
static const char sql_fetch_for_part[] =
    " UNION ALL SELECT id, user_id, event, data FROM outbox"
    " WHERE user_id = ?%zu AND id > ?1 AND id <= ?2";
static const char sql_fetch_for_tail[] = " ORDER BY id LIMIT ?3";

static const char sql_data_version[] = "PRAGMA data_version";
/* outbox_meta is optional: a database made from the bare CREATE TABLE of
 * the contract has none and counts as schema version 1, never pruned. */
static const char sql_has_meta[] =
    "SELECT 1 FROM sqlite_master WHERE type = 'table'"
    " AND name = 'outbox_meta'";
static const char sql_schema_version[] =
    "SELECT value FROM outbox_meta WHERE key = 'schema_version'";
static const char sql_history_meta[] =
    "SELECT max(coalesce((SELECT max(id) FROM outbox), 0),"
    " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)),"
    " coalesce((SELECT value FROM outbox_meta"
    " WHERE key = 'pruned_through'), 0)";
static const char sql_history_bare[] =
    "SELECT max(coalesce((SELECT max(id) FROM outbox), 0),"
    " coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0)),"
    " 0";

static int
outbox_fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what,
	    db ? sqlite3_errmsg(db) : "out of memory");
	return -1;
}

/* Refuse a schema newer than this program; prepare the history query. */
static int
outbox_check_schema(struct outbox *ob, const char *path, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int has_meta = 0;
	long long version = 1;
	int rc;

	if (sqlite3_prepare_v2(ob->db, sql_has_meta, -1, &st, NULL) !=
	    SQLITE_OK)
		return outbox_fail(ob->db, "reading the schema", err, errlen);
	has_meta = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	st = NULL;
	if (has_meta) {
		if (sqlite3_prepare_v2(ob->db, sql_schema_version, -1, &st,
		    NULL) != SQLITE_OK)
			return outbox_fail(ob->db, "reading outbox_meta", err,
			    errlen);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			version = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		if (version > OUTBOX_SCHEMA_VERSION || version < 1) {
			snprintf(err, errlen, "database %s has outbox schema "
			    "version %lld; this sse-outbox understands up to "
			    "%d (upgrade sse-outbox)", path, version,
			    OUTBOX_SCHEMA_VERSION);
			return -1;
		}
	}
	if (sqlite3_prepare_v2(ob->db, has_meta ? sql_history_meta :
	    sql_history_bare, -1, &ob->history, NULL) != SQLITE_OK)
		return outbox_fail(ob->db, "preparing the history query", err,
		    errlen);
	return 0;
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
	    sqlite3_prepare_v2(ob->db, sql_data_version, -1,
	    &ob->data_version, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "database %s: outbox lacks the columns "
		    "id, user_id, event, data: %s", path,
		    sqlite3_errmsg(ob->db));
		goto out;
	}
	if (outbox_check_schema(ob, path, err, errlen) == -1)
		goto out;
	{
		struct stat st;

		if (stat(path, &st) == 0) {
			ob->dev = st.st_dev;
			ob->ino = st.st_ino;
		}
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
	for (size_t i = 0; i < OUTBOX_MAX_KEYS; i++)
		sqlite3_finalize(ob->fetch_for[i]);
	sqlite3_finalize(ob->data_version);
	sqlite3_finalize(ob->history);
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

/* The statement for n keys: parameters ?1 after, ?2 upto, ?3 limit,
 * ?4.. the keys. */
static sqlite3_stmt *
outbox_fetch_for_stmt(struct outbox *ob, size_t n, char *err, size_t errlen)
{
	char sql[2048];
	size_t len;

	if (ob->fetch_for[n - 1])
		return ob->fetch_for[n - 1];
	len = (size_t)snprintf(sql, sizeof(sql), "%s", sql_fetch_for_head);
	for (size_t i = 0; i < n && len < sizeof(sql); i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len,
		    sql_fetch_for_part, i + 4);
	if (len < sizeof(sql))
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s",
		    sql_fetch_for_tail);
	if (len >= sizeof(sql)) {
		snprintf(err, errlen, "query for %zu keys too long", n);
		return NULL;
	}
	if (sqlite3_prepare_v2(ob->db, sql, -1, &ob->fetch_for[n - 1], NULL)
	    != SQLITE_OK) {
		outbox_fail(ob->db, "preparing a stream's query", err, errlen);
		return NULL;
	}
	return ob->fetch_for[n - 1];
}

int
outbox_fetch_for(struct outbox *ob, const char *const *keys,
    const size_t *key_lens, size_t nkeys, long long after, long long upto,
    int limit, outbox_row_fn fn, void *ctx, int *count, char *err,
    size_t errlen)
{
	sqlite3_stmt *st;

	*count = 0;
	if (nkeys == 0 || nkeys > OUTBOX_MAX_KEYS) {
		snprintf(err, errlen, "a stream needs 1 to %d recipient keys",
		    OUTBOX_MAX_KEYS);
		return -1;
	}
	st = outbox_fetch_for_stmt(ob, nkeys, err, errlen);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, upto);
	sqlite3_bind_int(st, 3, limit);
	for (size_t i = 0; i < nkeys; i++)
		sqlite3_bind_text(st, (int)i + 4, keys[i], (int)key_lens[i],
		    SQLITE_STATIC);
	return outbox_run(ob, st, fn, ctx, count, err, errlen);
}

int
outbox_still_current(const struct outbox *ob, const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return 0;
	return st.st_dev == ob->dev && st.st_ino == ob->ino;
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

int
outbox_history(struct outbox *ob, long long *high, long long *pruned,
    char *err, size_t errlen)
{
	int rc = sqlite3_step(ob->history);

	if (rc == SQLITE_ROW) {
		*high = sqlite3_column_int64(ob->history, 0);
		*pruned = sqlite3_column_int64(ob->history, 1);
	}
	sqlite3_reset(ob->history);
	if (rc != SQLITE_ROW)
		return outbox_fail(ob->db, "reading the outbox history", err,
		    errlen);
	return 0;
}

static const char sql_prune_find[] =
    "SELECT max(id), count(*) FROM outbox WHERE created_at < ?1";
static const char sql_prune_delete[] = "DELETE FROM outbox WHERE id <= ?1";
static const char sql_prune_record[] =
    "INSERT INTO outbox_meta (key, value) VALUES ('pruned_through', ?1)"
    " ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)";

/*
 * Run sql with ?1 = arg to its end; with out, the first column of its one
 * row goes there. 0, or -1 (the error stays in db).
 */
static int
outbox_run_int64(sqlite3 *db, const char *sql, long long arg,
    long long *out)
{
	sqlite3_stmt *st = NULL;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, arg);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && out) {
		*out = sqlite3_column_int64(st, 0);
		rc = sqlite3_step(st);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
outbox_prune(const char *path, long long age, long long now,
    long long *deleted, long long *through, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = -1;

	*deleted = 0;
	*through = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		outbox_fail(db, "opening the database", err, errlen);
		goto out;
	}
	sqlite3_busy_timeout(db, 10000);
	/* IMMEDIATE: the newest old row cannot change under the DELETE. */
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		outbox_fail(db, "starting the transaction", err, errlen);
		goto out;
	}
	if (outbox_run_int64(db, sql_prune_find, now - age, through) == -1)
		goto fail;
	if (*through > 0) {
		if (outbox_run_int64(db, sql_prune_delete, *through, NULL) ==
		    -1)
			goto fail;
		*deleted = sqlite3_changes(db);
		if (outbox_run_int64(db, sql_prune_record, *through, NULL) ==
		    -1)
			goto fail;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	rc = 0;
	goto out;
fail:
	outbox_fail(db, "pruning (is sql/schema.sql applied?)", err, errlen);
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
out:
	sqlite3_close(db);
	return rc;
}
