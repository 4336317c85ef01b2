/* Who the user is: from REMOTE_USER, the query (development), or a JWT. */
#include "auth.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jwt.h"

/* A token's sub and channels go straight into a request_spec. */
_Static_assert(JWT_MAX_KEY == REQUEST_MAX_USER, "key limits differ");
_Static_assert(JWT_MAX_CHANNELS == REQUEST_MAX_CHANNELS,
    "channel limits differ");

static int
auth_refuse(const char **reason, int *status, int code, const char *why)
{
	*reason = why;
	*status = code;
	return -1;
}

static int
auth_take(const char *v, size_t len, struct request_spec *spec,
    const char **reason, int *status)
{
	if (len == 0)
		return auth_refuse(reason, status, 401, "empty user");
	if (len > REQUEST_MAX_USER)
		return auth_refuse(reason, status, 401, "user id too long");
	if (memchr(v, '\0', len))
		return auth_refuse(reason, status, 401, "NUL in user id");
	spec->user = malloc(len + 1);
	if (!spec->user)
		return auth_refuse(reason, status, 503, "out of memory");
	memcpy(spec->user, v, len);
	spec->user[len] = '\0';
	spec->user_len = len;
	return 0;
}

static int
auth_is_space(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * RFC 6750 section 2.1: credentials = "Bearer" 1*SP b64token, the scheme
 * matched case-insensitively (RFC 9110 section 11.1). Returns 1 with the
 * token borrowed from h, 0 when the header is absent or blank, -1 when it
 * holds anything else (another scheme, no token, spaces inside).
 */
static int
auth_bearer(const char *h, const char **tok, size_t *len)
{
	const char *end;

	if (!h)
		return 0;
	while (auth_is_space(*h))
		h++;
	if (*h == '\0')
		return 0;
	if (strncasecmp(h, "Bearer", 6) != 0 || !auth_is_space(h[6]))
		return -1;
	h += 6;
	while (auth_is_space(*h))
		h++;
	end = h + strlen(h);
	while (end > h && auth_is_space(end[-1]))
		end--;
	if (end == h)
		return -1;
	for (const char *p = h; p < end; p++)
		if (auth_is_space(*p))
			return -1;
	*tok = h;
	*len = (size_t)(end - h);
	return 1;
}

/* The first credential present decides; a bad one is never skipped. */
static int
auth_jwt(const struct config *cfg, const struct request *r, long long now,
    struct request_spec *spec, const char **reason, int *status)
{
	struct jwt_claims claims;
	const char *tok = NULL;
	char *owned = NULL;
	size_t len = 0;
	int rc;

	if (!cfg->jwt_secret)
		return auth_refuse(reason, status, 500, "no JWT secret loaded");
	rc = auth_bearer(r->authorization, &tok, &len);
	if (rc == -1)
		return auth_refuse(reason, status, 401, "Authorization header "
		    "is not \"Bearer <token>\"");
	if (rc == 0) {
		rc = request_cookie(r->cookie, "sse_token", &owned, &len);
		if (rc == -1)
			return auth_refuse(reason, status, 401, "malformed or "
			    "repeated sse_token cookie");
		if (rc == 1 && len == 0) {
			free(owned);
			owned = NULL;
			rc = 0;
		}
	}
	if (rc == 0) {
		rc = request_query_param(r->query, "token", &owned, &len);
		if (rc == -1)
			return auth_refuse(reason, status, 401, "malformed or "
			    "repeated token parameter");
		if (rc == 0)
			return auth_refuse(reason, status, 401, "no token "
			    "(Authorization: Bearer, sse_token cookie or "
			    "token parameter)");
	}
	if (owned)
		tok = owned;
	rc = jwt_verify(tok, len, cfg->jwt_secret, strlen(cfg->jwt_secret),
	    now, &claims, reason);
	free(owned);
	if (rc == -1) {
		*status = 401;
		return -1;
	}
	spec->user = claims.sub;
	spec->user_len = claims.sub_len;
	for (size_t i = 0; i < claims.nchannels; i++) {
		spec->channels[i] = claims.channels[i];
		spec->channel_lens[i] = claims.channel_lens[i];
	}
	spec->nchannels = claims.nchannels;
	return 0;
}

int
auth_identify(const struct config *cfg, const struct request *r,
    long long now, struct request_spec *spec, const char **reason,
    int *status)
{
	char *v = NULL;
	size_t len = 0;
	int rc;

	switch (cfg->auth) {
	case AUTH_REMOTE_USER:
		if (!r->remote_user)
			return auth_refuse(reason, status, 401,
			    "no REMOTE_USER (is the web server's "
			    "authentication set up?)");
		return auth_take(r->remote_user, strlen(r->remote_user), spec,
		    reason, status);
	case AUTH_QUERY:
		rc = request_query_param(r->query, "user", &v, &len);
		if (rc == -1)
			return auth_refuse(reason, status, 400,
			    "malformed or repeated user parameter");
		if (rc == 0)
			return auth_refuse(reason, status, 401,
			    "no user parameter");
		rc = auth_take(v, len, spec, reason, status);
		free(v);
		return rc;
	case AUTH_JWT:
		return auth_jwt(cfg, r, now, spec, reason, status);
	case AUTH_NONE:
		break;
	}
	return auth_refuse(reason, status, 401, "authentication mode not "
	    "available");
}
