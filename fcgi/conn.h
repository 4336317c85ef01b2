/* SPDX-License-Identifier: BSD-2-Clause */
/* A process's database connections: the loop's own, and admission's. */
#ifndef FCGI_CONN_H
#define FCGI_CONN_H

#include "outbox.h"

#define CONN_REOPEN 1.0		/* retry a failed database this often */
#define CONN_BUSY_RETRY 0.005	/* retry a busy one this soon */

struct conn;

/* path is borrowed and must outlive the connection. NULL: memory. */
struct conn *conn_new(const char *path);
void conn_free(struct conn *c);

/*
 * The open connection, opening it when a retry is due; NULL while the
 * database cannot be opened (the outage is logged once, and its end).
 * *fresh is set to 1 when this call opened it: rows may have come while
 * it was closed, and a database re-created starts its ids again.
 */
struct outbox *conn_get(struct conn *c, double now, int *fresh);

/* The connection if it is open now; never opens it. */
struct outbox *conn_current(const struct conn *c);

/*
 * Admission's connection, shared by the accepting threads and kept
 * between requests (a request then costs one query, not an open): locked
 * and opened as needed, NULL with err and outbox_open's errno (and
 * nothing locked) when the database cannot be opened. Release it after
 * use; close_it closes it (after an error, or in CGI mode where the
 * process then only streams).
 * Thread-safe; never called from the loop.
 */
struct outbox *conn_admit_acquire(struct conn *c, char *err, size_t errlen);
void conn_admit_release(struct conn *c, int close_it);

/* Forget the connection after an error or a replaced file; admission's
 * is closed too, before either is opened again. */
void conn_drop(struct conn *c);

/*
 * Close both connections because nothing needs them for now (another
 * process reads the rows for this one): the next conn_get opens the
 * database again and is not *fresh, since nothing was missed meanwhile.
 */
void conn_rest(struct conn *c);

/* The next conn_get may retry at once (a request just opened it). */
void conn_retry_now(struct conn *c);

/* Did the last attempt find the database busy (not down)? Then
 * nothing is wrong: conn_get is simply tried again soon. */
int conn_busy(const struct conn *c);

/* When the next retry is due; 0 while open. */
double conn_retry_at(const struct conn *c);

#endif
