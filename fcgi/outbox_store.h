/* SPDX-License-Identifier: BSD-2-Clause */
/* Inside the store: the ops table each implementation of outbox.h fills. */
#ifndef FCGI_OUTBOX_STORE_H
#define FCGI_OUTBOX_STORE_H

#include "outbox.h"

/*
 * Only outbox.c and the stores (outbox_sqlite.c, outbox_pg.c) include
 * this. Each entry has the contract of the outbox.h function of the same
 * name; outbox.c dispatches to it.
 */
struct outbox_ops {
	void (*close)(struct outbox *ob);	/* ob never NULL */
	int (*max_id)(struct outbox *ob, long long *id, char *err,
	    size_t errlen);
	int (*fetch_all)(struct outbox *ob, long long after, int limit,
	    outbox_row_fn fn, void *ctx, int *count, char *err,
	    size_t errlen);
	int (*fetch_for)(struct outbox *ob, const char *const *keys,
	    const size_t *key_lens, size_t nkeys, long long after,
	    long long upto, int limit, outbox_row_fn fn, void *ctx,
	    int *count, char *err, size_t errlen);
	int (*history)(struct outbox *ob, long long *high, long long *pruned,
	    char *err, size_t errlen);
	int (*still_current)(const struct outbox *ob, const char *path);
	int (*data_version)(struct outbox *ob, long long *version);
	int (*disconnected)(const struct outbox *ob);	/* NULL: never */
};

/* Every store's handle starts with this. */
struct outbox {
	const struct outbox_ops *ops;
};

/* outbox_open (nowait 0) and outbox_open_nowait (nowait 1), per store. */
int outbox_sqlite_open(const char *path, int nowait, struct outbox **ob,
    char *err, size_t errlen);
int outbox_pg_open(const char *uri, int nowait, struct outbox **ob,
    char *err, size_t errlen);

/* outbox_prune, per store. */
int outbox_sqlite_prune(const char *path, long long age, long long now,
    long long *deleted, long long *through, char *err, size_t errlen);
int outbox_pg_prune(const char *uri, long long age, long long now,
    long long *deleted, long long *through, char *err, size_t errlen);

#endif
