/* SPDX-License-Identifier: BSD-2-Clause */
/* The SQLite store: open the outbox file, read rows after an id. */
#include "outbox_store.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <unistd.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "log.h"

#define OUTBOX_BUSY_MS 2000

/*
 * Memory. Under CGI or mod_fcgid every stream is a process holding one
 * or two connections, so what SQLite allocates per connection is paid
 * per stream (docs/performance.md). Each read runs in its own WAL read
 * transaction, and SQLite drops a connection's page cache whenever a
 * commit came between two of them: a cache larger than one query's
 * working set (the b-tree's inner pages and a few leaves) holds pages
 * that are never read again. OUTBOX_CACHE_PAGES bounds it. The process-
 * wide settings (outbox_sqlite_setup) drop what SQLite allocates up
 * front: 20 pages (87 KiB) per connection at its first read, and
 * lookaside (where the library has it; Debian builds it without).
 */
#define OUTBOX_CACHE_PAGES 16

static const struct outbox_ops outbox_sqlite_ops;

/* A file as it was when the connection was opened. */
struct outbox_file {
	char *path;			/* symbolic links resolved */
	dev_t dev;
	ino_t ino;
	int known;			/* 0: it did not exist; not compared */
};

struct outbox_sqlite {
	struct outbox base;		/* first: the ops table */
	sqlite3 *db;
	sqlite3_stmt *max_id;		/* SELECT max(id) */
	sqlite3_stmt *fetch_all;	/* rows after an id, any recipient */
	sqlite3_stmt *fetch_for[OUTBOX_MAX_KEYS]; /* [n-1]: for n keys,
					 * prepared on first use */
	struct outbox_file files[3];	/* database, -wal, -shm: to notice
					 * when the path names others */
	sqlite3_stmt *data_version;	/* PRAGMA data_version */
	sqlite3_stmt *history;		/* high-water mark and pruned id */
	int nowait;			/* BUSY is OUTBOX_AGAIN, not waited */
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
/*
 * COLLATE BINARY: bytes, whatever collation the column was declared with
 * (a NOCASE column must not give ALICE the rows of alice). With the usual
 * BINARY column this is the index's own collation, so the plan is the
 * same. TEXT affinity (checked at open) keeps a BLOB from ever equalling
 * the text key, as the live path's rule says (enum outbox_to).
 */
static const char sql_fetch_for_part[] =
    " UNION ALL SELECT id, user_id, event, data FROM outbox"
    " WHERE user_id = ?%zu COLLATE BINARY AND id > ?1 AND id <= ?2";
static const char sql_fetch_for_tail[] = " ORDER BY id LIMIT ?3";

static const char sql_data_version[] = "PRAGMA data_version";
#define OUTBOX_STR(x) OUTBOX_STR2(x)
#define OUTBOX_STR2(x) #x
static const char sql_cache_size[] =
    "PRAGMA cache_size = " OUTBOX_STR(OUTBOX_CACHE_PAGES);
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

/* Is rc a lock held by another connection (try again), not a fault? */
static int
outbox_is_busy(int rc)
{
	return (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
}

/*
 * outbox_fail, except that on a no-wait connection a lock held elsewhere
 * is OUTBOX_AGAIN.
 */
static int
outbox_fail_rc(struct outbox_sqlite *ob, int rc, const char *what, char *err,
    size_t errlen)
{
	outbox_fail(ob->db, what, err, errlen);
	return ob->nowait && outbox_is_busy(rc) ? OUTBOX_AGAIN : -1;
}

/* Refuse a schema newer than this program; prepare the history query. */
static int
outbox_check_schema(struct outbox_sqlite *ob, const char *path, char *err,
    size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int has_meta = 0;
	long long version = 1;
	int rc;

	rc = sqlite3_prepare_v2(ob->db, sql_has_meta, -1, &st, NULL);
	if (rc != SQLITE_OK)
		return outbox_fail_rc(ob, rc, "reading the schema", err,
		    errlen);
	rc = sqlite3_step(st);
	has_meta = rc == SQLITE_ROW;
	sqlite3_finalize(st);
	st = NULL;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return outbox_fail_rc(ob, rc, "reading the schema", err,
		    errlen);
	if (has_meta) {
		rc = sqlite3_prepare_v2(ob->db, sql_schema_version, -1, &st,
		    NULL);
		if (rc != SQLITE_OK)
			return outbox_fail_rc(ob, rc, "reading outbox_meta",
			    err, errlen);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			version = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return outbox_fail_rc(ob, rc, "reading outbox_meta",
			    err, errlen);
		if (version > OUTBOX_SCHEMA_VERSION || version < 1) {
			snprintf(err, errlen, "database %s has outbox schema "
			    "version %lld; this sse-outbox understands up to "
			    "%d (upgrade sse-outbox)", path, version,
			    OUTBOX_SCHEMA_VERSION);
			return -1;
		}
	}
	rc = sqlite3_prepare_v2(ob->db, has_meta ? sql_history_meta :
	    sql_history_bare, -1, &ob->history, NULL);
	if (rc != SQLITE_OK)
		return outbox_fail_rc(ob, rc, "preparing the history query",
		    err, errlen);
	return 0;
}

/*
 * The one-text-column answer of sql into out ("" when it has no row).
 * 0, -1 or OUTBOX_AGAIN with err.
 */
static int
outbox_pragma_text(struct outbox_sqlite *ob, const char *sql, char *out,
    size_t outlen, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	const unsigned char *v;
	int rc;

	out[0] = '\0';
	rc = sqlite3_prepare_v2(ob->db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(st);
		v = rc == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
		if (v)
			snprintf(out, outlen, "%s", (const char *)v);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE && rc != SQLITE_OK)
		return outbox_fail_rc(ob, rc, "reading the database's settings",
		    err, errlen);
	return 0;
}

/*
 * SQLite's affinity rules (datatype3.html, 3.1), in their order: INT
 * gives INTEGER; else CHAR, CLOB or TEXT gives TEXT. So "STRING" is
 * NUMERIC and "CHARINT" is INTEGER.
 */
static int
outbox_is_text_affinity(const char *type)
{
	if (strcasestr(type, "INT"))
		return 0;
	return strcasestr(type, "CHAR") || strcasestr(type, "CLOB") ||
	    strcasestr(type, "TEXT");
}

static const char sql_encoding[] = "PRAGMA encoding";
static const char sql_journal_mode[] = "PRAGMA journal_mode";
static const char sql_user_id_type[] =
    "SELECT type FROM pragma_table_info('outbox')"
    " WHERE name = 'user_id' COLLATE NOCASE";

/*
 * Replay must compare user ids byte for byte, exactly as live delivery
 * does, and commits must be watchable: refuse what would break either.
 * Asked after a first read, when journal_mode reflects the file.
 */
static int
outbox_check_format(struct outbox_sqlite *ob, const char *path, char *err,
    size_t errlen)
{
	char v[64];
	int rc;

	rc = outbox_pragma_text(ob, sql_journal_mode, v, sizeof(v), err,
	    errlen);
	if (rc != 0)
		return rc;
	if (strcasecmp(v, "wal") != 0) {
		snprintf(err, errlen, "database %s is not in WAL mode "
		    "(journal_mode=%s); fix: sqlite3 %s 'PRAGMA "
		    "journal_mode=WAL' (in this mode readers wait on every "
		    "commit and commits cannot be watched)", path, v, path);
		return -1;
	}
	rc = outbox_pragma_text(ob, sql_encoding, v, sizeof(v), err, errlen);
	if (rc != 0)
		return rc;
	if (strcasecmp(v, "UTF-8") != 0) {
		snprintf(err, errlen, "database %s is encoded in %s, not "
		    "UTF-8: user ids that are not valid UTF-8 would be "
		    "converted and compare equal; make a new database "
		    "(the encoding cannot change once it has tables)", path,
		    v);
		return -1;
	}
	rc = outbox_pragma_text(ob, sql_user_id_type, v, sizeof(v), err,
	    errlen);
	if (rc != 0)
		return rc;
	if (!outbox_is_text_affinity(v)) {
		snprintf(err, errlen, "database %s: outbox.user_id is declared "
		    "%s%s%s, not of TEXT affinity: a user '042' would replay "
		    "the rows of 42; declare it TEXT (sql/schema.sql)", path,
		    v[0] ? "'" : "with no type", v, v[0] ? "'" : "");
		return -1;
	}
	return 0;
}

/*
 * Remember which files path, path-wal and path-shm are (symbolic links
 * resolved as SQLite resolves them). which 0, the database: before the
 * open, so that a replacement racing it makes outbox_still_current say 0
 * (a needless reopen), never 1 for a file the connection did not open.
 * which 1 and 2 after the first read, once SQLite has them open.
 */
static int
outbox_note_file(struct outbox_sqlite *ob, int which, const char *path, char *err,
    size_t errlen)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	struct outbox_file *f = &ob->files[which];
	struct stat st;
	char *real;

	if (which == 0) {
		real = realpath(path, NULL);
		if (!real) {
			snprintf(err, errlen, "cannot open database %s: %s",
			    path, strerror(errno));
			return -1;
		}
		f->path = real;
	} else if (asprintf(&f->path, "%s%s", ob->files[0].path,
	    suffix[which]) < 0) {
		f->path = NULL;
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (stat(f->path, &st) == 0) {
		f->dev = st.st_dev;
		f->ino = st.st_ino;
		f->known = 1;
	}
	return 0;
}

/*
 * SQLite says "attempt to write a readonly database" or "unable to open
 * database file" when a reader cannot create or write the -wal and -shm
 * files beside the database (WAL mode needs them even to read). Say
 * which directory this user must be able to write, and how, after
 * SQLite's own words in err.
 */
static void
outbox_explain_access(const char *path, char *err, size_t errlen)
{
	struct passwd *pw = getpwuid(geteuid());
	struct group *gr = getgrgid(getegid());
	char user[64];
	char group[64];
	char *copy;
	char *dir;
	size_t used = strlen(err);

	if (!strstr(err, "readonly") && !strstr(err, "unable to open"))
		return;
	copy = strdup(path);
	if (!copy)
		return;
	dir = dirname(copy);
	snprintf(user, sizeof(user), "%s", pw ? pw->pw_name : "?");
	snprintf(group, sizeof(group), "%s", gr ? gr->gr_name : "?");
	if (!pw)
		snprintf(user, sizeof(user), "uid %ld", (long)geteuid());
	if (!gr)
		snprintf(group, sizeof(group), "%ld", (long)getegid());
	if (access(dir, W_OK | X_OK) == -1)
		snprintf(err + used, errlen - used, ": the directory %s must "
		    "be writable by %s (SQLite creates the -wal and -shm "
		    "files there, even to read); fix: chgrp %s %s %s && "
		    "chmod g+rwxs %s && chmod g+rw %s", dir, user, group, dir,
		    path, dir, path);
	else
		snprintf(err + used, errlen - used, ": %s, %s-wal and "
		    "%s-shm must be writable by %s; fix: chgrp %s %s* && "
		    "chmod g+rw %s*", path, path, path, user, group, path,
		    path);
	free(copy);
}

static pthread_once_t outbox_sqlite_once = PTHREAD_ONCE_INIT;

/*
 * Before SQLite initialises (the first open). A process that used SQLite
 * before (a unit test) gets SQLITE_MISUSE and SQLite's defaults.
 */
static void
outbox_sqlite_setup(void)
{
	/* No per-allocation bookkeeping (a mutex), which nothing reads. */
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	/* Pages allocated as read, never 20 of them up front. */
	(void)sqlite3_config(SQLITE_CONFIG_PAGECACHE, NULL, 0, 0);
	(void)sqlite3_config(SQLITE_CONFIG_LOOKASIDE, 0, 0);
}

/* outbox_open and outbox_open_nowait: 0, -1 or OUTBOX_AGAIN, with err. */
static int
outbox_open_with(const char *path, int nowait, struct outbox_sqlite **obp,
    char *err, size_t errlen)
{
	struct outbox_sqlite *ob = calloc(1, sizeof(*ob));
	long long id;
	int sys_errno;
	int ret = -1;
	int rc;

	*obp = NULL;
	if (!ob) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ob->base.ops = &outbox_sqlite_ops;
	ob->nowait = nowait;
	if (outbox_note_file(ob, 0, path, err, errlen) == -1)
		goto out;
	pthread_once(&outbox_sqlite_once, outbox_sqlite_setup);
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
	/* An event loop must not sleep in SQLite's busy handler. */
	sqlite3_busy_timeout(ob->db, nowait ? 0 : OUTBOX_BUSY_MS);
	sqlite3_extended_result_codes(ob->db, 1);
	/* Sets a number; reads nothing, cannot be busy. */
	(void)sqlite3_exec(ob->db, sql_cache_size, NULL, NULL, NULL);
	rc = sqlite3_prepare_v2(ob->db, sql_max_id, -1, &ob->max_id, NULL);
	if (rc != SQLITE_OK) {
		const char *msg = sqlite3_errmsg(ob->db);

		if (strstr(msg, "no such table"))
			snprintf(err, errlen, "database %s has no outbox "
			    "table (apply sql/schema.sql)", path);
		else
			snprintf(err, errlen, "cannot read database %s: %s",
			    path, msg);
		outbox_explain_access(path, err, errlen);
		if (nowait && outbox_is_busy(rc))
			ret = OUTBOX_AGAIN;
		goto out;
	}
	rc = sqlite3_prepare_v2(ob->db, sql_fetch_all, -1, &ob->fetch_all,
	    NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(ob->db, sql_data_version, -1,
		    &ob->data_version, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "database %s: outbox lacks the columns "
		    "id, user_id, event, data: %s", path,
		    sqlite3_errmsg(ob->db));
		if (nowait && outbox_is_busy(rc))
			ret = OUTBOX_AGAIN;
		goto out;
	}
	ret = outbox_check_schema(ob, path, err, errlen);
	if (ret != 0)
		goto out;
	/* Reading once proves the file is a database we may read. */
	ret = outbox_sqlite_ops.max_id(&ob->base, &id, err, errlen);
	if (ret != 0)
		goto out;
	ret = outbox_check_format(ob, path, err, errlen);
	if (ret != 0)
		goto out;
	ret = -1;
	if (outbox_note_file(ob, 1, path, err, errlen) == -1 ||
	    outbox_note_file(ob, 2, path, err, errlen) == -1)
		goto out;
	*obp = ob;
	return 0;
out:
	sys_errno = ob->db ? sqlite3_system_errno(ob->db) : 0;
	if (sys_errno == EMFILE || sys_errno == ENFILE)
		/* Not the file's fault: no chmod hint, and errno tells the
		 * caller (SQLite may have opened the database and failed on
		 * its -shm, so a free descriptor is no proof either way). */
		snprintf(err, errlen, "cannot open database %s: out of file "
		    "descriptors (%s)", path, strerror(sys_errno));
	outbox_sqlite_ops.close(&ob->base);
	errno = sys_errno;
	return ret;
}

int
outbox_sqlite_open(const char *path, int nowait, struct outbox **obp,
    char *err, size_t errlen)
{
	struct outbox_sqlite *ob;
	int rc = outbox_open_with(path, nowait, &ob, err, errlen);

	*obp = rc == 0 ? &ob->base : NULL;
	return rc;
}

static void
outbox_sqlite_close(struct outbox *base)
{
	struct outbox_sqlite *ob = (struct outbox_sqlite *)base;

	if (!ob)
		return;
	sqlite3_finalize(ob->max_id);
	sqlite3_finalize(ob->fetch_all);
	for (size_t i = 0; i < OUTBOX_MAX_KEYS; i++)
		sqlite3_finalize(ob->fetch_for[i]);
	sqlite3_finalize(ob->data_version);
	sqlite3_finalize(ob->history);
	sqlite3_close(ob->db);
	for (size_t i = 0; i < 3; i++)
		free(ob->files[i].path);
	free(ob);
}

static int
outbox_sqlite_max_id(struct outbox *base, long long *id, char *err,
    size_t errlen)
{
	struct outbox_sqlite *ob = (struct outbox_sqlite *)base;
	int rc = sqlite3_step(ob->max_id);

	if (rc == SQLITE_ROW)
		*id = sqlite3_column_int64(ob->max_id, 0);
	sqlite3_reset(ob->max_id);
	if (rc != SQLITE_ROW)
		return outbox_fail_rc(ob, rc, "reading the newest id", err,
		    errlen);
	return 0;
}

/*
 * Step st, hand each row to fn; always leaves st reset. live: the read of
 * every row (outbox_fetch_all), which warns of rows for nobody.
 */
static int
outbox_run(struct outbox_sqlite *ob, sqlite3_stmt *st, int live, outbox_row_fn fn,
    void *ctx, int *count, char *err, size_t errlen)
{
	struct outbox_row row;
	int rc;

	*count = 0;
	for (;;) {
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW)
			break;
		row.id = sqlite3_column_int64(st, 0);
		/* The type first: reading the value may convert it. */
		switch (sqlite3_column_type(st, 1)) {
		case SQLITE_NULL:
			row.to = OUTBOX_TO_ALL;
			row.user_id = NULL;
			row.user_len = 0;
			break;
		case SQLITE_TEXT:
			row.to = OUTBOX_TO_KEY;
			row.user_id = (const char *)sqlite3_column_text(st, 1);
			row.user_len = (size_t)sqlite3_column_bytes(st, 1);
			break;
		default:
			row.to = OUTBOX_TO_NOBODY;
			row.user_id = "";
			row.user_len = 0;
			if (live)
				log_warnx("row %lld: user_id is a %s, not "
				    "text: delivered to nobody (store user "
				    "ids as text)", row.id,
				    sqlite3_column_type(st, 1) == SQLITE_BLOB ?
				    "BLOB" : "number");
			break;
		}
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
		return outbox_fail_rc(ob, rc, "reading outbox rows", err,
		    errlen);
	return 0;
}

static int
outbox_sqlite_fetch_all(struct outbox *base, long long after, int limit,
    outbox_row_fn fn, void *ctx, int *count, char *err, size_t errlen)
{
	struct outbox_sqlite *ob = (struct outbox_sqlite *)base;

	sqlite3_bind_int64(ob->fetch_all, 1, after);
	sqlite3_bind_int(ob->fetch_all, 2, limit);
	return outbox_run(ob, ob->fetch_all, 1, fn, ctx, count, err, errlen);
}

/*
 * The statement for n keys: parameters ?1 after, ?2 upto, ?3 limit,
 * ?4.. the keys. 0, -1 or OUTBOX_AGAIN with err.
 */
static int
outbox_fetch_for_stmt(struct outbox_sqlite *ob, size_t n, sqlite3_stmt **stp,
    char *err, size_t errlen)
{
	char sql[2048];
	size_t len;
	int rc;

	*stp = ob->fetch_for[n - 1];
	if (*stp)
		return 0;
	len = (size_t)snprintf(sql, sizeof(sql), "%s", sql_fetch_for_head);
	for (size_t i = 0; i < n && len < sizeof(sql); i++)
		len += (size_t)snprintf(sql + len, sizeof(sql) - len,
		    sql_fetch_for_part, i + 4);
	if (len < sizeof(sql))
		len += (size_t)snprintf(sql + len, sizeof(sql) - len, "%s",
		    sql_fetch_for_tail);
	if (len >= sizeof(sql)) {
		snprintf(err, errlen, "query for %zu keys too long", n);
		return -1;
	}
	rc = sqlite3_prepare_v2(ob->db, sql, -1, &ob->fetch_for[n - 1], NULL);
	if (rc != SQLITE_OK)
		return outbox_fail_rc(ob, rc, "preparing a stream's query",
		    err, errlen);
	*stp = ob->fetch_for[n - 1];
	return 0;
}

static int
outbox_sqlite_fetch_for(struct outbox *base, const char *const *keys,
    const size_t *key_lens, size_t nkeys, long long after, long long upto,
    int limit, outbox_row_fn fn, void *ctx, int *count, char *err,
    size_t errlen)
{
	struct outbox_sqlite *ob = (struct outbox_sqlite *)base;
	sqlite3_stmt *st;
	int rc;

	*count = 0;
	if (nkeys == 0 || nkeys > OUTBOX_MAX_KEYS) {
		snprintf(err, errlen, "a stream needs 1 to %d recipient keys",
		    OUTBOX_MAX_KEYS);
		return -1;
	}
	rc = outbox_fetch_for_stmt(ob, nkeys, &st, err, errlen);
	if (rc != 0)
		return rc;
	sqlite3_bind_int64(st, 1, after);
	sqlite3_bind_int64(st, 2, upto);
	sqlite3_bind_int(st, 3, limit);
	for (size_t i = 0; i < nkeys; i++)
		sqlite3_bind_text(st, (int)i + 4, keys[i], (int)key_lens[i],
		    SQLITE_STATIC);
	return outbox_run(ob, st, 0, fn, ctx, count, err, errlen);
}

static int
outbox_sqlite_still_current(const struct outbox *base, const char *path)
{
	const struct outbox_sqlite *ob = (const struct outbox_sqlite *)base;
	struct stat st;

	/* path as given: a symbolic link re-pointed elsewhere counts. */
	if (stat(path, &st) == -1 || st.st_dev != ob->files[0].dev ||
	    st.st_ino != ob->files[0].ino)
		return 0;
	for (size_t i = 1; i < 3; i++) {
		const struct outbox_file *f = &ob->files[i];

		if (!f->known)
			continue;
		if (stat(f->path, &st) == -1 || st.st_dev != f->dev ||
		    st.st_ino != f->ino)
			return 0;
	}
	return 1;
}

static int
outbox_sqlite_data_version(struct outbox *base, long long *version)
{
	struct outbox_sqlite *ob = (struct outbox_sqlite *)base;
	int rc = sqlite3_step(ob->data_version);

	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int64(ob->data_version, 0);
	sqlite3_reset(ob->data_version);
	if (rc == SQLITE_ROW)
		return 0;
	return ob->nowait && outbox_is_busy(rc) ? OUTBOX_AGAIN : -1;
}

static int
outbox_sqlite_history(struct outbox *base, long long *high,
    long long *pruned, char *err, size_t errlen)
{
	struct outbox_sqlite *ob = (struct outbox_sqlite *)base;
	int rc = sqlite3_step(ob->history);

	if (rc == SQLITE_ROW) {
		*high = sqlite3_column_int64(ob->history, 0);
		*pruned = sqlite3_column_int64(ob->history, 1);
	}
	sqlite3_reset(ob->history);
	if (rc != SQLITE_ROW)
		return outbox_fail_rc(ob, rc, "reading the outbox history",
		    err, errlen);
	return 0;
}

/*
 * Prune keeps a prefix rule (ids below a point go, nothing above it) but
 * takes the point from the oldest row still young, not the newest old
 * one: a single row stamped by a clock running behind then stays, with
 * everything after it, instead of dragging recent rows away with it.
 */
static const char sql_prune_keep[] =
    "SELECT id FROM outbox WHERE created_at >= ?1 ORDER BY id LIMIT 1";
static const char sql_prune_find[] =
    "SELECT coalesce(max(id), 0) FROM outbox WHERE id < ?1";
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
outbox_sqlite_prune(const char *path, long long age, long long now,
    long long *deleted, long long *through, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	long long keep = LLONG_MAX;	/* the oldest young row's id */
	long long has_meta = 0;
	int rc = -1;

	*deleted = 0;
	*through = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		outbox_fail(db, "opening the database", err, errlen);
		goto out;
	}
	sqlite3_busy_timeout(db, 10000);
	/* IMMEDIATE: the oldest young row cannot change under the DELETE. */
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		outbox_fail(db, "starting the transaction", err, errlen);
		goto out;
	}
	if (outbox_run_int64(db, sql_has_meta, 0, &has_meta) == -1)
		goto fail;
	if (!has_meta) {
		snprintf(err, errlen, "database %s has no outbox_meta table, "
		    "where prune records what it deleted so that resuming "
		    "clients are told; nothing deleted (apply sql/schema.sql "
		    "first)", path);
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		goto out;
	}
	if (outbox_run_int64(db, sql_prune_keep, now - age, &keep) == -1 ||
	    outbox_run_int64(db, sql_prune_find, keep, through) == -1)
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

static const struct outbox_ops outbox_sqlite_ops = {
	.close = outbox_sqlite_close,
	.max_id = outbox_sqlite_max_id,
	.fetch_all = outbox_sqlite_fetch_all,
	.fetch_for = outbox_sqlite_fetch_for,
	.history = outbox_sqlite_history,
	.still_current = outbox_sqlite_still_current,
	.data_version = outbox_sqlite_data_version,
};
