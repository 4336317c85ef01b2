/* Who the user is: from REMOTE_USER, the query (development), or a JWT. */
#ifndef FCGI_AUTH_H
#define FCGI_AUTH_H

#include <stddef.h>

#include "config.h"
#include "request.h"

/*
 * Find the request's user per cfg->auth, at time now (seconds since the
 * epoch; it only matters for a JWT's exp and nbf). In jwt mode the token
 * is the first credential present of: the Authorization header (which
 * must then be "Bearer <token>"), the sse_token cookie, the token query
 * parameter; an empty Authorization header or cookie counts as absent.
 * Returns 0 with spec->user (and, from a JWT's channels claim,
 * spec->channels) set to malloc'ed, NUL-terminated strings that spec
 * owns (release with request_spec_free), or -1 with spec's user and
 * channels untouched, a static *reason for the log (never containing the
 * credential or the secret) and the HTTP *status to answer (401; 400 for
 * a malformed user query parameter; 500 for a missing key, 503 for no
 * memory). Borrows cfg and r.
 */
int auth_identify(const struct config *cfg, const struct request *r,
    long long now, struct request_spec *spec, const char **reason,
    int *status);

#endif
