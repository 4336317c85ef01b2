/* SPDX-License-Identifier: BSD-2-Clause */
/* Process lifecycles: FastCGI (acceptor threads, the hub) or one CGI request. */
#ifndef FCGI_SERVER_H
#define FCGI_SERVER_H

#include <stddef.h>

#include "config.h"

/* Is descriptor 0 a listening FastCGI socket handed in by a server? */
int server_fd0_is_fastcgi(void);

/*
 * Open the listening socket for --listen: "host:port" or a unix socket
 * path (libfcgi unlinks an existing path first). -1 with err on failure.
 */
int server_listen(const char *addr, char *err, size_t errlen);

/*
 * Serve FastCGI requests from listen_fd until SIGTERM, SIGINT, SIGHUP or
 * SIGUSR1, then stop accepting, end every stream cleanly and wait for
 * the acceptor threads: nothing of cfg (borrowed) is used once it
 * returns. Returns the exit status: 0 after a clean stop, 1 when the
 * event loop failed or could not start.
 */
int server_run_fastcgi(const struct config *cfg, int listen_fd);

/* Serve the single CGI request described by the environment. Returns
 * the exit status. */
int server_run_cgi(const struct config *cfg);

/*
 * Install the stop handlers (SIGTERM, SIGINT, SIGHUP, SIGUSR1); must run
 * before libfcgi is initialised, which otherwise installs SIGTERM and
 * SIGUSR1 handlers that only mark a shutdown.
 */
void server_install_signals(void);

#endif
