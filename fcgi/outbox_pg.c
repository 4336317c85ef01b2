/* SPDX-License-Identifier: BSD-2-Clause */
/* The PostgreSQL store: connect with libpq, read rows after an id. */
#include "outbox_store.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define OUTBOX_PG_TEXTOID 25	/* pg_type.oid of text */
#define OUTBOX_PG_INT8OID 20	/* ... of bigint */

struct outbox_pg {
	struct outbox base;		/* first: the ops table */
	PGconn *pg;
	int nowait;			/* the event loop's connection */
	int prepared[OUTBOX_MAX_KEYS + 1]; /* fetch_for for n keys is
					 * prepared as "ff<n>" */
};

static const struct outbox_ops outbox_pg_ops;

/*
 * The statements. Ids are positive once committed (placeholders are
 * negative and visible only to their own transaction), so every read
 * sees only rows whose id is final. COLLATE "C": user ids compare as
 * bytes whatever the column's collation (a nondeterministic one could
 * fold ALICE into alice); with the schema's "C" column the index is
 * used as is.
 */
static const char sql_max_id[] =
    "SELECT coalesce(max(id), 0) FROM outbox";
static const char sql_fetch_all[] =
    "SELECT id, user_id, event, data FROM outbox"
    " WHERE id > $1 ORDER BY id LIMIT $2";
/*
 * A stream's rows: one index range of outbox_user_id (user_id, id) per
 * part, each cut at the batch size, merged in id order; so a batch reads
 * at most (keys + 1) x limit rows whatever the backlog. A single OR over
 * user_id was planned as a bitmap scan of every matching row followed by
 * a sort, per batch; with generic plans, as a scan of the primary key
 * that filters the whole backlog.
 * - The broadcast part orders by (user_id, id), the index's own order,
 *   so that no plan can prefer the primary key and a sort.
 * - The upper bound ($2) is applied outside the parts: inside, with
 *   $1, it reads to the planner as a narrow range (a generic plan's
 *   default estimate) and made the primary key look cheap. The parts
 *   have a LIMIT, so PostgreSQL does not push it back in. The first
 *   limit rows of the merge above $1 hold, for each part, only rows
 *   among that part's first limit rows, so cutting each part first
 *   changes nothing.
 */
static const char sql_fetch_for_head[] =
    "SELECT id, user_id, event, data FROM ("
    "(SELECT id, user_id, event, data FROM outbox"
    " WHERE user_id IS NULL AND id > $1 ORDER BY user_id, id LIMIT $3)";
static const char sql_fetch_for_part[] =
    " UNION ALL (SELECT id, user_id, event, data FROM outbox"
    " WHERE user_id COLLATE \"C\" = $%zu AND id > $1 ORDER BY id LIMIT $3)";
static const char sql_fetch_for_tail[] =
    ") AS parts WHERE id <= $2 ORDER BY id LIMIT $3";
/* The sequence's counter survives deleted rows, as AUTOINCREMENT's. */
static const char sql_history[] =
    "SELECT greatest((SELECT coalesce(max(id), 0) FROM outbox),"
    " (SELECT CASE WHEN is_called THEN last_value ELSE 0 END"
    " FROM outbox_id_seq)),"
    " coalesce((SELECT value FROM outbox_meta"
    " WHERE key = 'pruned_through'), 0)";

/* libpq's message on one line: its newlines and tabs become spaces. */
static void
outbox_pg_message(PGconn *pg, char *out, size_t outlen)
{
	const char *msg = pg ? PQerrorMessage(pg) : "out of memory";
	size_t n = 0;

	for (; *msg && n + 1 < outlen; msg++) {
		int space = *msg == '\n' || *msg == '\t' || *msg == ' ';

		if (space && (n == 0 || out[n - 1] == ' '))
			continue;
		out[n++] = space ? ' ' : *msg;
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

/* libpq's message, on one line, after what. */
static int
outbox_pg_fail(PGconn *pg, const char *what, char *err, size_t errlen)
{
	char msg[512];

	outbox_pg_message(pg, msg, sizeof(msg));
	snprintf(err, errlen, "%s: %s", what, msg);
	return -1;
}

/* One statement that must succeed; 0 or -1 with err. */
static int
outbox_pg_exec_ok(PGconn *pg, const char *sql, const char *what, char *err,
    size_t errlen)
{
	PGresult *res = PQexec(pg, sql);
	ExecStatusType st = PQresultStatus(res);

	PQclear(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		return outbox_pg_fail(pg, what, err, errlen);
	return 0;
}

static int
outbox_pg_prepare(PGconn *pg, const char *name, const char *sql, int n,
    const Oid *types, char *err, size_t errlen)
{
	PGresult *res = PQprepare(pg, name, sql, n, types);
	ExecStatusType st = PQresultStatus(res);

	PQclear(res);
	if (st != PGRES_COMMAND_OK)
		return outbox_pg_fail(pg, "preparing a query", err, errlen);
	return 0;
}

static void
outbox_pg_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/*
 * A connection with our settings under the URI's. Keywords are applied
 * in order and the URI (dbname, expanded) replaces what comes before it:
 * the timeouts and keepalives are defaults a URI may change; the client
 * encoding comes after it, because replay compares user ids as the bytes
 * the server stores. PGPASSFILE / passfile= work as libpq documents.
 */
static PGconn *
outbox_pg_connect(const char *uri, int nowait)
{
	const char *keys[] = {
		"fallback_application_name", "connect_timeout",
		"keepalives", "keepalives_idle", "keepalives_interval",
		"keepalives_count", "dbname", "client_encoding", NULL
	};
	const char *vals[] = {
		"sse-outbox", nowait ? "2" : "5",
		"1", "10", "5",
		"3", uri, "UTF8", NULL
	};

	PGconn *pg = PQconnectdbParams(keys, vals, 1);

	/* Server notices would go to stderr unformatted: errors come back
	 * through results, and nothing else needs logging. */
	if (pg)
		PQsetNoticeProcessor(pg, outbox_pg_quiet, NULL);
	return pg;
}

/* The first row's first column as a string, or NULL (res kept). */
static const char *
outbox_pg_value(PGresult *res)
{
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1 ||
	    PQgetisnull(res, 0, 0))
		return NULL;
	return PQgetvalue(res, 0, 0);
}

/*
 * Refuse an outbox we cannot read correctly, with the reason and fix.
 * One round trip: the table, user_id's type, the trigger, the version.
 */
static int
outbox_pg_check(struct outbox_pg *ob, const char *name, char *err,
    size_t errlen)
{
	static const char sql[] =
	    "SELECT to_regclass('outbox') IS NOT NULL,"
	    " (SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
	    "  WHERE attrelid = to_regclass('outbox') AND attname = 'user_id'"
	    "  AND NOT attisdropped),"
	    " EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid ="
	    "  to_regclass('outbox') AND tgname = 'outbox_commit_order'"
	    "  AND tgdeferrable AND tginitdeferred),"
	    " to_regclass('outbox_meta') IS NOT NULL";
	static const char sql_version[] =
	    "SELECT value FROM outbox_meta WHERE key = 'schema_version'";
	const char *enc = PQparameterStatus(ob->pg, "server_encoding");
	PGresult *res = NULL;
	const char *type;
	const char *v;
	long long version = 1;
	int rc = -1;

	if (!enc || strcmp(enc, "UTF8") != 0) {
		snprintf(err, errlen, "database %s is encoded in %s, not UTF8: "
		    "user ids would be converted on the way and could compare "
		    "equal; create the database WITH ENCODING 'UTF8'", name,
		    enc ? enc : "an unknown encoding");
		return -1;
	}
	res = PQexec(ob->pg, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		outbox_pg_fail(ob->pg, "reading the schema", err, errlen);
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		snprintf(err, errlen, "database %s has no outbox table (apply "
		    "sql/schema-postgresql.sql)", name);
		goto out;
	}
	type = PQgetisnull(res, 0, 1) ? "missing" : PQgetvalue(res, 0, 1);
	if (strcmp(type, "text") != 0) {
		snprintf(err, errlen, "database %s: outbox.user_id is %s, not "
		    "text: a user '042' could match 42; declare it text "
		    "(sql/schema-postgresql.sql)", name, type);
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
		snprintf(err, errlen, "database %s: outbox has no deferred "
		    "outbox_commit_order trigger, so ids would follow INSERT "
		    "order, not COMMIT order, and a stream could skip a row "
		    "(apply sql/schema-postgresql.sql)", name);
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 3), "t") != 0) {
		snprintf(err, errlen, "database %s has no outbox_meta table "
		    "(apply sql/schema-postgresql.sql)", name);
		goto out;
	}
	{
		PQclear(res);
		res = PQexec(ob->pg, sql_version);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			outbox_pg_fail(ob->pg, "reading outbox_meta", err,
			    errlen);
			goto out;
		}
		v = outbox_pg_value(res);
		if (v)
			version = strtoll(v, NULL, 10);
		if (version > OUTBOX_SCHEMA_VERSION || version < 1) {
			snprintf(err, errlen, "database %s has outbox schema "
			    "version %lld; this sse-outbox understands up to "
			    "%d (upgrade sse-outbox)", name, version,
			    OUTBOX_SCHEMA_VERSION);
			goto out;
		}
	}
	rc = 0;
out:
	PQclear(res);
	return rc;
}

/*
 * What a new (or reset) connection needs: the timeout, the statements.
 * The event loop's reads are short index scans; a server that takes
 * seconds is an outage, not something to wait on. Requests' connections
 * may wait a little longer. A timeout the URI set (options=-c
 * statement_timeout=...) is kept.
 */
static int
outbox_pg_setup(struct outbox_pg *ob, char *err, size_t errlen)
{
	static const Oid two_int8[] = { OUTBOX_PG_INT8OID, OUTBOX_PG_INT8OID };
	char set[160];

	memset(ob->prepared, 0, sizeof(ob->prepared));
	snprintf(set, sizeof(set), "SELECT set_config('statement_timeout', "
	    "'%d', false) WHERE current_setting('statement_timeout') = '0'",
	    ob->nowait ? 2000 : 5000);
	if (outbox_pg_exec_ok(ob->pg, set, "setting statement_timeout", err,
	    errlen) == -1)
		return -1;
	if (outbox_pg_prepare(ob->pg, "max_id", sql_max_id, 0, NULL, err,
	    errlen) == -1 ||
	    outbox_pg_prepare(ob->pg, "fetch_all", sql_fetch_all, 2,
	    two_int8, err, errlen) == -1 ||
	    outbox_pg_prepare(ob->pg, "history", sql_history, 0, NULL, err,
	    errlen) == -1)
		return -1;
	return 0;
}

/*
 * A statement failed. If the connection itself is gone (the server
 * restarted, a failover, an idle connection cut), connect again once,
 * now: when the server is back this keeps every stream open; when not,
 * the caller reports the outage. Returns 1 when the statement may be
 * run again.
 */
static int
outbox_pg_revive(struct outbox_pg *ob)
{
	char err[256];

	if (PQstatus(ob->pg) != CONNECTION_BAD)
		return 0;
	PQreset(ob->pg);
	if (PQstatus(ob->pg) != CONNECTION_OK)
		return 0;
	return outbox_pg_setup(ob, err, sizeof(err)) == 0;
}

/* PQexecPrepared, run again once on a revived connection. */
static PGresult *
outbox_pg_run(struct outbox_pg *ob, const char *stmt, int n,
    const char *const *params, const int *lens, const int *formats)
{
	PGresult *res = PQexecPrepared(ob->pg, stmt, n, params, lens,
	    formats, 0);

	if (PQresultStatus(res) == PGRES_TUPLES_OK || !outbox_pg_revive(ob))
		return res;
	PQclear(res);
	return PQexecPrepared(ob->pg, stmt, n, params, lens, formats, 0);
}

int
outbox_pg_open(const char *uri, int nowait, struct outbox **obp, char *err,
    size_t errlen)
{
	struct outbox_pg *ob = calloc(1, sizeof(*ob));
	char name[512];

	*obp = NULL;
	if (!ob) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ob->base.ops = &outbox_pg_ops;
	ob->nowait = nowait;
	outbox_describe(uri, name, sizeof(name));
	ob->pg = outbox_pg_connect(uri, nowait);
	if (!ob->pg || PQstatus(ob->pg) != CONNECTION_OK) {
		char what[600];

		snprintf(what, sizeof(what), "cannot connect to %s", name);
		outbox_pg_fail(ob->pg, what, err, errlen);
		goto out;
	}
	if (outbox_pg_check(ob, name, err, errlen) == -1 ||
	    outbox_pg_setup(ob, err, errlen) == -1)
		goto out;
	*obp = &ob->base;
	return 0;
out:
	outbox_pg_ops.close(&ob->base);
	return -1;
}

static void
outbox_pg_close(struct outbox *base)
{
	struct outbox_pg *ob = (struct outbox_pg *)base;

	if (ob->pg)
		PQfinish(ob->pg);
	free(ob);
}

/* Run a prepared statement returning one row of bigints into out[n]. */
static int
outbox_pg_ints(struct outbox_pg *ob, const char *stmt, long long *out,
    int n, const char *what, char *err, size_t errlen)
{
	PGresult *res = outbox_pg_run(ob, stmt, 0, NULL, NULL, NULL);
	int rc = -1;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
	    PQnfields(res) < n) {
		outbox_pg_fail(ob->pg, what, err, errlen);
		goto out;
	}
	for (int i = 0; i < n; i++)
		out[i] = strtoll(PQgetvalue(res, 0, i), NULL, 10);
	rc = 0;
out:
	PQclear(res);
	return rc;
}

static int
outbox_pg_max_id(struct outbox *base, long long *id, char *err,
    size_t errlen)
{
	return outbox_pg_ints((struct outbox_pg *)base, "max_id", id, 1,
	    "reading the newest id", err, errlen);
}

static int
outbox_pg_history(struct outbox *base, long long *high, long long *pruned,
    char *err, size_t errlen)
{
	long long v[2];

	if (outbox_pg_ints((struct outbox_pg *)base, "history", v, 2,
	    "reading the outbox history", err, errlen) == -1)
		return -1;
	*high = v[0];
	*pruned = v[1];
	return 0;
}

/* Hand each row of res to fn, in order. */
static int
outbox_pg_rows(struct outbox_pg *ob, PGresult *res, outbox_row_fn fn,
    void *ctx, int *count, char *err, size_t errlen)
{
	struct outbox_row row;
	int n;

	*count = 0;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return outbox_pg_fail(ob->pg, "reading outbox rows", err,
		    errlen);
	n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		row.id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		/* user_id is text (checked at open): NULL or a key. */
		if (PQgetisnull(res, i, 1)) {
			row.to = OUTBOX_TO_ALL;
			row.user_id = NULL;
			row.user_len = 0;
		} else {
			row.to = OUTBOX_TO_KEY;
			row.user_id = PQgetvalue(res, i, 1);
			row.user_len = (size_t)PQgetlength(res, i, 1);
		}
		row.event = PQgetisnull(res, i, 2) ? NULL :
		    PQgetvalue(res, i, 2);
		row.event_len = row.event ? (size_t)PQgetlength(res, i, 2) : 0;
		row.data = PQgetvalue(res, i, 3);
		row.data_len = (size_t)PQgetlength(res, i, 3);
		(*count)++;
		if (fn(ctx, &row) == -1)
			break;
	}
	return 0;
}

static int
outbox_pg_fetch_all(struct outbox *base, long long after, int limit,
    outbox_row_fn fn, void *ctx, int *count, char *err, size_t errlen)
{
	struct outbox_pg *ob = (struct outbox_pg *)base;
	char a[24];
	char l[24];
	const char *params[2] = { a, l };
	PGresult *res;
	int rc;

	snprintf(a, sizeof(a), "%lld", after);
	snprintf(l, sizeof(l), "%d", limit);
	res = outbox_pg_run(ob, "fetch_all", 2, params, NULL, NULL);
	rc = outbox_pg_rows(ob, res, fn, ctx, count, err, errlen);
	PQclear(res);
	return rc;
}

/*
 * Could the server store this key? A UTF8 database holds only valid
 * UTF-8 without NUL (PostgreSQL's pg_utf8_islegal: no overlong forms, no
 * surrogates, nothing above U+10FFFF). Any other key equals no row; sent
 * as a parameter it would be an error, so it is left out of the query.
 */
static int
outbox_pg_storable(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n;
		unsigned int cp;

		if (c == 0)
			return 0;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + n >= len)
			return 0;
		for (size_t k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return 0;
		i += n + 1;
	}
	return 1;
}

/* The statement for n keys: $1 after, $2 upto, $3 limit, $4.. keys. */
static int
outbox_pg_fetch_for_stmt(struct outbox_pg *ob, size_t n, char *name,
    size_t namelen, char *err, size_t errlen)
{
	Oid types[3 + OUTBOX_MAX_KEYS];
	char sql[4096];	/* 16 parts of about 110 bytes */
	size_t len;

	snprintf(name, namelen, "ff%zu", n);
	if (ob->prepared[n])
		return 0;
	types[0] = types[1] = types[2] = OUTBOX_PG_INT8OID;
	len = (size_t)snprintf(sql, sizeof(sql), "%s", sql_fetch_for_head);
	for (size_t i = 0; i < n && len < sizeof(sql); i++) {
		types[3 + i] = OUTBOX_PG_TEXTOID;
		len += (size_t)snprintf(sql + len, sizeof(sql) - len,
		    sql_fetch_for_part, i + 4);
	}
	if (len < sizeof(sql))
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s",
		    sql_fetch_for_tail);
	if (len >= sizeof(sql)) {
		snprintf(err, errlen, "query for %zu keys too long", n);
		return -1;
	}
	if (outbox_pg_prepare(ob->pg, name, sql, (int)(3 + n), types, err,
	    errlen) == -1)
		return -1;
	ob->prepared[n] = 1;
	return 0;
}

static int
outbox_pg_fetch_for(struct outbox *base, const char *const *keys,
    const size_t *key_lens, size_t nkeys, long long after, long long upto,
    int limit, outbox_row_fn fn, void *ctx, int *count, char *err,
    size_t errlen)
{
	struct outbox_pg *ob = (struct outbox_pg *)base;
	const char *params[3 + OUTBOX_MAX_KEYS];
	int lens[3 + OUTBOX_MAX_KEYS];
	int formats[3 + OUTBOX_MAX_KEYS];
	char nums[3][24];
	char name[16];
	size_t n = 0;
	PGresult *res;
	int rc;

	*count = 0;
	if (nkeys == 0 || nkeys > OUTBOX_MAX_KEYS) {
		snprintf(err, errlen, "a stream needs 1 to %d recipient keys",
		    OUTBOX_MAX_KEYS);
		return -1;
	}
	snprintf(nums[0], sizeof(nums[0]), "%lld", after);
	snprintf(nums[1], sizeof(nums[1]), "%lld", upto);
	snprintf(nums[2], sizeof(nums[2]), "%d", limit);
	for (int i = 0; i < 3; i++) {
		params[i] = nums[i];
		lens[i] = 0;
		formats[i] = 0;
	}
	/* Keys go as binary text: exact bytes, no terminator needed. */
	for (size_t i = 0; i < nkeys; i++) {
		if (!outbox_pg_storable(keys[i], key_lens[i]) ||
		    key_lens[i] > INT_MAX)
			continue;
		params[3 + n] = keys[i];
		lens[3 + n] = (int)key_lens[i];
		formats[3 + n] = 1;
		n++;
	}
	if (outbox_pg_fetch_for_stmt(ob, n, name, sizeof(name), err,
	    errlen) == -1)
		return -1;
	res = outbox_pg_run(ob, name, (int)(3 + n), params, lens, formats);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && !ob->prepared[n] &&
	    PQstatus(ob->pg) == CONNECTION_OK) {
		/* Revived: its statements are new; this one is made again. */
		PQclear(res);
		if (outbox_pg_fetch_for_stmt(ob, n, name, sizeof(name), err,
		    errlen) == -1)
			return -1;
		res = PQexecPrepared(ob->pg, name, (int)(3 + n), params, lens,
		    formats, 0);
	}
	rc = outbox_pg_rows(ob, res, fn, ctx, count, err, errlen);
	PQclear(res);
	return rc;
}

static int
outbox_pg_still_current(const struct outbox *base, const char *path)
{
	(void)base;
	(void)path;
	return 1;
}

static int
outbox_pg_data_version(struct outbox *base, long long *version)
{
	char err[256];

	return outbox_pg_max_id(base, version, err, sizeof(err));
}

static int
outbox_pg_disconnected(const struct outbox *base)
{
	const struct outbox_pg *ob = (const struct outbox_pg *)base;

	return PQstatus(ob->pg) == CONNECTION_BAD;
}

static const struct outbox_ops outbox_pg_ops = {
	.close = outbox_pg_close,
	.max_id = outbox_pg_max_id,
	.fetch_all = outbox_pg_fetch_all,
	.fetch_for = outbox_pg_fetch_for,
	.history = outbox_pg_history,
	.still_current = outbox_pg_still_current,
	.data_version = outbox_pg_data_version,
	.disconnected = outbox_pg_disconnected,
};

/* Run sql with $1 = arg (bigint); the first column of its row into out. */
static int
outbox_pg_one(PGconn *pg, const char *sql, long long arg, long long *out,
    long long *affected)
{
	static const Oid int8[] = { OUTBOX_PG_INT8OID };
	char a[24];
	const char *params[1] = { a };
	PGresult *res;
	ExecStatusType st;

	snprintf(a, sizeof(a), "%lld", arg);
	res = PQexecParams(pg, sql, 1, int8, params, NULL, NULL, 0);
	st = PQresultStatus(res);
	if (st == PGRES_TUPLES_OK && out) {
		const char *v = outbox_pg_value(res);

		*out = v ? strtoll(v, NULL, 10) : LLONG_MAX;
	}
	if (affected)
		*affected = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK ? 0 : -1;
}

/* The same prefix rule as the SQLite store (outbox_sqlite.c). */
static const char sql_prune_keep[] =
    "SELECT id FROM outbox WHERE created_at >= to_timestamp($1)"
    " AND id > 0 ORDER BY id LIMIT 1";
static const char sql_prune_find[] =
    "SELECT coalesce(max(id), 0) FROM outbox WHERE id > 0 AND id < $1";
static const char sql_prune_delete[] =
    "DELETE FROM outbox WHERE id > 0 AND id <= $1";
static const char sql_prune_record[] =
    "INSERT INTO outbox_meta (key, value) VALUES ('pruned_through', $1)"
    " ON CONFLICT (key) DO UPDATE"
    " SET value = greatest(outbox_meta.value, excluded.value)";

int
outbox_pg_prune(const char *uri, long long age, long long now,
    long long *deleted, long long *through, char *err, size_t errlen)
{
	PGconn *pg = outbox_pg_connect(uri, 0);
	long long keep = LLONG_MAX;	/* the oldest young row's id */
	long long has_meta = 0;
	char name[512];
	int rc = -1;

	*deleted = 0;
	*through = 0;
	outbox_describe(uri, name, sizeof(name));
	if (!pg || PQstatus(pg) != CONNECTION_OK) {
		outbox_pg_fail(pg, "opening the database", err, errlen);
		goto out;
	}
	if (outbox_pg_exec_ok(pg, "BEGIN", "starting the transaction", err,
	    errlen) == -1)
		goto out;
	if (outbox_pg_one(pg, "SELECT (to_regclass('outbox_meta') IS NOT NULL)"
	    "::int + 0 * $1", 0, &has_meta, NULL) == -1)
		goto fail;
	if (!has_meta) {
		snprintf(err, errlen, "database %s has no outbox_meta table, "
		    "where prune records what it deleted so that resuming "
		    "clients are told; nothing deleted (apply "
		    "sql/schema-postgresql.sql first)", name);
		goto out;
	}
	/*
	 * One prune at a time: the lock waits for another's commit, then
	 * this one sees its record. Rows committed meanwhile take ids
	 * above every id seen here, so the prefix cannot change under it.
	 */
	if (outbox_pg_exec_ok(pg, "LOCK TABLE outbox_meta IN SHARE ROW "
	    "EXCLUSIVE MODE", "locking outbox_meta", err, errlen) == -1)
		goto out;
	if (outbox_pg_one(pg, sql_prune_keep, now - age, &keep, NULL) == -1 ||
	    outbox_pg_one(pg, sql_prune_find, keep, through, NULL) == -1)
		goto fail;
	if (*through > 0) {
		if (outbox_pg_one(pg, sql_prune_delete, *through, NULL,
		    deleted) == -1 ||
		    outbox_pg_one(pg, sql_prune_record, *through, NULL,
		    NULL) == -1)
			goto fail;
	}
	if (outbox_pg_exec_ok(pg, "COMMIT", "committing", err, errlen) == -1)
		goto out;
	rc = 0;
	goto out;
fail:
	outbox_pg_fail(pg, "pruning (is sql/schema-postgresql.sql applied?)",
	    err, errlen);
out:
	if (pg)
		PQfinish(pg);	/* an open transaction rolls back */
	return rc;
}
