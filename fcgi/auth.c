/* Who the user is: from REMOTE_USER, the query (development), or a JWT. */
#include "auth.h"

#include <stdlib.h>
#include <string.h>

static int
auth_refuse(const char **reason, int *status, int code, const char *why)
{
	*reason = why;
	*status = code;
	return -1;
}

static int
auth_take(const char *v, size_t len, char **user, size_t *user_len,
    const char **reason, int *status)
{
	if (len == 0)
		return auth_refuse(reason, status, 401, "empty user");
	if (len > REQUEST_MAX_USER)
		return auth_refuse(reason, status, 401, "user id too long");
	if (memchr(v, '\0', len))
		return auth_refuse(reason, status, 401, "NUL in user id");
	*user = malloc(len + 1);
	if (!*user)
		return auth_refuse(reason, status, 503, "out of memory");
	memcpy(*user, v, len);
	(*user)[len] = '\0';
	*user_len = len;
	return 0;
}

int
auth_identify(enum auth_mode mode, const struct request *r, char **user,
    size_t *user_len, const char **reason, int *status)
{
	char *v = NULL;
	size_t len = 0;
	int rc;

	*user = NULL;
	*user_len = 0;
	switch (mode) {
	case AUTH_REMOTE_USER:
		if (!r->remote_user)
			return auth_refuse(reason, status, 401,
			    "no REMOTE_USER (is the web server's "
			    "authentication set up?)");
		return auth_take(r->remote_user, strlen(r->remote_user), user,
		    user_len, reason, status);
	case AUTH_QUERY:
		rc = request_query_param(r->query, "user", &v, &len);
		if (rc == -1)
			return auth_refuse(reason, status, 400,
			    "malformed or repeated user parameter");
		if (rc == 0)
			return auth_refuse(reason, status, 401,
			    "no user parameter");
		rc = auth_take(v, len, user, user_len, reason, status);
		free(v);
		return rc;
	case AUTH_JWT:
	case AUTH_NONE:
		break;
	}
	return auth_refuse(reason, status, 401, "authentication mode not "
	    "available");
}
