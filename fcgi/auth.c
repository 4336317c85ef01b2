/* SPDX-License-Identifier: BSD-2-Clause */
/* Who the user is: maps a request's credential to a user id, or refuses. */
#include "auth.h"

#include <stdlib.h>
#include <string.h>

#include "jwt.h"

/* A token's sub and channels go straight into an auth_identity. */
_Static_assert(JWT_MAX_KEY == AUTH_MAX_USER, "key limits differ");
_Static_assert(JWT_MAX_CHANNELS == AUTH_MAX_CHANNELS,
    "channel limits differ");

static int
auth_refuse(const char **reason, int *status, int code, const char *why)
{
	*reason = why;
	*status = code;
	return -1;
}

/* A user id given as it is (REMOTE_USER, the user parameter). */
static int
auth_take(const char *v, size_t len, struct auth_identity *id,
    const char **reason, int *status)
{
	if (len == 0)
		return auth_refuse(reason, status, 401, "empty user");
	if (len > AUTH_MAX_USER)
		return auth_refuse(reason, status, 401, "user id too long");
	if (memchr(v, '\0', len))
		return auth_refuse(reason, status, 401, "NUL in user id");
	id->user = malloc(len + 1);
	if (!id->user)
		return auth_refuse(reason, status, 503, "out of memory");
	memcpy(id->user, v, len);
	id->user[len] = '\0';
	id->user_len = len;
	return 0;
}

static int
auth_jwt(const struct config *cfg, const struct auth_credential *cred,
    long long now, struct auth_identity *id, const char **reason,
    int *status)
{
	struct jwt_claims claims;

	if (!cfg->jwt_secret)
		return auth_refuse(reason, status, 500, "no JWT secret loaded");
	if (!cred->value)
		return auth_refuse(reason, status, 401, "no token "
		    "(Authorization: Bearer, sse_token cookie or token "
		    "parameter)");
	if (jwt_verify(cred->value, cred->len, cfg->jwt_secret,
	    strlen(cfg->jwt_secret), now, &claims, reason) == -1) {
		*status = 401;
		return -1;
	}
	id->user = claims.sub;
	id->user_len = claims.sub_len;
	for (size_t i = 0; i < claims.nchannels; i++) {
		id->channels[i] = claims.channels[i];
		id->channel_lens[i] = claims.channel_lens[i];
	}
	id->nchannels = claims.nchannels;
	return 0;
}

int
auth_identify(const struct config *cfg, const struct auth_credential *cred,
    long long now, struct auth_identity *id, const char **reason,
    int *status)
{
	memset(id, 0, sizeof(*id));
	switch (cfg->auth) {
	case AUTH_REMOTE_USER:
		if (!cred->value)
			return auth_refuse(reason, status, 401,
			    "no REMOTE_USER (is the web server's "
			    "authentication set up?)");
		return auth_take(cred->value, cred->len, id, reason, status);
	case AUTH_QUERY:
		if (!cred->value)
			return auth_refuse(reason, status, 401,
			    "no user parameter");
		return auth_take(cred->value, cred->len, id, reason, status);
	case AUTH_JWT:
		return auth_jwt(cfg, cred, now, id, reason, status);
	case AUTH_NONE:
		break;
	}
	return auth_refuse(reason, status, 401, "authentication mode not "
	    "available");
}
