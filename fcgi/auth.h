/* SPDX-License-Identifier: BSD-2-Clause */
/* Who the user is: maps a request's credential to a user id, or refuses. */
#ifndef FCGI_AUTH_H
#define FCGI_AUTH_H

#include <stddef.h>

#include "config.h"
#include "mustcheck.h"

#define AUTH_MAX_USER 1024		/* longer user ids: 401 */
#define AUTH_MAX_CHANNELS 15		/* extra recipient keys per stream */

/*
 * The credential a request presents for cfg->auth, as request.c found
 * it: REMOTE_USER (remote-user), the decoded user parameter (query), or
 * the token (jwt: the first of Authorization: Bearer, the sse_token
 * cookie, the token parameter). Borrowed.
 */
struct auth_credential {
	const char *value;	/* NULL when the request has none */
	size_t len;
};

/* Who a request is: keys the stream follows. */
struct auth_identity {
	char *user;		/* owned, NUL-terminated, user_len bytes */
	size_t user_len;
	char *channels[AUTH_MAX_CHANNELS];	/* owned: further keys, */
	size_t channel_lens[AUTH_MAX_CHANNELS];	/* from a JWT's channels */
	size_t nchannels;
};

/*
 * Map cred to a user per cfg->auth, at time now (seconds since the
 * epoch; it only matters for a JWT's exp and nbf). Returns 0 with id
 * filled with malloc'ed, NUL-terminated strings that the caller owns,
 * or -1 with id zeroed, a static *reason for the log (never containing
 * the credential or the secret) and the HTTP *status to answer (401;
 * 500 for a missing key, 503 for no memory). Borrows cfg and cred.
 */
int auth_identify(const struct config *cfg, const struct auth_credential *cred,
    long long now, struct auth_identity *id, const char **reason,
    int *status) MUSTCHECK;

#endif
