/* Who the user is: from REMOTE_USER, the query (development), or a JWT. */
#ifndef FCGI_AUTH_H
#define FCGI_AUTH_H

#include <stddef.h>

#include "config.h"
#include "request.h"

/*
 * Find the request's user per mode. Returns 0 with a malloc'ed,
 * NUL-terminated *user of *user_len bytes (caller frees), or -1 with a
 * static *reason for the log (never containing the credential) and the
 * HTTP *status to answer (401, or 400 for a malformed query).
 */
int auth_identify(enum auth_mode mode, const struct request *r, char **user,
    size_t *user_len, const char **reason, int *status);

#endif
