/* SPDX-License-Identifier: BSD-2-Clause */
/* The store: open the outbox (SQLite or PostgreSQL), read rows by id. */
#ifndef FCGI_OUTBOX_H
#define FCGI_OUTBOX_H

#include <stddef.h>

#define OUTBOX_ERR_LEN 1024	/* room for two paths and a fix */
#define OUTBOX_MAX_KEYS 16	/* recipient keys one stream may follow */
#define OUTBOX_SCHEMA_VERSION 1	/* newest outbox_meta schema_version known */

/*
 * "Try again soon": returned only on a connection opened with
 * outbox_open_nowait, when SQLite answered SQLITE_BUSY or SQLITE_LOCKED
 * (another connection holds a lock this read needs: an EXCLUSIVE
 * locking-mode writer, a recovery, the last connection's clean-up).
 * Nothing is wrong with the database; the same call later will do.
 */
#define OUTBOX_AGAIN (-2)

/*
 * Two stores behind one interface (outbox.c dispatches through an ops
 * table, outbox_store.h): SSE_DB naming a file is SQLite
 * (outbox_sqlite.c), a postgresql:// or postgres:// URI is PostgreSQL
 * (outbox_pg.c). Return codes and enum outbox_to mean the same on both;
 * where a function below speaks of files, WAL or data_version, it
 * describes SQLite, and its PostgreSQL meaning is given beside it.
 */
struct outbox;

/* Does db name a PostgreSQL outbox (a libpq connection URI)? */
int outbox_is_postgres(const char *db);

/*
 * db as it may appear in a log line: a PostgreSQL URI with any password
 * (user:secret@ or password=) replaced by "***"; a path unchanged.
 */
void outbox_describe(const char *db, char *out, size_t outlen);

/*
 * Who a row is for. One rule, applied by the store to the live read
 * (outbox_fetch_all) and the replay (outbox_fetch_for) alike, so both
 * agree byte for byte:
 * - user_id NULL: every stream (a broadcast);
 * - user_id TEXT: the streams following exactly that key, compared as
 *   bytes (invalid UTF-8 included; the database must be UTF-8 and
 *   user_id of TEXT affinity, which outbox_open enforces);
 * - user_id of any other type (a BLOB; with TEXT affinity integers and
 *   reals are stored as text): nobody. outbox_fetch_all still hands the
 *   row over, so the caller's position moves past it, with to set to
 *   OUTBOX_TO_NOBODY and user_id "" (length 0, a key no stream has),
 *   and logs a warning naming the row; outbox_fetch_for never returns it.
 */
enum outbox_to {
	OUTBOX_TO_KEY = 0,	/* user_id/user_len: one recipient key */
	OUTBOX_TO_ALL = 1,	/* broadcast; user_id is NULL */
	OUTBOX_TO_NOBODY = 2,	/* not TEXT: delivered to no stream */
};

/* One row, borrowed: valid only during the callback that receives it. */
struct outbox_row {
	long long id;
	const char *user_id;	/* NULL for a broadcast; "" for nobody */
	size_t user_len;
	const char *event;	/* NULL for the default "message" */
	size_t event_len;
	const char *data;
	size_t data_len;
	enum outbox_to to;	/* who it is for; agrees with user_id */
};

/* Called per row in id order; return 0 to go on, -1 to stop early. */
typedef int (*outbox_row_fn)(void *ctx, const struct outbox_row *row);

/*
 * Open the database read-only and check it holds an outbox we
 * understand. Returns a handle the caller closes with outbox_close, or
 * NULL with a message naming the problem in err; errno is then EMFILE or
 * ENFILE when the process (or the system) ran out of file descriptors
 * on the way (SQLite: opening the database or its -wal/-shm), anything
 * else otherwise.
 *
 * Refused, with the reason and its fix in err (the caller answers 503
 * and logs it; --check prints it), unless:
 * - the database is in WAL mode: in rollback-journal mode readers wait
 *   on every commit and the commit watcher has no -wal/-shm to watch;
 * - its text encoding is UTF-8: in a UTF-16 database, ids that are not
 *   valid UTF-8 are converted on the way in and several of them compare
 *   equal;
 * - outbox.user_id has TEXT affinity (a declared type containing CHAR,
 *   CLOB or TEXT, and not INT): with INTEGER, NUMERIC, REAL (or STRING,
 *   which is NUMERIC) a key '042' would equal a stored 42.
 * Reads on this connection wait up to 2 s for a lock (busy timeout).
 *
 * PostgreSQL (outbox_pg.c): connects with libpq (connect_timeout 5 s,
 * statement_timeout 5 s unless the URI says otherwise); refused unless
 * the server encoding is UTF8, outbox.user_id is text and the
 * commit-order trigger of sql/schema-postgresql.sql is in place (without
 * it ids would be handed out at INSERT, and a reader could skip a row
 * whose transaction committed after a later id's).
 */
struct outbox *outbox_open(const char *path, char *err, size_t errlen);

/*
 * outbox_open for an event loop, which must never wait on the database:
 * no busy timeout. Returns 0 with *ob set; -1 with err (the database is
 * unusable: as outbox_open's NULL, errno included); or OUTBOX_AGAIN
 * with err naming the lock (*ob NULL: try again soon). Every read on
 * the connection may then also return OUTBOX_AGAIN instead of waiting;
 * on a connection from outbox_open they never do (a lock still held
 * after 2 s is -1).
 * PostgreSQL never answers OUTBOX_AGAIN: the loop's connection instead
 * has short timeouts (connect 2 s, statements 2 s), and any failure is
 * -1, an outage the caller retries.
 */
int outbox_open_nowait(const char *path, struct outbox **ob, char *err,
    size_t errlen);

/* ob may be NULL. */
void outbox_close(struct outbox *ob);

/*
 * Every read below returns 0, -1 with err, or (on a connection from
 * outbox_open_nowait only) OUTBOX_AGAIN.
 */

/*
 * After a read failed: was it because the server went away (and the one
 * attempt to connect again, made inside the read, failed too)? Then
 * nothing is wrong with the data and nothing was read: the same read
 * later, on the same handle, connects again and carries on from where
 * the caller stands (ids are global, so the caller's positions stay
 * valid). PostgreSQL: the connection is lost (a restart, a failover, a
 * cut network). SQLite: never (0).
 */
int outbox_disconnected(const struct outbox *ob);

/* The highest id in the outbox (0 when empty). */
int outbox_max_id(struct outbox *ob, long long *id, char *err,
    size_t errlen);

/*
 * Every row with id > after, whoever it is for, at most limit rows, rows
 * for nobody included (row->to, see enum outbox_to). *count is set to
 * the number of rows passed to fn.
 */
int outbox_fetch_all(struct outbox *ob, long long after, int limit,
    outbox_row_fn fn, void *ctx, int *count, char *err, size_t errlen);

/*
 * The rows for one stream: after < id <= upto, user_id NULL or TEXT equal
 * byte for byte to one of keys[0..n), in id order, at most limit rows.
 */
int outbox_fetch_for(struct outbox *ob, const char *const *keys,
    const size_t *key_lens, size_t nkeys, long long after, long long upto,
    int limit, outbox_row_fn fn, void *ctx, int *count, char *err,
    size_t errlen);

/*
 * Where the history stands: *high is the highest id ever handed out
 * (AUTOINCREMENT's counter, so it survives deleted rows), *pruned the
 * highest id that sse-outbox prune removed (0 if none, or no
 * outbox_meta table). A resume point below *pruned lost rows; one above
 * *high belongs to another database.
 */
int outbox_history(struct outbox *ob, long long *high, long long *pruned,
    char *err, size_t errlen);

/*
 * Delete the rows created more than age seconds before now, as one
 * prefix of ids: every row below the oldest row that is still young
 * (created_at >= now - age; all rows when none is), so that one row
 * stamped by a clock that runs behind keeps the rows after it instead of
 * taking them along. Records the highest id deleted in outbox_meta so
 * streams resuming from before it get a reset event. Opens the database
 * read-write itself. *deleted and *through (0 when nothing went)
 * describe what went. Returns 0, or -1 with err. A database without
 * outbox_meta (the bare table of the contract) is refused, whatever its
 * rows, with err saying to apply sql/schema.sql: without the record,
 * resuming clients could not be told what they missed. On PostgreSQL the
 * same rule in one transaction; created_at is a timestamptz there.
 */
int outbox_prune(const char *path, long long age, long long now,
    long long *deleted, long long *through, char *err, size_t errlen);

/*
 * Does path still name the file ob opened, with the same -wal and -shm
 * files? Compares device and inode of each path (symbolic links
 * followed) with those found when ob was opened (the database's before
 * SQLite opened it, so a replacement racing the open is seen here).
 * 0 once any was deleted or replaced (renamed over, or a backup
 * restored with its -wal/-shm removed): the connection then reads a
 * file, or a wal-index, nobody writes to any more, and must be closed
 * and opened again. SQLite removes -wal and -shm itself only when the
 * last connection closes, which cannot happen while ob is open. Costs
 * three stat calls; needs no inotify, so a polling caller uses it too.
 * PostgreSQL: always 1 (no file; a restarted server is a lost
 * connection, reported by the next read).
 */
int outbox_still_current(const struct outbox *ob, const char *path);

/*
 * SQLite's data_version for this connection: changes whenever another
 * connection commits. For the fallback watcher. PostgreSQL: the highest
 * visible id, which moves with every commit that adds a row.
 */
int outbox_data_version(struct outbox *ob, long long *version);

#endif
