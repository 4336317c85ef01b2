/* The event loop's own database connection: open, lose, reopen. */
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

/* Forget the connection after an error or a replaced file. */
void conn_drop(struct conn *c);

/* The next conn_get may retry at once (a request just opened it). */
void conn_retry_now(struct conn *c);

/* Did the last attempt find the database busy (not down)? Then
 * nothing is wrong: conn_get is simply tried again soon. */
int conn_busy(const struct conn *c);

/* When the next retry is due; 0 while open. */
double conn_retry_at(const struct conn *c);

#endif
