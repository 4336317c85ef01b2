/* SPDX-License-Identifier: BSD-2-Clause */
/* FastCGI connections in, parsed requests out: libfcgi's accept threads. */
#ifndef FCGI_ACCEPTOR_H
#define FCGI_ACCEPTOR_H

#include <stddef.h>

#include "request.h"
#include "transport.h"

#define ACCEPTOR_THREADS 4		/* threads in FCGX_Accept_r */
/* A peer that sends no complete request within this is dropped. */
#define ACCEPTOR_IDLE_TIMEOUT_S 2

/*
 * What the acceptor threads hand on. serve is called on an acceptor
 * thread for each RESPONDER request: r's strings are valid until it
 * returns, tr's connection is the callee's from then on.
 */
struct acceptor_ops {
	void (*serve)(void *ctx, const struct request *r,
	    const struct transport *tr);
};

struct acceptor;

/*
 * Initialise libfcgi once. Run after the process's own SIGTERM and
 * SIGUSR1 handlers are in place: libfcgi installs its own (which only
 * mark a shutdown and make every later accept fail) where none is.
 * Returns 0, or -1 with err.
 */
int acceptor_init(char *err, size_t errlen);

/* Is descriptor 0 a listening FastCGI socket handed in by a server? */
int acceptor_fd0_is_listening(void);

/*
 * Open the listening socket for --listen: "host:port" or a unix socket
 * path (libfcgi unlinks an existing path first). Returns the descriptor,
 * or -1 with err.
 */
int acceptor_listen(const char *addr, char *err, size_t errlen);

/*
 * Start threads accepting on listen_fd (borrowed): first threads of
 * them, one more (up to ACCEPTOR_THREADS) whenever a thread takes a
 * connection and no other is left waiting, so that a request served
 * slowly (a probe, a slow database) never holds up the next. A process
 * that mod_fcgid gives one request at a time then keeps two threads
 * (each costs it memory, and there are a thousand such processes); a
 * web server's burst of connections grows them at once. A
 * peer that sends nothing is dropped after ACCEPTOR_IDLE_TIMEOUT_S;
 * other FastCGI roles than RESPONDER are refused (FCGI_UNKNOWN_ROLE).
 * The threads take no process signals. ops and ctx must outlive
 * acceptor_stop. Returns NULL with err on failure.
 */
struct acceptor *acceptor_start(int listen_fd, int first,
    const struct acceptor_ops *ops, void *ctx, char *err, size_t errlen);

/*
 * Stop accepting: interrupt every thread, wait until each has returned
 * (a request being answered is finished first), free a. a may be NULL.
 */
void acceptor_stop(struct acceptor *a);

#endif
