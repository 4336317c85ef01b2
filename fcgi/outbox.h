/* The SQLite side: open the outbox, read rows after an id. */
#ifndef FCGI_OUTBOX_H
#define FCGI_OUTBOX_H

#include <stddef.h>

#define OUTBOX_ERR_LEN 256
#define OUTBOX_MAX_KEYS 16	/* recipient keys one stream may follow */
#define OUTBOX_SCHEMA_VERSION 1	/* newest outbox_meta schema_version known */

struct outbox;

/* PROVISIONAL until the store branch lands: a read found the database
 * busy; try again soon. */
#define OUTBOX_AGAIN 1
#define OUTBOX_NO_WAIT 1

/* One row, borrowed: valid only during the callback that receives it. */
struct outbox_row {
	long long id;
	const char *user_id;	/* NULL for a broadcast */
	size_t user_len;
	const char *event;	/* NULL for the default "message" */
	size_t event_len;
	const char *data;
	size_t data_len;
};

/* Called per row in id order; return 0 to go on, -1 to stop early. */
typedef int (*outbox_row_fn)(void *ctx, const struct outbox_row *row);

/*
 * Open the database read-only and check it holds an outbox we
 * understand. Returns a handle the caller closes with outbox_close, or
 * NULL with a message naming the problem in err.
 */
struct outbox *outbox_open(const char *path, char *err, size_t errlen);
void outbox_close(struct outbox *ob);

/* The highest id in the outbox (0 when empty). */
int outbox_max_id(struct outbox *ob, long long *id, char *err,
    size_t errlen);

/*
 * Every row with id > after, whoever it is for, at most limit rows.
 * *count is set to the number of rows passed to fn.
 */
int outbox_fetch_all(struct outbox *ob, long long after, int limit,
    outbox_row_fn fn, void *ctx, int *count, char *err, size_t errlen);

/*
 * The rows for one stream: after < id <= upto, user_id one of keys[0..n)
 * or NULL, in id order, at most limit rows.
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
 * prefix of ids (every id up to the newest old row), and record that id
 * in outbox_meta so streams resuming from before it get a reset event.
 * Opens the database read-write itself. *deleted and *through describe
 * what went. Returns 0, or -1 with err.
 */
int outbox_prune(const char *path, long long age, long long now,
    long long *deleted, long long *through, char *err, size_t errlen);

/*
 * Does path still name the file ob opened? 0 once it was deleted or
 * replaced (renamed over): the connection then reads a file nobody
 * writes to any more.
 */
int outbox_still_current(const struct outbox *ob, const char *path);

/*
 * SQLite's data_version for this connection: changes whenever another
 * connection commits. For the fallback watcher.
 */
int outbox_data_version(struct outbox *ob, long long *version);

#endif
