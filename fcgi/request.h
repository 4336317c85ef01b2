/* SPDX-License-Identifier: BSD-2-Clause */
/* CGI parameters into a request, query and cookie parsing, HTTP errors. */
#ifndef FCGI_REQUEST_H
#define FCGI_REQUEST_H

#include <stddef.h>

#include "auth.h"
#include "buf.h"
#include "config.h"
#include "mustcheck.h"

#define REQUEST_MAX_QUERY 8192		/* longer query strings: 414 */
#define REQUEST_MAX_USER AUTH_MAX_USER	/* longer user ids: 401 */
#define REQUEST_MAX_CHANNELS AUTH_MAX_CHANNELS /* extra keys per stream */

enum request_method {
	REQUEST_GET,
	REQUEST_HEAD,
	REQUEST_OTHER,
};

/* The CGI parameters sse-outbox reads; all borrowed from the caller. */
struct request {
	const char *method;		/* REQUEST_METHOD */
	const char *query;		/* QUERY_STRING */
	const char *remote_user;	/* REMOTE_USER */
	const char *last_event_id;	/* HTTP_LAST_EVENT_ID */
	const char *authorization;	/* HTTP_AUTHORIZATION */
	const char *cookie;		/* HTTP_COOKIE */
	const char *origin;		/* HTTP_ORIGIN */
	const char *path_info;		/* PATH_INFO: the path past the
					   responder's own (for ?stats) */
};

/* What a request asks for once it is accepted. */
struct request_spec {
	enum request_method method;
	char *user;		/* owned, NUL-terminated, user_len bytes */
	size_t user_len;
	char *channels[REQUEST_MAX_CHANNELS];	/* owned: further keys the */
	size_t channel_lens[REQUEST_MAX_CHANNELS]; /* stream follows (jwt) */
	size_t nchannels;
	int has_resume;		/* 1 when a resume point was given */
	long long resume;	/* last id the client has, if has_resume */
	int probe;		/* 1: the diagnostic stream (probe=1) */
	char *cors_origin;	/* owned: the allowed Origin to echo, or NULL */
};

/* A refusal: HTTP status and the reason for the log. */
struct request_error {
	int status;			/* 400, 401, 405, 414 ... */
	const char *reason;		/* static text, never client data */
};

/* The parameter names the server must pass in (NULL-terminated). */
extern const char *const request_param_names[];

/*
 * Decode application/x-www-form-urlencoded text: "%XX" and '+' (space).
 * out must hold len + 1 bytes; it is NUL-terminated and *out_len set.
 * Returns 0, or -1 on a malformed escape or an encoded NUL.
 */
int request_percent_decode(const char *in, size_t len, char *out,
    size_t *out_len);

/*
 * Find parameter name in a query string ('&'-separated). Returns 1 and a
 * malloc'ed, decoded, NUL-terminated *value (caller frees) when present
 * once, 0 when absent, -1 when malformed or given more than once.
 */
int request_query_param(const char *query, const char *name, char **value,
    size_t *value_len);

/*
 * Find cookie name in a Cookie header (RFC 6265 section 5.4: name=value
 * pairs joined by "; "; spaces and tabs around ';' and '=' are ignored,
 * and pairs without '=' skipped). A value in double quotes is unquoted
 * (RFC 6265 section 4.1.1) and must then be cookie-octets. Returns 1 and
 * a malloc'ed, NUL-terminated *value (caller frees; it may be empty) when
 * present once, 0 when absent (header NULL included), -1 when given more
 * than once (ambiguous), when its value has other bytes, or without
 * memory. Names are compared exactly, as browsers do.
 */
int request_cookie(const char *header, const char *name, char **value,
    size_t *value_len);

/*
 * Parse a resume point: ASCII digits only, leading zeros allowed, value
 * 0 to 2^63-1. Returns 0 with *id set, or -1.
 */
int request_parse_last_id(const char *s, long long *id);

/* Classify REQUEST_METHOD. */
enum request_method request_method_of(const char *method);

/*
 * Decide what a request asks for: method, user and channels (per
 * cfg->auth, at the current time) and the resume point. Returns 0 with
 * spec filled (free with request_spec_free), or -1 with err filled and
 * spec empty.
 */
int request_evaluate(const struct request *r, const struct config *cfg,
    struct request_spec *spec, struct request_error *err);
void request_spec_free(struct request_spec *spec);

/*
 * Append a complete CGI error response (Status, headers, and a one-line
 * text body unless head) for status to b. extra_header is a full header
 * line without CRLF, or NULL.
 */
int request_append_error(struct buf *b, int status, const char *extra_header,
    int head) MUSTCHECK;

#endif
