/* SPDX-License-Identifier: BSD-2-Clause */
/* CGI parameters into a request, query and cookie parsing, HTTP errors. */
#include "request.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *const request_param_names[] = {
	"REQUEST_METHOD",
	"QUERY_STRING",
	"REMOTE_USER",
	"HTTP_LAST_EVENT_ID",
	"HTTP_AUTHORIZATION",
	"HTTP_COOKIE",
	"HTTP_ORIGIN",
	"PATH_INFO",
	NULL,
};

static int
request_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
request_percent_decode(const char *in, size_t len, char *out,
    size_t *out_len)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c == '+') {
			c = ' ';
		} else if (c == '%') {
			int hi;
			int lo;

			if (len - i < 3)
				return -1;
			hi = request_hex(in[i + 1]);
			lo = request_hex(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = (char)(hi * 16 + lo);
			if (c == '\0')
				return -1;
			i += 2;
		} else if (c == '\0') {
			return -1;
		}
		out[o++] = c;
	}
	out[o] = '\0';
	*out_len = o;
	return 0;
}

int
request_query_param(const char *query, const char *name, char **value,
    size_t *value_len)
{
	size_t name_len = strlen(name);
	const char *p = query;
	const char *found = NULL;
	size_t found_len = 0;
	char *decoded;

	*value = NULL;
	*value_len = 0;
	if (!query)
		return 0;
	while (*p) {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t key_len = eq ? (size_t)(eq - p) : len;

		/* Names we look up never need decoding; compare raw. */
		if (key_len == name_len && memcmp(p, name, name_len) == 0) {
			if (found)
				return -1;	/* ambiguous: refuse */
			found = eq ? eq + 1 : p + len;
			found_len = eq ? len - key_len - 1 : 0;
		}
		p += len;
		if (*p == '&')
			p++;
	}
	if (!found)
		return 0;
	decoded = malloc(found_len + 1);
	if (!decoded)
		return -1;
	if (request_percent_decode(found, found_len, decoded, value_len)
	    == -1) {
		free(decoded);
		return -1;
	}
	*value = decoded;
	return 1;
}

static int
request_is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * RFC 6265 section 4.1.1:
 *   cookie-value = *cookie-octet / ( DQUOTE *cookie-octet DQUOTE )
 *   cookie-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E
 */
static int
request_is_cookie_octet(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x2B) ||
	    (c >= 0x2D && c <= 0x3A) || (c >= 0x3C && c <= 0x5B) ||
	    (c >= 0x5D && c <= 0x7E);
}

int
request_cookie(const char *header, const char *name, char **value,
    size_t *value_len)
{
	size_t name_len = strlen(name);
	const char *found = NULL;
	size_t found_len = 0;
	const char *p = header;

	*value = NULL;
	*value_len = 0;
	if (!header)
		return 0;
	while (*p) {
		const char *semi = strchr(p, ';');
		const char *end = semi ? semi : p + strlen(p);
		const char *eq;
		const char *key_end;
		const char *v;
		const char *v_end;

		while (p < end && request_is_ows(*p))
			p++;
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq) {
			key_end = eq;
			while (key_end > p && request_is_ows(key_end[-1]))
				key_end--;
			if ((size_t)(key_end - p) == name_len &&
			    memcmp(p, name, name_len) == 0) {
				if (found)
					return -1;	/* ambiguous */
				v = eq + 1;
				v_end = end;
				while (v < v_end && request_is_ows(*v))
					v++;
				while (v_end > v && request_is_ows(v_end[-1]))
					v_end--;
				found = v;
				found_len = (size_t)(v_end - v);
			}
		}
		p = semi ? semi + 1 : end;
	}
	if (!found)
		return 0;
	if (found_len >= 2 && found[0] == '"' && found[found_len - 1] == '"') {
		found++;
		found_len -= 2;
	}
	for (size_t i = 0; i < found_len; i++)
		if (!request_is_cookie_octet((unsigned char)found[i]))
			return -1;
	*value = malloc(found_len + 1);
	if (!*value)
		return -1;
	memcpy(*value, found, found_len);
	(*value)[found_len] = '\0';
	*value_len = found_len;
	return 1;
}

int
request_parse_last_id(const char *s, long long *id)
{
	unsigned long long v = 0;

	if (!s || *s == '\0')
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		if (v > (uint64_t)INT64_MAX / 10)
			return -1;
		v = v * 10 + (unsigned)(*p - '0');
		if (v > (uint64_t)INT64_MAX)
			return -1;
	}
	*id = (long long)v;
	return 0;
}

enum request_method
request_method_of(const char *method)
{
	if (!method)
		return REQUEST_OTHER;
	if (strcmp(method, "GET") == 0)
		return REQUEST_GET;
	if (strcmp(method, "HEAD") == 0)
		return REQUEST_HEAD;
	return REQUEST_OTHER;
}

static int
request_fail(struct request_error *err, int status, const char *reason)
{
	err->status = status;
	err->reason = reason;
	return -1;
}

static int
request_is_space(char c)
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
request_bearer(const char *h, const char **tok, size_t *len)
{
	const char *end;

	if (!h)
		return 0;
	while (request_is_space(*h))
		h++;
	if (*h == '\0')
		return 0;
	if (strncasecmp(h, "Bearer", 6) != 0 || !request_is_space(h[6]))
		return -1;
	h += 6;
	while (request_is_space(*h))
		h++;
	end = h + strlen(h);
	while (end > h && request_is_space(end[-1]))
		end--;
	if (end == h)
		return -1;
	for (const char *p = h; p < end; p++)
		if (request_is_space(*p))
			return -1;
	*tok = h;
	*len = (size_t)(end - h);
	return 1;
}

/*
 * The token in jwt mode: the first credential present decides, and a
 * malformed one is refused, never skipped. *owned is set when the token
 * was decoded into memory the caller frees.
 */
static int
request_token(const struct request *r, struct auth_credential *cred,
    char **owned, struct request_error *err)
{
	size_t len = 0;
	int rc = request_bearer(r->authorization, &cred->value, &cred->len);

	if (rc == -1)
		return request_fail(err, 401, "Authorization header is not "
		    "\"Bearer <token>\"");
	if (rc == 1)
		return 0;
	rc = request_cookie(r->cookie, "sse_token", owned, &len);
	if (rc == -1)
		return request_fail(err, 401, "malformed or repeated "
		    "sse_token cookie");
	if (rc == 1 && len == 0) {
		/* An empty cookie is no cookie (a logged-out page). */
		free(*owned);
		*owned = NULL;
		rc = 0;
	}
	if (rc == 0) {
		rc = request_query_param(r->query, "token", owned, &len);
		if (rc == -1)
			return request_fail(err, 401, "malformed or repeated "
			    "token parameter");
	}
	cred->value = *owned;
	cred->len = len;
	return 0;
}

/* The credential cfg->auth reads, then auth.c says who it is. */
static int
request_evaluate_user(const struct request *r, const struct config *cfg,
    struct request_spec *spec, struct request_error *err)
{
	struct auth_credential cred = { NULL, 0 };
	struct auth_identity id;
	const char *reason = NULL;
	char *owned = NULL;
	int status = 0;
	int rc = 0;

	if (cfg->auth == AUTH_REMOTE_USER && r->remote_user) {
		cred.value = r->remote_user;
		cred.len = strlen(r->remote_user);
	} else if (cfg->auth == AUTH_QUERY) {
		rc = request_query_param(r->query, "user", &owned, &cred.len);
		if (rc == -1)
			return request_fail(err, 400, "malformed or repeated "
			    "user parameter");
		cred.value = owned;
	} else if (cfg->auth == AUTH_JWT) {
		rc = request_token(r, &cred, &owned, err);
	}
	if (rc != -1) {
		rc = auth_identify(cfg, &cred, (long long)time(NULL), &id,
		    &reason, &status);
		if (rc == -1)
			request_fail(err, status, reason);
	}
	free(owned);
	if (rc == -1)
		return -1;
	spec->user = id.user;
	spec->user_len = id.user_len;
	for (size_t i = 0; i < id.nchannels; i++) {
		spec->channels[i] = id.channels[i];
		spec->channel_lens[i] = id.channel_lens[i];
	}
	spec->nchannels = id.nchannels;
	return 0;
}

/* The resume point: the header wins over the query parameter. */
static int
request_evaluate_resume(const struct request *r, struct request_spec *spec,
    struct request_error *err)
{
	char *qid = NULL;
	size_t qid_len;
	int rc;

	if (r->last_event_id) {
		if (request_parse_last_id(r->last_event_id, &spec->resume)
		    == -1)
			return request_fail(err, 400,
			    "bad Last-Event-ID header");
		spec->has_resume = 1;
		return 0;
	}
	rc = request_query_param(r->query, "lastEventId", &qid, &qid_len);
	if (rc == 1) {
		rc = request_parse_last_id(qid, &spec->resume) == 0 ? 1 : -1;
		free(qid);
	}
	if (rc == -1)
		return request_fail(err, 400, "bad lastEventId parameter");
	spec->has_resume = rc == 1;
	return 0;
}

/* "probe=1" asks for the diagnostic stream (see README, doctor). */
static int
request_evaluate_probe(const struct request *r, struct request_spec *spec,
    struct request_error *err)
{
	char *v = NULL;
	size_t len;
	int rc = request_query_param(r->query, "probe", &v, &len);

	if (rc == 1 && strcmp(v, "1") != 0)
		rc = -1;
	free(v);
	if (rc == -1)
		return request_fail(err, 400, "bad probe parameter");
	spec->probe = rc == 1;
	return 0;
}

int
request_evaluate(const struct request *r, const struct config *cfg,
    struct request_spec *spec, struct request_error *err)
{
	memset(spec, 0, sizeof(*spec));
	spec->method = request_method_of(r->method);
	if (spec->method == REQUEST_OTHER)
		return request_fail(err, 405, "method not allowed");
	if (r->query && strlen(r->query) > REQUEST_MAX_QUERY)
		return request_fail(err, 414, "query string too long");

	if (request_evaluate_user(r, cfg, spec, err) == -1)
		return -1;

	if (request_evaluate_resume(r, spec, err) == -1 ||
	    request_evaluate_probe(r, spec, err) == -1) {
		request_spec_free(spec);
		return -1;
	}
	if (r->origin && config_origin_allowed(cfg->cors_origins, r->origin,
	    strlen(r->origin))) {
		spec->cors_origin = strdup(r->origin);
		if (!spec->cors_origin) {
			request_spec_free(spec);
			return request_fail(err, 503, "out of memory");
		}
	}
	return 0;
}

void
request_spec_free(struct request_spec *spec)
{
	if (!spec)
		return;
	free(spec->user);
	spec->user = NULL;
	spec->user_len = 0;
	for (size_t i = 0; i < spec->nchannels; i++)
		free(spec->channels[i]);
	spec->nchannels = 0;
	free(spec->cors_origin);
	spec->cors_origin = NULL;
}

/* The reason phrase of an HTTP status we send. */
static const char *
request_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 414: return "URI Too Long";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

int
request_append_error(struct buf *b, int status, const char *extra_header,
    int head)
{
	const char *text = request_status_text(status);

	(void)buf_append_str(b, "Status: ");
	(void)buf_append_i64(b, status);
	(void)buf_append_char(b, ' ');
	(void)buf_append_str(b, text);
	(void)buf_append_str(b, "\r\nContent-Type: text/plain; charset=utf-8"
	    "\r\nCache-Control: no-store\r\n");
	if (extra_header) {
		(void)buf_append_str(b, extra_header);
		(void)buf_append_str(b, "\r\n");
	}
	(void)buf_append_str(b, "\r\n");
	if (head)
		return b->failed ? -1 : 0;
	(void)buf_append_i64(b, status);
	(void)buf_append_char(b, ' ');
	(void)buf_append_str(b, text);
	return buf_append_char(b, '\n');
}
