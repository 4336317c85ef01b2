/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for request.c: query parsing, resume points, error answers. */
#include "request.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "config.h"

/* The tables below list struct request positionally; fields added later
 * (path_info) are NULL in them, which is what these cases mean. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

/* A string literal and its length, NUL bytes included. */
#define LIT(s) s, sizeof(s) - 1

/* ---- request_percent_decode ---- */

struct decode_case {
	const char *in;
	int rc;
	const char *out;	/* when rc is 0 */
	size_t out_len;
};

static const struct decode_case decode_cases[] = {
	{ "", 0, LIT("") },
	{ "abc", 0, LIT("abc") },
	{ "a+b", 0, LIT("a b") },
	{ "++", 0, LIT("  ") },
	{ "%41", 0, LIT("A") },
	{ "%4a", 0, LIT("J") },
	{ "%4A", 0, LIT("J") },
	{ "%fF", 0, LIT("\xff") },
	{ "%2B", 0, LIT("+") },
	{ "%2b%2B", 0, LIT("++") },
	{ "%25", 0, LIT("%") },
	{ "%2541", 0, LIT("%41") },
	{ "%20", 0, LIT(" ") },
	{ "%26%3D", 0, LIT("&=") },
	{ "%C3%A9t%C3%A9", 0, LIT("\xc3\xa9t\xc3\xa9") },
	{ "x%0Ay", 0, LIT("x\ny") },
	{ "%", -1, NULL, 0 },
	{ "a%", -1, NULL, 0 },
	{ "%4", -1, NULL, 0 },
	{ "a%4", -1, NULL, 0 },
	{ "%zz", -1, NULL, 0 },
	{ "%g0", -1, NULL, 0 },
	{ "%0g", -1, NULL, 0 },
	{ "%%41", -1, NULL, 0 },
	{ "% 41", -1, NULL, 0 },
	{ "%-1", -1, NULL, 0 },
	{ "%+1", -1, NULL, 0 },
	{ "%00", -1, NULL, 0 },
	{ "a%00b", -1, NULL, 0 },
	{ "ok%41%00", -1, NULL, 0 },
	{ NULL, 0, NULL, 0 },
};

static void
test_percent_decode(void **state)
{
	const struct decode_case *c;

	(void)state;
	for (c = decode_cases; c->in; c++) {
		size_t len = strlen(c->in);
		char *out = malloc(len + 1);
		size_t out_len = 12345;

		print_message("'%s'\n", c->in);
		assert_non_null(out);
		assert_int_equal(request_percent_decode(c->in, len, out,
		    &out_len), c->rc);
		if (c->rc == 0) {
			assert_int_equal(out_len, c->out_len);
			assert_memory_equal(out, c->out, c->out_len);
			assert_int_equal(out[out_len], '\0');
		}
		free(out);
	}
}

/* Only len bytes are read: an escape cut by len is malformed. */
static void
test_percent_decode_len(void **state)
{
	char out[16];
	size_t out_len;

	(void)state;
	assert_int_equal(request_percent_decode("%41xyz", 3, out, &out_len),
	    0);
	assert_int_equal(out_len, 1);
	assert_string_equal(out, "A");
	assert_int_equal(request_percent_decode("%41", 2, out, &out_len), -1);
	assert_int_equal(request_percent_decode("ab", 0, out, &out_len), 0);
	assert_int_equal(out_len, 0);
	assert_string_equal(out, "");
	/* a raw NUL inside len is refused like an encoded one */
	assert_int_equal(request_percent_decode("a\0b", 3, out, &out_len),
	    -1);
}

/* ---- request_query_param ---- */

struct param_case {
	const char *query;
	const char *name;
	int rc;
	const char *value;	/* when rc is 1 */
	size_t value_len;
};

static const struct param_case param_cases[] = {
	{ "user=alice", "user", 1, LIT("alice") },
	{ "a=1&user=alice&b=2", "user", 1, LIT("alice") },
	{ "user=a+b%41%4a%4A", "user", 1, LIT("a bAJJ") },
	{ "user=a%26b%3Dc", "user", 1, LIT("a&b=c") },
	{ "user=a=b", "user", 1, LIT("a=b") },
	{ "user=", "user", 1, LIT("") },
	{ "user=&x=1", "user", 1, LIT("") },
	{ "user", "user", 1, LIT("") },
	{ "x=1&user", "user", 1, LIT("") },
	{ "user&x=1", "user", 1, LIT("") },
	{ "&&user=a&&", "user", 1, LIT("a") },
	{ "&&&&user=a", "user", 1, LIT("a") },
	{ "user=a&&&&x=1", "user", 1, LIT("a") },
	{ "username=bob&user=al", "user", 1, LIT("al") },
	{ "user=al&username=bob", "user", 1, LIT("al") },
	{ "user=al&username=bob", "username", 1, LIT("bob") },
	{ "use=1&user=al&users=2", "user", 1, LIT("al") },
	{ "username=bob", "user", 0, NULL, 0 },
	{ "use=bob", "user", 0, NULL, 0 },
	{ "xuser=bob", "user", 0, NULL, 0 },
	{ "User=bob", "user", 0, NULL, 0 },
	{ "=bob", "user", 0, NULL, 0 },
	{ "x=user", "user", 0, NULL, 0 },
	{ "", "user", 0, NULL, 0 },
	{ "&&", "user", 0, NULL, 0 },
	{ "&", "user", 0, NULL, 0 },
	{ "user=a&user=b", "user", -1, NULL, 0 },
	{ "user=a&user=a", "user", -1, NULL, 0 },
	{ "user=a&x=1&user=", "user", -1, NULL, 0 },
	{ "user=a&user", "user", -1, NULL, 0 },
	{ "user&user", "user", -1, NULL, 0 },
	{ "user=%", "user", -1, NULL, 0 },
	{ "user=%4", "user", -1, NULL, 0 },
	{ "user=%zz", "user", -1, NULL, 0 },
	{ "user=%g0", "user", -1, NULL, 0 },
	{ "user=%00", "user", -1, NULL, 0 },
	{ "user=a%00b&x=1", "user", -1, NULL, 0 },
	/* a malformed value elsewhere does not spoil this one */
	{ "x=%zz&user=a", "user", 1, LIT("a") },
	{ NULL, NULL, 0, NULL, 0 },
};

static void
test_query_param(void **state)
{
	const struct param_case *c;

	(void)state;
	for (c = param_cases; c->query; c++) {
		char *value = (char *)1;
		size_t value_len = 12345;

		print_message("'%s' %s\n", c->query, c->name);
		assert_int_equal(request_query_param(c->query, c->name, &value,
		    &value_len), c->rc);
		if (c->rc != 1) {
			assert_null(value);
			assert_int_equal(value_len, 0);
			continue;
		}
		assert_non_null(value);
		assert_int_equal(value_len, c->value_len);
		assert_memory_equal(value, c->value, c->value_len);
		assert_int_equal(value[value_len], '\0');
		free(value);
	}
}

static void
test_query_param_null(void **state)
{
	char *value = (char *)1;
	size_t value_len = 1;

	(void)state;
	assert_int_equal(request_query_param(NULL, "user", &value,
	    &value_len), 0);
	assert_null(value);
	assert_int_equal(value_len, 0);
}

/* ---- request_parse_last_id ---- */

struct last_id_case {
	const char *s;
	int rc;
	long long id;
};

static const struct last_id_case last_id_cases[] = {
	{ "0", 0, 0 },
	{ "000", 0, 0 },
	{ "1", 0, 1 },
	{ "007", 0, 7 },
	{ "42", 0, 42 },
	{ "9223372036854775806", 0, INT64_MAX - 1 },
	{ "9223372036854775807", 0, INT64_MAX },
	{ "0000000000000000000000000000009223372036854775807", 0, INT64_MAX },
	{ "9223372036854775808", -1, 0 },
	{ "9223372036854775809", -1, 0 },
	{ "9223372036854775810", -1, 0 },
	{ "18446744073709551615", -1, 0 },
	{ "18446744073709551616", -1, 0 },
	{ "92233720368547758070", -1, 0 },
	{ "99999999999999999999", -1, 0 },
	{ "1000000000000000000000000000000000000000000000000000", -1, 0 },
	{ "-1", -1, 0 },
	{ "-0", -1, 0 },
	{ "+1", -1, 0 },
	{ "", -1, 0 },
	{ " 1", -1, 0 },
	{ "1 ", -1, 0 },
	{ "1\t", -1, 0 },
	{ "1\n", -1, 0 },
	{ "12a", -1, 0 },
	{ "a12", -1, 0 },
	{ "0x10", -1, 0 },
	{ "1e3", -1, 0 },
	{ "1.0", -1, 0 },
	{ "1,000", -1, 0 },
	{ "\xd9\xa1", -1, 0 },		/* ARABIC-INDIC DIGIT ONE */
	{ NULL, 0, 0 },
};

static void
test_parse_last_id(void **state)
{
	const struct last_id_case *c;

	(void)state;
	for (c = last_id_cases; c->s; c++) {
		long long id = -5;

		print_message("'%s'\n", c->s);
		assert_int_equal(request_parse_last_id(c->s, &id), c->rc);
		if (c->rc == 0)
			assert_int_equal(id, c->id);
		else
			assert_int_equal(id, -5);
	}
}

/* Very long digit strings: overflow is refused whatever the length. */
static void
test_parse_last_id_long(void **state)
{
	char s[4097];
	long long id = -5;

	(void)state;
	memset(s, '9', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	assert_int_equal(request_parse_last_id(s, &id), -1);
	memset(s, '0', sizeof(s) - 1);
	s[sizeof(s) - 2] = '5';
	assert_int_equal(request_parse_last_id(s, &id), 0);
	assert_int_equal(id, 5);
	assert_int_equal(request_parse_last_id(NULL, &id), -1);
}

/* ---- request_method_of ---- */

struct method_case {
	const char *method;
	enum request_method want;
};

static const struct method_case method_cases[] = {
	{ "GET", REQUEST_GET },
	{ "HEAD", REQUEST_HEAD },
	{ "POST", REQUEST_OTHER },
	{ "PUT", REQUEST_OTHER },
	{ "DELETE", REQUEST_OTHER },
	{ "OPTIONS", REQUEST_OTHER },
	{ "get", REQUEST_OTHER },
	{ "GET ", REQUEST_OTHER },
	{ "GETS", REQUEST_OTHER },
	{ "", REQUEST_OTHER },
	{ NULL, REQUEST_OTHER },
};

static void
test_method_of(void **state)
{
	const struct method_case *c;

	(void)state;
	for (c = method_cases; c->method; c++)
		assert_int_equal(request_method_of(c->method), c->want);
	assert_int_equal(request_method_of(NULL), REQUEST_OTHER);
}

/* ---- request_evaluate ---- */

#define ST_400_OR_401 (-2)	/* either refusal fits the contract */

struct eval_case {
	const char *label;
	enum auth_mode auth;
	struct request r;	/* method, query, remote_user, last_event_id */
	int status;		/* 0 = accepted */
	enum request_method method;
	const char *user;
	int has_resume;
	long long resume;
};

static const struct eval_case eval_cases[] = {
	/* methods */
	{ "GET", AUTH_REMOTE_USER, { "GET", NULL, "alice", NULL, NULL, NULL, NULL },
	    0, REQUEST_GET, "alice", 0, 0 },
	{ "HEAD", AUTH_REMOTE_USER, { "HEAD", "", "alice", NULL, NULL, NULL, NULL },
	    0, REQUEST_HEAD, "alice", 0, 0 },
	{ "POST", AUTH_REMOTE_USER, { "POST", "", "alice", NULL, NULL, NULL, NULL },
	    405, 0, NULL, 0, 0 },
	{ "PUT", AUTH_REMOTE_USER, { "PUT", "", "alice", NULL, NULL, NULL, NULL },
	    405, 0, NULL, 0, 0 },
	{ "NULL method", AUTH_REMOTE_USER,
	    { NULL, "", "alice", NULL, NULL, NULL, NULL }, 405, 0, NULL, 0, 0 },
	{ "lower-case get", AUTH_REMOTE_USER,
	    { "get", "", "alice", NULL, NULL, NULL, NULL }, 405, 0, NULL, 0, 0 },
	{ "POST without a user", AUTH_REMOTE_USER,
	    { "POST", "", NULL, NULL, NULL, NULL, NULL }, 405, 0, NULL, 0, 0 },
	{ "POST in query mode", AUTH_QUERY,
	    { "POST", "user=alice", NULL, NULL, NULL, NULL, NULL },
	    405, 0, NULL, 0, 0 },

	/* remote-user */
	{ "no REMOTE_USER", AUTH_REMOTE_USER,
	    { "GET", "user=alice", NULL, NULL, NULL, NULL, NULL },
	    401, 0, NULL, 0, 0 },
	{ "empty REMOTE_USER", AUTH_REMOTE_USER,
	    { "GET", "", "", NULL, NULL, NULL, NULL }, 401, 0, NULL, 0, 0 },
	{ "HEAD without a user", AUTH_REMOTE_USER,
	    { "HEAD", "", NULL, NULL, NULL, NULL, NULL }, 401, 0, NULL, 0, 0 },
	{ "REMOTE_USER kept as is", AUTH_REMOTE_USER,
	    { "GET", "", "a+b%41", NULL, NULL, NULL, NULL },
	    0, REQUEST_GET, "a+b%41", 0, 0 },

	/* query */
	{ "query user", AUTH_QUERY,
	    { "GET", "user=alice", NULL, NULL, NULL, NULL, NULL },
	    0, REQUEST_GET, "alice", 0, 0 },
	{ "query user decoded", AUTH_QUERY,
	    { "GET", "x=1&user=a+b%41", NULL, NULL, NULL, NULL, NULL },
	    0, REQUEST_GET, "a bA", 0, 0 },
	{ "query ignores REMOTE_USER", AUTH_QUERY,
	    { "GET", "", "alice", NULL, NULL, NULL, NULL }, 401, 0, NULL, 0, 0 },
	{ "no query", AUTH_QUERY, { "GET", NULL, NULL, NULL, NULL, NULL, NULL },
	    401, 0, NULL, 0, 0 },
	{ "no user parameter", AUTH_QUERY,
	    { "GET", "username=bob", NULL, NULL, NULL, NULL, NULL },
	    401, 0, NULL, 0, 0 },
	{ "empty user parameter", AUTH_QUERY,
	    { "GET", "user=", NULL, NULL, NULL, NULL, NULL }, 401, 0, NULL, 0, 0 },
	{ "user without '='", AUTH_QUERY,
	    { "GET", "user&x=1", NULL, NULL, NULL, NULL, NULL },
	    401, 0, NULL, 0, 0 },
	{ "user with %00", AUTH_QUERY,
	    { "GET", "user=a%00", NULL, NULL, NULL, NULL, NULL },
	    ST_400_OR_401, 0, NULL, 0, 0 },
	{ "user twice", AUTH_QUERY,
	    { "GET", "user=a&user=b", NULL, NULL, NULL, NULL, NULL },
	    ST_400_OR_401, 0, NULL, 0, 0 },
	{ "user bad escape", AUTH_QUERY,
	    { "GET", "user=%zz", NULL, NULL, NULL, NULL, NULL },
	    ST_400_OR_401, 0, NULL, 0, 0 },

	/* resume point */
	{ "header", AUTH_REMOTE_USER, { "GET", "", "u", "5", NULL, NULL, NULL },
	    0, REQUEST_GET, "u", 1, 5 },
	{ "header 0", AUTH_REMOTE_USER, { "GET", "", "u", "0", NULL, NULL, NULL },
	    0, REQUEST_GET, "u", 1, 0 },
	{ "header max", AUTH_REMOTE_USER,
	    { "GET", "", "u", "9223372036854775807", NULL, NULL, NULL },
	    0, REQUEST_GET, "u", 1, INT64_MAX },
	{ "header beats query", AUTH_REMOTE_USER,
	    { "GET", "lastEventId=7", "u", "5", NULL, NULL, NULL },
	    0, REQUEST_GET, "u", 1, 5 },
	{ "header beats a bad query", AUTH_REMOTE_USER,
	    { "GET", "lastEventId=x", "u", "5", NULL, NULL, NULL },
	    0, REQUEST_GET, "u", 1, 5 },
	{ "bad header, good query", AUTH_REMOTE_USER,
	    { "GET", "lastEventId=7", "u", "x", NULL, NULL, NULL },
	    400, 0, NULL, 0, 0 },
	{ "empty header, good query", AUTH_REMOTE_USER,
	    { "GET", "lastEventId=7", "u", "", NULL, NULL, NULL },
	    400, 0, NULL, 0, 0 },
	{ "header too big", AUTH_REMOTE_USER,
	    { "GET", "", "u", "9223372036854775808", NULL, NULL, NULL },
	    400, 0, NULL, 0, 0 },
	{ "header signed", AUTH_REMOTE_USER,
	    { "GET", "", "u", "+5", NULL, NULL, NULL }, 400, 0, NULL, 0, 0 },
	{ "header spaced", AUTH_REMOTE_USER,
	    { "GET", "", "u", " 5", NULL, NULL, NULL }, 400, 0, NULL, 0, 0 },
	{ "query", AUTH_REMOTE_USER,
	    { "GET", "lastEventId=7", "u", NULL, NULL, NULL, NULL },
	    0, REQUEST_GET, "u", 1, 7 },
	{ "query leading zeros", AUTH_REMOTE_USER,
	    { "GET", "a=b&lastEventId=007", "u", NULL, NULL, NULL, NULL },
	    0, REQUEST_GET, "u", 1, 7 },
	{ "query empty", AUTH_REMOTE_USER,
	    { "GET", "lastEventId=", "u", NULL, NULL, NULL, NULL },
	    400, 0, NULL, 0, 0 },
	{ "query without '='", AUTH_REMOTE_USER,
	    { "GET", "lastEventId", "u", NULL, NULL, NULL, NULL },
	    400, 0, NULL, 0, 0 },
	{ "query negative", AUTH_REMOTE_USER,
	    { "GET", "lastEventId=-1", "u", NULL, NULL, NULL, NULL },
	    400, 0, NULL, 0, 0 },
	{ "query '+' is a space", AUTH_REMOTE_USER,
	    { "GET", "lastEventId=+1", "u", NULL, NULL, NULL, NULL },
	    400, 0, NULL, 0, 0 },
	{ "query hex", AUTH_REMOTE_USER,
	    { "GET", "lastEventId=0x10", "u", NULL, NULL, NULL, NULL },
	    400, 0, NULL, 0, 0 },
	{ "query twice", AUTH_REMOTE_USER,
	    { "GET", "lastEventId=1&lastEventId=2", "u", NULL, NULL, NULL, NULL },
	    400, 0, NULL, 0, 0 },
	{ "query too big", AUTH_REMOTE_USER,
	    { "GET", "lastEventId=9223372036854775808", "u", NULL, NULL,
	    NULL, NULL }, 400, 0, NULL, 0, 0 },
	{ "query max", AUTH_REMOTE_USER,
	    { "GET", "lastEventId=9223372036854775807", "u", NULL, NULL,
	    NULL, NULL }, 0, REQUEST_GET, "u", 1, INT64_MAX },
	{ "no resume point", AUTH_REMOTE_USER,
	    { "GET", "lasteventid=5&LastEventId=6", "u", NULL, NULL, NULL, NULL },
	    0, REQUEST_GET, "u", 0, 0 },
	{ "query mode, both", AUTH_QUERY,
	    { "GET", "user=bob&lastEventId=3", NULL, NULL, NULL, NULL, NULL },
	    0, REQUEST_GET, "bob", 1, 3 },
	{ "query mode, header beats query", AUTH_QUERY,
	    { "GET", "lastEventId=3&user=bob", NULL, "4", NULL, NULL, NULL },
	    0, REQUEST_GET, "bob", 1, 4 },
	{ "query mode, bad header", AUTH_QUERY,
	    { "GET", "lastEventId=3&user=bob", NULL, "4x", NULL, NULL, NULL },
	    400, 0, NULL, 0, 0 },
	{ "HEAD with resume", AUTH_QUERY,
	    { "HEAD", "user=bob&lastEventId=0", NULL, NULL, NULL, NULL, NULL },
	    0, REQUEST_HEAD, "bob", 1, 0 },
	{ NULL, AUTH_NONE, { NULL, NULL, NULL, NULL, NULL, NULL, NULL }, 0, 0,
	    NULL, 0, 0 },
};

static void
check_evaluate(const char *label, enum auth_mode auth,
    const struct request *r, int status, enum request_method method,
    const char *user, int has_resume, long long resume)
{
	struct config cfg;
	struct request_spec spec;
	struct request_error err = { 0, NULL };
	int rc;

	print_message("%s\n", label);
	memset(&cfg, 0, sizeof(cfg));
	cfg.auth = auth;
	rc = request_evaluate(r, &cfg, &spec, &err);
	if (status != 0) {
		assert_int_equal(rc, -1);
		if (status == ST_400_OR_401)
			assert_true(err.status == 400 || err.status == 401);
		else
			assert_int_equal(err.status, status);
		assert_non_null(err.reason);
		assert_true(strlen(err.reason) > 0);
		assert_null(spec.user);
		return;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(spec.method, method);
	assert_non_null(spec.user);
	assert_int_equal(spec.user_len, strlen(user));
	assert_string_equal(spec.user, user);
	assert_int_equal(spec.has_resume, has_resume);
	if (has_resume)
		assert_int_equal(spec.resume, resume);
	request_spec_free(&spec);
	assert_null(spec.user);
	request_spec_free(&spec);
}

static void
test_evaluate(void **state)
{
	const struct eval_case *c;

	(void)state;
	for (c = eval_cases; c->label; c++)
		check_evaluate(c->label, c->auth, &c->r, c->status, c->method,
		    c->user, c->has_resume, c->resume);
	request_spec_free(NULL);
}

/* A query over REQUEST_MAX_QUERY bytes is 414; at the limit it is fine. */
static void
test_evaluate_long_query(void **state)
{
	static const enum auth_mode modes[] = {
		AUTH_QUERY, AUTH_REMOTE_USER, AUTH_NONE,
	};
	char *q = malloc(REQUEST_MAX_QUERY + 2);
	size_t prefix = strlen("user=bob&x=");

	(void)state;
	assert_non_null(q);
	memcpy(q, "user=bob&x=", prefix);
	memset(q + prefix, 'a', REQUEST_MAX_QUERY + 1 - prefix);
	for (const enum auth_mode *m = modes; *m != AUTH_NONE; m++) {
		struct request r = { "GET", q, "bob", NULL, NULL, NULL, NULL };

		q[REQUEST_MAX_QUERY] = '\0';
		check_evaluate("at the limit", *m, &r, 0, REQUEST_GET, "bob",
		    0, 0);
		q[REQUEST_MAX_QUERY] = 'a';
		q[REQUEST_MAX_QUERY + 1] = '\0';
		check_evaluate("one past", *m, &r, 414, 0, NULL, 0, 0);
		r.method = "HEAD";
		check_evaluate("one past, HEAD", *m, &r, 414, 0, NULL, 0, 0);
	}
	free(q);
}

/* REMOTE_USER up to REQUEST_MAX_USER bytes is taken; longer is 401. */
static void
test_evaluate_long_user(void **state)
{
	char *u = malloc(REQUEST_MAX_USER + 2);
	struct request r = { "GET", NULL, u, NULL, NULL, NULL, NULL };

	(void)state;
	assert_non_null(u);
	memset(u, 'u', REQUEST_MAX_USER + 1);
	u[REQUEST_MAX_USER] = '\0';
	check_evaluate("longest user", AUTH_REMOTE_USER, &r, 0, REQUEST_GET,
	    u, 0, 0);
	u[REQUEST_MAX_USER] = 'u';
	u[REQUEST_MAX_USER + 1] = '\0';
	check_evaluate("user too long", AUTH_REMOTE_USER, &r, 401, 0, NULL,
	    0, 0);
	free(u);
}

/* ---- request_append_error ---- */

struct answer_case {
	int status;
	const char *text;		/* reason phrase */
	const char *extra;		/* extra header line, or NULL */
	int head;
};

static const struct answer_case answer_cases[] = {
	{ 405, "Method Not Allowed", "Allow: GET, HEAD", 0 },
	{ 405, "Method Not Allowed", "Allow: GET, HEAD", 1 },
	{ 503, "Service Unavailable", "Retry-After: 5", 0 },
	{ 503, "Service Unavailable", "Retry-After: 5", 1 },
	{ 401, "Unauthorized", "WWW-Authenticate: Bearer", 0 },
	{ 401, "Unauthorized", NULL, 0 },
	{ 401, "Unauthorized", NULL, 1 },
	{ 400, "Bad Request", NULL, 0 },
	{ 414, "URI Too Long", NULL, 0 },
	{ 0, NULL, NULL, 0 },
};

/* Does the header block hold this exact line? */
static int
has_header(const char *head, size_t len, const char *line)
{
	size_t n = strlen(line);
	const char *p = head;

	while (p < head + len) {
		const char *end = memmem(p, (size_t)(head + len - p), "\r\n",
		    2);

		if (!end)
			return 0;
		if ((size_t)(end - p) == n && memcmp(p, line, n) == 0)
			return 1;
		p = end + 2;
	}
	return 0;
}

static void
test_append_error(void **state)
{
	const struct answer_case *c;

	(void)state;
	for (c = answer_cases; c->text; c++) {
		struct buf b;
		char status[64];
		const char *end;
		size_t head_len;
		size_t body_len;

		print_message("%d %s head=%d\n", c->status,
		    c->extra ? c->extra : "-", c->head);
		buf_init(&b, 4096);
		assert_int_equal(request_append_error(&b, c->status, c->extra,
		    c->head), 0);
		snprintf(status, sizeof(status), "Status: %d %s\r\n",
		    c->status, c->text);
		assert_true(b.len > strlen(status));
		assert_memory_equal(b.data, status, strlen(status));
		end = memmem(b.data, b.len, "\r\n\r\n", 4);
		assert_non_null(end);
		head_len = (size_t)(end - b.data) + 2;
		body_len = b.len - head_len - 2;
		/* header lines end in CR LF: no bare LF or CR */
		for (size_t i = 0; i < head_len; i++) {
			if (b.data[i] == '\n')
				assert_int_equal(b.data[i - 1], '\r');
			if (b.data[i] == '\r')
				assert_int_equal(b.data[i + 1], '\n');
		}
		if (c->extra)
			assert_true(has_header(b.data, head_len, c->extra));
		assert_true(has_header(b.data, head_len,
		    "Content-Type: text/plain; charset=utf-8"));
		if (c->head) {
			assert_int_equal(body_len, 0);
		} else {
			char code[8];

			snprintf(code, sizeof(code), "%d", c->status);
			assert_true(body_len > 0);
			assert_non_null(memmem(end + 4, body_len, code,
			    strlen(code)));
			assert_int_equal(end[4 + body_len - 1], '\n');
		}
		buf_free(&b);

		/* too small a buffer: -1, never a cut answer reported OK */
		buf_init(&b, 16);
		assert_int_equal(request_append_error(&b, c->status, c->extra,
		    c->head), -1);
		assert_int_equal(b.failed, 1);
		buf_free(&b);
	}
}

struct text_case {
	int status;
	const char *text;
};

static const struct text_case text_cases[] = {
	{ 200, "OK" },
	{ 400, "Bad Request" },
	{ 401, "Unauthorized" },
	{ 405, "Method Not Allowed" },
	{ 414, "URI Too Long" },
	{ 503, "Service Unavailable" },
	{ 299, "Error" },		/* one we never send */
	{ 0, NULL },
};

/* The reason phrase, in the Status line and the body. */
static void
test_status_text(void **state)
{
	const struct text_case *c;

	(void)state;
	for (c = text_cases; c->text; c++) {
		struct buf b;
		char want[64];

		buf_init(&b, 4096);
		assert_int_equal(request_append_error(&b, c->status, NULL, 0),
		    0);
		assert_int_equal(buf_append_char(&b, '\0'), 0);
		snprintf(want, sizeof(want), "Status: %d %s\r\n", c->status,
		    c->text);
		assert_memory_equal(b.data, want, strlen(want));
		snprintf(want, sizeof(want), "\r\n\r\n%d %s\n", c->status,
		    c->text);
		assert_non_null(strstr(b.data, want));
		buf_free(&b);
	}
}

/* The server passes exactly these CGI parameters in. */
static void
test_param_names(void **state)
{
	static const char *const want[] = {
		"REQUEST_METHOD", "QUERY_STRING", "REMOTE_USER",
		"HTTP_LAST_EVENT_ID", "HTTP_AUTHORIZATION", "HTTP_COOKIE",
		"PATH_INFO",
		NULL,
	};

	(void)state;
	for (const char *const *w = want; *w; w++) {
		const char *const *n;

		for (n = request_param_names; *n; n++)
			if (strcmp(*n, *w) == 0)
				break;
		assert_non_null(*n);
	}
}

struct extra_case {
	const char *query;
	const char *origin;
	const char *cors_list;
	int status;		/* 0 = accepted */
	int probe;
	const char *cors;	/* echoed origin, or NULL */
};

static const struct extra_case extra_cases[] = {
	{ "user=a&probe=1", NULL, NULL, 0, 1, NULL },
	{ "user=a", NULL, NULL, 0, 0, NULL },
	{ "user=a&probe=0", NULL, NULL, 400, 0, NULL },
	{ "user=a&probe=", NULL, NULL, 400, 0, NULL },
	{ "user=a&probe=1&probe=1", NULL, NULL, 400, 0, NULL },
	{ "probe=1", NULL, NULL, 401, 0, NULL },
	{ "user=a", "https://a.example", "https://a.example", 0, 0,
	    "https://a.example" },
	{ "user=a", "https://evil.example", "https://a.example", 0, 0, NULL },
	{ "user=a", "https://a.example", NULL, 0, 0, NULL },
	{ "user=a", NULL, "https://a.example", 0, 0, NULL },
	{ NULL, NULL, NULL, -1, 0, NULL },	/* sentinel */
};

static void
test_evaluate_probe_and_cors(void **state)
{
	(void)state;
	for (const struct extra_case *c = extra_cases; c->status >= 0; c++) {
		struct request r = { "GET", c->query, NULL, NULL, NULL, NULL,
		    c->origin, NULL };
		struct config cfg;
		struct request_spec spec;
		struct request_error err;
		int rc;

		memset(&cfg, 0, sizeof(cfg));
		cfg.auth = AUTH_QUERY;
		cfg.cors_origins = (char *)c->cors_list;
		rc = request_evaluate(&r, &cfg, &spec, &err);
		if (c->status) {
			assert_int_equal(rc, -1);
			assert_int_equal(err.status, c->status);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(spec.probe, c->probe);
		if (c->cors)
			assert_string_equal(spec.cors_origin, c->cors);
		else
			assert_null(spec.cors_origin);
		request_spec_free(&spec);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percent_decode),
		cmocka_unit_test(test_percent_decode_len),
		cmocka_unit_test(test_query_param),
		cmocka_unit_test(test_query_param_null),
		cmocka_unit_test(test_parse_last_id),
		cmocka_unit_test(test_parse_last_id_long),
		cmocka_unit_test(test_method_of),
		cmocka_unit_test(test_evaluate),
		cmocka_unit_test(test_evaluate_long_query),
		cmocka_unit_test(test_evaluate_long_user),
		cmocka_unit_test(test_append_error),
		cmocka_unit_test(test_status_text),
		cmocka_unit_test(test_param_names),
		cmocka_unit_test(test_evaluate_probe_and_cors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
