/* SPDX-License-Identifier: BSD-2-Clause */
/* Commits to a PostgreSQL outbox: one LISTEN connection, non-blocking. */
#include "changes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log.h"
#include "outbox.h"

/*
 * The outbox's trigger runs pg_notify('sse_outbox', '') in every
 * transaction that inserts rows; this connection LISTENs for it. A
 * notification only says "read": the rows always come from the table,
 * so a lost or folded notification costs nothing but a delay, and once
 * LISTEN holds again after any reconnect the source asks for one read,
 * which catches everything committed while it was away.
 *
 * The hub registers one descriptor, once. libpq's socket changes with
 * every connection, so the source hands out an epoll descriptor of its
 * own, stable for its life, and registers whatever socket libpq has in
 * it: readable when that socket is.
 *
 * While the connection is down the source retries after delays doubling
 * from FIRST to MAX, and asks for no read: a read sent while the server
 * shuts down or starts up would only fail. Streams stay open meanwhile
 * (the hub keeps them through a failed read of a lost server,
 * outbox_disconnected) and get what was committed once LISTEN is back.
 */
#define CHG_PG_FIRST 0.1
#define CHG_PG_MAX 5.0
#define CHG_PG_CONNECT 10.0	/* a connection attempt may take this long */
#define CHG_PG_CHANNEL "sse_outbox"
#define CHG_PG_IDLE 3600.0	/* nothing is due: wake this rarely */

enum changes_pg_state {
	CHG_PG_DOWN,		/* no connection; retry at retry_at */
	CHG_PG_CONNECTING,	/* PQconnectPoll in progress */
	CHG_PG_LISTEN_SENT,	/* LISTEN sent, its result awaited */
	CHG_PG_UP,		/* listening */
};

struct changes_pg {
	struct changes base;
	char *uri;
	PGconn *pg;
	enum changes_pg_state state;
	int epfd;		/* what the hub waits on */
	int sock;		/* libpq's socket registered in epfd, or -1 */
	uint32_t sock_events;	/* ... with these events */
	double retry_at;	/* DOWN: next attempt */
	double backoff;		/* the delay after the next failure */
	double connect_by;	/* CONNECTING: give up then */
	double idle_until;	/* UP: nothing is due before the socket */
	int read_due;		/* report CHANGES_READ at the next due() */
	int outage;		/* an outage is logged; its end will be */
};

/* Watch libpq's socket for events (0: none); follows a new socket. */
static void
changes_pg_watch(struct changes_pg *cp, uint32_t events)
{
	int sock = cp->pg && events ? PQsocket(cp->pg) : -1;
	struct epoll_event ev = { .events = events };

	if (cp->sock >= 0 && cp->sock != sock) {
		(void)epoll_ctl(cp->epfd, EPOLL_CTL_DEL, cp->sock, NULL);
		cp->sock = -1;
	}
	if (sock < 0)
		return;
	ev.data.fd = sock;
	if (cp->sock == sock && cp->sock_events == events)
		return;
	if (epoll_ctl(cp->epfd, cp->sock == sock ? EPOLL_CTL_MOD :
	    EPOLL_CTL_ADD, sock, &ev) == -1) {
		log_warn("epoll_ctl for the LISTEN connection");
		return;
	}
	cp->sock = sock;
	cp->sock_events = events;
}

/* The connection failed or was lost: close it, retry later. */
static void
changes_pg_lost(struct changes_pg *cp, double now, const char *what)
{
	const char *m = cp->pg ? PQerrorMessage(cp->pg) : "out of memory";
	char name[512];
	char msg[256];
	size_t n;

	/* On one line: libpq's newlines and tabs become single spaces. */
	for (n = 0; *m && n + 1 < sizeof(msg); m++) {
		int space = *m == '\n' || *m == '\t' || *m == ' ';

		if (space && (n == 0 || msg[n - 1] == ' '))
			continue;
		msg[n++] = space ? ' ' : *m;
	}
	while (n > 0 && msg[n - 1] == ' ')
		n--;
	msg[n] = '\0';
	changes_pg_watch(cp, 0);
	if (cp->pg)
		PQfinish(cp->pg);
	cp->pg = NULL;
	cp->state = CHG_PG_DOWN;
	if (!cp->outage) {
		outbox_describe(cp->uri, name, sizeof(name));
		log_warnx("PostgreSQL %s: %s: %s; commits are not heard until "
		    "it is back (retrying, up to every %.0f s)", name, what,
		    msg[0] ? msg : "connection closed", CHG_PG_MAX);
		cp->outage = 1;
	}
	cp->retry_at = now + cp->backoff;
	cp->backoff *= 2;
	if (cp->backoff > CHG_PG_MAX)
		cp->backoff = CHG_PG_MAX;
}

/* Map what PQconnectPoll wants to epoll events. */
static uint32_t
changes_pg_poll_events(PostgresPollingStatusType st)
{
	return st == PGRES_POLLING_WRITING ? EPOLLOUT : EPOLLIN;
}

static void
changes_pg_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void
changes_pg_start(struct changes_pg *cp, double now)
{
	/* As outbox_pg.c: our defaults, then the URI, then what we need. */
	const char *keys[] = {
		"fallback_application_name", "keepalives", "keepalives_idle",
		"keepalives_interval", "keepalives_count", "dbname",
		"client_encoding", NULL
	};
	const char *vals[] = {
		"sse-outbox-listen", "1", "10", "5", "3", cp->uri, "UTF8",
		NULL
	};

	cp->pg = PQconnectStartParams(keys, vals, 1);
	if (!cp->pg || PQstatus(cp->pg) == CONNECTION_BAD) {
		changes_pg_lost(cp, now, "cannot connect");
		return;
	}
	/* Server notices would reach stderr unformatted; a lost
	 * connection is reported by the next read. */
	PQsetNoticeProcessor(cp->pg, changes_pg_quiet, NULL);
	cp->state = CHG_PG_CONNECTING;
	cp->connect_by = now + CHG_PG_CONNECT;
	/* After PQconnectStart, libpq's documentation: poll for writing. */
	changes_pg_watch(cp, EPOLLOUT);
}

/* LISTEN's result and any notifications that came. */
static void
changes_pg_consume(struct changes_pg *cp, double now)
{
	PGnotify *n;
	PGresult *res;

	if (!PQconsumeInput(cp->pg)) {
		changes_pg_lost(cp, now, "LISTEN connection lost");
		return;
	}
	while (!PQisBusy(cp->pg) && (res = PQgetResult(cp->pg))) {
		ExecStatusType st = PQresultStatus(res);

		PQclear(res);
		if (cp->state != CHG_PG_LISTEN_SENT)
			continue;
		if (st != PGRES_COMMAND_OK) {
			changes_pg_lost(cp, now, "LISTEN failed");
			return;
		}
		cp->state = CHG_PG_UP;
		cp->backoff = CHG_PG_FIRST;
		/* Anything committed before LISTEN took hold is read now. */
		cp->read_due = 1;
		if (cp->outage) {
			char name[512];

			outbox_describe(cp->uri, name, sizeof(name));
			log_info("PostgreSQL %s: listening for commits again",
			    name);
			cp->outage = 0;
		}
	}
	while ((n = PQnotifies(cp->pg))) {
		PQfreemem(n);
		cp->read_due = 1;
	}
	if (PQstatus(cp->pg) == CONNECTION_BAD)
		changes_pg_lost(cp, now, "LISTEN connection lost");
}

static void
changes_pg_advance(struct changes_pg *cp, double now)
{
	PostgresPollingStatusType st = PQconnectPoll(cp->pg);

	if (st == PGRES_POLLING_FAILED) {
		changes_pg_lost(cp, now, "cannot connect");
		return;
	}
	if (st != PGRES_POLLING_OK) {
		changes_pg_watch(cp, changes_pg_poll_events(st));
		return;
	}
	if (PQsetnonblocking(cp->pg, 1) == -1 ||
	    !PQsendQuery(cp->pg, "LISTEN " CHG_PG_CHANNEL)) {
		changes_pg_lost(cp, now, "cannot send LISTEN");
		return;
	}
	/* A non-blocking connection may not have sent it all yet. */
	if (PQflush(cp->pg) == -1) {
		changes_pg_lost(cp, now, "cannot send LISTEN");
		return;
	}
	cp->state = CHG_PG_LISTEN_SENT;
	changes_pg_watch(cp, EPOLLIN);
}

static int
changes_pg_fd(struct changes *c)
{
	return ((struct changes_pg *)c)->epfd;
}

static int
changes_pg_on_ready(struct changes *c, double now, size_t nstreams)
{
	struct changes_pg *cp = (struct changes_pg *)c;
	struct epoll_event ev[4];

	(void)nstreams;
	/* Drain epfd's readiness; the state says what to do. */
	(void)epoll_wait(cp->epfd, ev, 4, 0);
	if (cp->state == CHG_PG_CONNECTING)
		changes_pg_advance(cp, now);
	else if (cp->state == CHG_PG_LISTEN_SENT || cp->state == CHG_PG_UP) {
		if (PQflush(cp->pg) == -1)
			changes_pg_lost(cp, now, "LISTEN connection lost");
		else
			changes_pg_consume(cp, now);
	}
	/* The read is reported by due(), which the hub asks every turn. */
	return CHANGES_NONE;
}

static int
changes_pg_due(struct changes *c, double now)
{
	struct changes_pg *cp = (struct changes_pg *)c;

	/* A finite timer: the loop's wait takes no infinite timeout. */
	cp->idle_until = now + CHG_PG_IDLE;
	if (cp->state == CHG_PG_DOWN && now >= cp->retry_at)
		changes_pg_start(cp, now);
	else if (cp->state == CHG_PG_CONNECTING && now >= cp->connect_by) {
		/* PQconnectPoll has no timer of its own. */
		changes_pg_lost(cp, now, "connection attempt timed out");
	}
	if (cp->read_due) {
		cp->read_due = 0;
		return CHANGES_READ;
	}
	return CHANGES_NONE;
}

static double
changes_pg_deadline(const struct changes *c)
{
	const struct changes_pg *cp = (const struct changes_pg *)c;
	if (cp->read_due)
		return 0;
	if (cp->state == CHG_PG_DOWN)
		return cp->retry_at;
	if (cp->state == CHG_PG_CONNECTING)
		return cp->connect_by;
	return cp->idle_until;	/* only the socket can wake it */
}

static void
changes_pg_free(struct changes *c)
{
	struct changes_pg *cp = (struct changes_pg *)c;

	if (cp->pg)
		PQfinish(cp->pg);
	if (cp->epfd >= 0)
		close(cp->epfd);
	free(cp->uri);
	free(cp);
}

static const struct changes_ops changes_pg_ops = {
	.fd = changes_pg_fd,
	.on_ready = changes_pg_on_ready,
	.due = changes_pg_due,
	.deadline = changes_pg_deadline,
	.free = changes_pg_free,
};

struct changes *
changes_pg_open(const char *uri, char *why, size_t whylen)
{
	struct changes_pg *cp = calloc(1, sizeof(*cp));

	why[0] = '\0';
	(void)whylen;
	if (!cp)
		return NULL;
	cp->base.ops = &changes_pg_ops;
	cp->sock = -1;
	cp->backoff = CHG_PG_FIRST;
	cp->uri = strdup(uri);
	cp->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!cp->uri || cp->epfd < 0) {
		changes_pg_free(&cp->base);
		return NULL;
	}
	/* The first due() connects; retry_at 0 is due at once. */
	return &cp->base;
}
