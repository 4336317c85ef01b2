/* Accepting requests: FastCGI (libfcgi, several threads) or one CGI. */
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
 * Serve FastCGI requests from listen_fd until SIGTERM or SIGINT, then end
 * every stream cleanly. cfg is borrowed. Returns the exit status.
 */
int server_run_fastcgi(const struct config *cfg, int listen_fd);

/* Serve the single CGI request described by the environment. */
int server_run_cgi(const struct config *cfg);

/*
 * Install the signal handlers; must run before libfcgi is initialised,
 * which otherwise installs a SIGTERM handler that only marks shutdown.
 */
void server_install_signals(void);

#endif
