/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests for auth.c: credentials per mode (alone, and as request.c
 * finds them), cookies, the JWT secret.
 */
#include "auth.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "config.h"
#include "request.h"

#define NOW 1700000000LL
#define SECRET "auth-test-secret-0123456789abcdef0123"

/*
 * Minted by PyJWT 2.6 (Debian's python3-jwt) with SECRET:
 *   GOOD    {"sub":"alice","exp":4102444800,"channels":["room:7"]}
 *   OTHER   {"sub":"bob","exp":4102444800}
 *   NUMERIC {"sub":42,"exp":4102444800}
 *   EXPIRED {"sub":"alice","exp":1600000000}
 *   BADSIG  {"sub":"alice","exp":4102444800}, signed with another key
 */
#define GOOD "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." \
	"eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMCwiY2hhbm5lbHMiOlsicm9v" \
	"bTo3Il19.F_SRX3ygDVqsl7bnnx8tfRvdQEFSpZfB1gDRPJrp4O4"
#define OTHER "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." \
	"eyJzdWIiOiJib2IiLCJleHAiOjQxMDI0NDQ4MDB9." \
	"oEl1Crhe7qsQmzKX1w7LUZSKo2tKylAU2tFbK05bdVY"
#define NUMERIC "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." \
	"eyJzdWIiOjQyLCJleHAiOjQxMDI0NDQ4MDB9." \
	"ojWjHMna_u1anH7jL3Mol2GZHqqWz62qO80rYc7sAw4"
#define EXPIRED "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." \
	"eyJzdWIiOiJhbGljZSIsImV4cCI6MTYwMDAwMDAwMH0." \
	"tfRIMLR4xMXk3GUZgq5WRiVNehsgvGX1VsEpG9ETlZQ"
#define BADSIG "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9." \
	"eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0." \
	"o7WbmfiffHEUP6dMlPJ9DTwNGCPnaJlQgvl477xkjkE"

/* request_cookie: which value, if any, a Cookie header yields. */
struct cookie_case {
	const char *header;
	int rc;			/* 1 found, 0 absent, -1 refused */
	const char *value;	/* when found */
};

static const struct cookie_case cookie_cases[] = {
	{ "", 0, NULL },
	{ "a=b", 0, NULL },
	{ "sse_token=xyz", 1, "xyz" },
	{ "a=b; sse_token=xyz; c=d", 1, "xyz" },
	{ "a=b;sse_token=xyz;c=d", 1, "xyz" },
	{ "  a = b ;  sse_token = xyz  ;  c=d ", 1, "xyz" },
	{ "a=b;\tsse_token\t=\txyz\t", 1, "xyz" },
	{ "sse_token=xyz;", 1, "xyz" },
	{ ";;sse_token=xyz;;", 1, "xyz" },
	{ "flag; sse_token=xyz; other", 1, "xyz" },
	{ "sse_token=\"xyz\"", 1, "xyz" },
	{ "a=\"q\"; sse_token=\"x.y-z_0\"", 1, "x.y-z_0" },
	{ "sse_token=", 1, "" },
	{ "sse_token=\"\"", 1, "" },
	{ "sse_token=a.b=c", 1, "a.b=c" },
	{ "sse_token=a; sse_token=b", -1, NULL },
	{ "sse_token=a; sse_token=a", -1, NULL },
	{ "sse_token=a;sse_token=", -1, NULL },
	{ "xsse_token=a", 0, NULL },
	{ "sse_token_2=a", 0, NULL },
	{ "SSE_TOKEN=a", 0, NULL },
	{ "sse-token=a", 0, NULL },
	{ "a=sse_token=x", 0, NULL },
	{ "a=b, sse_token=xyz", 0, NULL },
	{ "sse_token", 0, NULL },
	{ "sse_token=a b", -1, NULL },
	{ "sse_token=a,b", -1, NULL },
	{ "sse_token=a\\b", -1, NULL },
	{ "sse_token=\"xyz", -1, NULL },
	{ "sse_token=xyz\"", -1, NULL },
	{ "sse_token=\"x\"y\"", -1, NULL },
	{ "sse_token=a\x7f", -1, NULL },
	{ "sse_token=\xc3\xa9", -1, NULL },
	{ NULL, 0, NULL },
};

static void
test_cookie(void **state)
{
	char *v = (char *)"untouched";
	size_t len = 99;

	(void)state;
	assert_int_equal(request_cookie(NULL, "sse_token", &v, &len), 0);
	assert_null(v);
	assert_int_equal(len, 0);
	for (const struct cookie_case *c = cookie_cases; c->header; c++) {
		print_message("Cookie: %s\n", c->header);
		assert_int_equal(request_cookie(c->header, "sse_token", &v,
		    &len), c->rc);
		if (c->rc != 1) {
			assert_null(v);
			continue;
		}
		assert_non_null(v);
		assert_string_equal(v, c->value);
		assert_int_equal(len, strlen(c->value));
		free(v);
	}
}

/*
 * jwt mode through request_evaluate (request.c finds the credential,
 * auth.c maps it): which credential decides, and the answer.
 */
struct jwt_case {
	const char *label;
	const char *authorization;	/* HTTP_AUTHORIZATION */
	const char *cookie;		/* HTTP_COOKIE */
	const char *query;		/* QUERY_STRING */
	int status;			/* 0: accepted */
	const char *user;		/* when accepted */
	const char *channel;		/* the one channel, or NULL */
};

static const struct jwt_case jwt_cases[] = {
	{ "bearer", "Bearer " GOOD, NULL, NULL, 0, "alice", "room:7" },
	{ "bearer, integer sub", "Bearer " NUMERIC, NULL, NULL, 0, "42",
	    NULL },
	{ "scheme lower case", "bearer " OTHER, NULL, NULL, 0, "bob", NULL },
	{ "scheme upper case", "BEARER " OTHER, NULL, NULL, 0, "bob", NULL },
	{ "several spaces", "Bearer   " OTHER, NULL, NULL, 0, "bob", NULL },
	{ "tab and trailing space", "Bearer\t" OTHER " ", NULL, NULL, 0,
	    "bob", NULL },
	{ "leading space", " Bearer " OTHER, NULL, NULL, 0, "bob", NULL },
	{ "header beats cookie", "Bearer " GOOD, "sse_token=" OTHER, NULL, 0,
	    "alice", "room:7" },
	{ "header beats query", "Bearer " GOOD, NULL, "token=" OTHER, 0,
	    "alice", "room:7" },
	{ "cookie", NULL, "sse_token=" OTHER, NULL, 0, "bob", NULL },
	{ "cookie among others", NULL, "theme=dark; sse_token=" GOOD
	    "; lang=fr", NULL, 0, "alice", "room:7" },
	{ "quoted cookie", NULL, "sse_token=\"" OTHER "\"", NULL, 0, "bob",
	    NULL },
	{ "cookie beats query", NULL, "sse_token=" GOOD, "token=" OTHER, 0,
	    "alice", "room:7" },
	{ "query", NULL, NULL, "token=" OTHER, 0, "bob", NULL },
	{ "query with lastEventId", NULL, NULL, "lastEventId=5&token=" GOOD,
	    0, "alice", "room:7" },
	{ "query, unrelated cookies", NULL, "a=b; c=d", "token=" OTHER, 0,
	    "bob", NULL },
	{ "empty header is no header", "", "sse_token=" OTHER, NULL, 0, "bob",
	    NULL },
	{ "blank header is no header", " \t", NULL, "token=" OTHER, 0, "bob",
	    NULL },
	{ "empty cookie is no cookie", NULL, "sse_token=", "token=" OTHER, 0,
	    "bob", NULL },

	{ "nothing", NULL, NULL, NULL, 401, NULL, NULL },
	{ "nothing usable", "", "a=b", "user=alice", 401, NULL, NULL },
	{ "bad bearer, good cookie", "Bearer " BADSIG, "sse_token=" GOOD,
	    NULL, 401, NULL, NULL },
	{ "expired bearer, good query", "Bearer " EXPIRED, NULL,
	    "token=" GOOD, 401, NULL, NULL },
	{ "Basic, good cookie", "Basic YWxpY2U6cHc=", "sse_token=" GOOD,
	    NULL, 401, NULL, NULL },
	{ "scheme only", "Bearer", "sse_token=" GOOD, NULL, 401, NULL, NULL },
	{ "scheme and space", "Bearer ", NULL, "token=" GOOD, 401, NULL,
	    NULL },
	{ "no space after scheme", "Bearer" GOOD, NULL, NULL, 401, NULL,
	    NULL },
	{ "two tokens", "Bearer " GOOD " " GOOD, NULL, NULL, 401, NULL,
	    NULL },
	{ "Bearer-ish scheme", "Bearerx " GOOD, NULL, NULL, 401, NULL, NULL },
	{ "token without scheme", GOOD, NULL, NULL, 401, NULL, NULL },
	{ "bad cookie, good query", NULL, "sse_token=" EXPIRED,
	    "token=" GOOD, 401, NULL, NULL },
	{ "two cookies", NULL, "sse_token=" GOOD "; sse_token=" GOOD, NULL,
	    401, NULL, NULL },
	{ "malformed cookie, good query", NULL, "sse_token=a b",
	    "token=" GOOD, 401, NULL, NULL },
	{ "bad signature in cookie", NULL, "sse_token=" BADSIG, NULL, 401,
	    NULL, NULL },
	{ "bad query token", NULL, NULL, "token=" BADSIG, 401, NULL, NULL },
	{ "empty query token", NULL, NULL, "token=", 401, NULL, NULL },
	{ "two query tokens", NULL, NULL, "token=" GOOD "&token=" GOOD, 401,
	    NULL, NULL },
	{ "malformed query token", NULL, NULL, "token=%zz", 401, NULL,
	    NULL },
	{ "junk token", "Bearer abc.def.ghi", NULL, NULL, 401, NULL, NULL },
	{ NULL, NULL, NULL, NULL, 0, NULL, NULL },
};

static void
jwt_config(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->auth = AUTH_JWT;
	cfg->jwt_secret = (char *)SECRET;
}

static void
test_jwt_sources(void **state)
{
	struct config cfg;

	(void)state;
	jwt_config(&cfg);
	for (const struct jwt_case *c = jwt_cases; c->label; c++) {
		struct request r = {
			.method = "GET",
			.authorization = c->authorization,
			.cookie = c->cookie,
			.query = c->query,
		};
		struct request_spec spec;
		struct request_error err = { 0, NULL };

		print_message("%s\n", c->label);
		if (c->status) {
			assert_int_equal(request_evaluate(&r, &cfg, &spec,
			    &err), -1);
			assert_int_equal(err.status, c->status);
			assert_non_null(err.reason);
			assert_null(strstr(err.reason, "eyJ"));
			assert_null(strstr(err.reason, SECRET));
			assert_null(spec.user);
			assert_int_equal(spec.nchannels, 0);
			continue;
		}
		if (request_evaluate(&r, &cfg, &spec, &err) != 0) {
			print_error("%s: refused %d: %s\n", c->label,
			    err.status, err.reason);
			fail();
		}
		assert_string_equal(spec.user, c->user);
		assert_int_equal(spec.user_len, strlen(c->user));
		assert_int_equal(spec.nchannels, c->channel ? 1 : 0);
		if (c->channel) {
			assert_string_equal(spec.channels[0], c->channel);
			assert_int_equal(spec.channel_lens[0],
			    strlen(c->channel));
		}
		request_spec_free(&spec);
	}
}

/* The token is checked against the configured key, at the given time. */
static void
identity_free(struct auth_identity *id)
{
	free(id->user);
	for (size_t i = 0; i < id->nchannels; i++)
		free(id->channels[i]);
	memset(id, 0, sizeof(*id));
}

static void
test_jwt_key_and_time(void **state)
{
	struct auth_credential cred = { GOOD, sizeof(GOOD) - 1 };
	struct auth_identity id;
	struct config cfg;
	const char *reason = NULL;
	int status = 0;

	(void)state;
	jwt_config(&cfg);
	cfg.jwt_secret = (char *)"another-secret-0123456789abcdef01234";
	assert_int_equal(auth_identify(&cfg, &cred, NOW, &id, &reason,
	    &status), -1);
	assert_int_equal(status, 401);
	assert_null(id.user);

	cfg.jwt_secret = NULL;
	assert_int_equal(auth_identify(&cfg, &cred, NOW, &id, &reason,
	    &status), -1);
	assert_int_equal(status, 500);

	jwt_config(&cfg);
	assert_int_equal(auth_identify(&cfg, &cred, 4102444800LL + 59, &id,
	    &reason, &status), 0);
	assert_string_equal(id.user, "alice");
	assert_int_equal(id.nchannels, 1);
	assert_string_equal(id.channels[0], "room:7");
	identity_free(&id);
	assert_int_equal(auth_identify(&cfg, &cred, 4102444800LL + 60, &id,
	    &reason, &status), -1);
	assert_int_equal(status, 401);
	assert_null(id.user);

	cred.value = EXPIRED;
	cred.len = sizeof(EXPIRED) - 1;
	assert_int_equal(auth_identify(&cfg, &cred, 1600000000LL, &id,
	    &reason, &status), 0);
	assert_string_equal(id.user, "alice");
	identity_free(&id);

	/* A token is only a length of bytes: what follows is not read. */
	cred.value = "Bearer " GOOD "trailing";
	cred.value += 7;
	cred.len = sizeof(GOOD) - 1;
	assert_int_equal(auth_identify(&cfg, &cred, NOW, &id, &reason,
	    &status), 0);
	identity_free(&id);
}

/* auth.c alone: a credential already found, mapped per mode. */
struct cred_case {
	const char *label;
	enum auth_mode mode;
	const char *value;	/* NULL: none */
	size_t len;
	int status;		/* 0: accepted */
};

static const struct cred_case cred_cases[] = {
	{ "remote-user", AUTH_REMOTE_USER, "alice", 5, 0 },
	{ "remote-user absent", AUTH_REMOTE_USER, NULL, 0, 401 },
	{ "remote-user empty", AUTH_REMOTE_USER, "", 0, 401 },
	{ "query user", AUTH_QUERY, "bob", 3, 0 },
	{ "query user with a NUL", AUTH_QUERY, "b\0b", 3, 401 },
	{ "query user absent", AUTH_QUERY, NULL, 0, 401 },
	{ "jwt absent", AUTH_JWT, NULL, 0, 401 },
	{ "jwt junk", AUTH_JWT, "abc.def.ghi", 11, 401 },
	{ "no mode", AUTH_NONE, "alice", 5, 401 },
	{ NULL, AUTH_NONE, NULL, 0, 0 },
};

static void
test_identify_credential(void **state)
{
	(void)state;
	for (const struct cred_case *c = cred_cases; c->label; c++) {
		struct auth_credential cred = { c->value, c->len };
		struct auth_identity id;
		struct config cfg;
		const char *reason = NULL;
		int status = 0;
		int rc;

		print_message("%s\n", c->label);
		jwt_config(&cfg);
		cfg.auth = c->mode;
		rc = auth_identify(&cfg, &cred, NOW, &id, &reason, &status);
		if (c->status) {
			assert_int_equal(rc, -1);
			assert_int_equal(status, c->status);
			assert_non_null(reason);
			assert_null(id.user);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(id.user_len, c->len);
		assert_memory_equal(id.user, c->value, c->len);
		assert_int_equal(id.user[c->len], '\0');
		identity_free(&id);
	}
}

/* The other modes, for completeness: what they read and refuse. */
struct mode_case {
	const char *label;
	enum auth_mode mode;
	const char *remote_user;
	const char *query;
	const char *authorization;
	int status;		/* 0: accepted */
	const char *user;
};

static const struct mode_case mode_cases[] = {
	{ "remote-user", AUTH_REMOTE_USER, "alice", NULL, NULL, 0, "alice" },
	{ "remote-user ignores tokens", AUTH_REMOTE_USER, NULL, "user=bob",
	    "Bearer " GOOD, 401, NULL },
	{ "remote-user empty", AUTH_REMOTE_USER, "", NULL, NULL, 401, NULL },
	{ "query", AUTH_QUERY, NULL, "user=bob", NULL, 0, "bob" },
	{ "query decoded", AUTH_QUERY, NULL, "user=a%20b+c", NULL, 0,
	    "a b c" },
	{ "query ignores tokens", AUTH_QUERY, NULL, "token=" GOOD,
	    "Bearer " GOOD, 401, NULL },
	{ "query repeated", AUTH_QUERY, NULL, "user=a&user=b", NULL, 400,
	    NULL },
	{ "query empty", AUTH_QUERY, NULL, "user=", NULL, 401, NULL },
	{ "jwt ignores REMOTE_USER", AUTH_JWT, "alice", "user=alice", NULL,
	    401, NULL },
	{ "no mode", AUTH_NONE, "alice", "user=alice", NULL, 401, NULL },
	{ NULL, AUTH_NONE, NULL, NULL, NULL, 0, NULL },
};

static void
test_modes(void **state)
{
	(void)state;
	for (const struct mode_case *c = mode_cases; c->label; c++) {
		struct request r = {
			.method = "GET",
			.remote_user = c->remote_user,
			.query = c->query,
			.authorization = c->authorization,
		};
		struct request_spec spec;
		struct request_error err = { 0, NULL };
		struct config cfg;
		int rc;

		print_message("%s\n", c->label);
		jwt_config(&cfg);
		cfg.auth = c->mode;
		rc = request_evaluate(&r, &cfg, &spec, &err);
		if (c->status) {
			assert_int_equal(rc, -1);
			assert_int_equal(err.status, c->status);
			assert_null(spec.user);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_string_equal(spec.user, c->user);
		assert_int_equal(spec.nchannels, 0);
		request_spec_free(&spec);
	}
}

/* request_evaluate carries the token's channels into the spec. */
static void
test_evaluate(void **state)
{
	struct request r = { .method = "GET", .cookie = "sse_token=" GOOD,
	    .query = "lastEventId=7" };
	struct request_spec spec;
	struct request_error err;
	struct config cfg;

	(void)state;
	jwt_config(&cfg);
	assert_int_equal(request_evaluate(&r, &cfg, &spec, &err), 0);
	assert_string_equal(spec.user, "alice");
	assert_int_equal(spec.nchannels, 1);
	assert_string_equal(spec.channels[0], "room:7");
	assert_int_equal(spec.has_resume, 1);
	assert_int_equal(spec.resume, 7);
	request_spec_free(&spec);
	assert_int_equal(spec.nchannels, 0);

	r.cookie = "sse_token=" BADSIG;
	assert_int_equal(request_evaluate(&r, &cfg, &spec, &err), -1);
	assert_int_equal(err.status, 401);
	assert_null(spec.user);

	r.method = "POST";
	assert_int_equal(request_evaluate(&r, &cfg, &spec, &err), -1);
	assert_int_equal(err.status, 405);
}

/* A getter over a NULL-terminated list of name, value pairs. */
static const char *
pairs_get(void *ctx, const char *name)
{
	const char *const *p = ctx;

	for (; *p; p += 2)
		if (strcmp(p[0], name) == 0)
			return p[1];
	return NULL;
}

#define KEY32 "0123456789abcdef0123456789abcdef"
#define KEY31 "123456789abcdef0123456789abcdef"

/* config_load in jwt mode: which key it keeps, and what it refuses. */
struct secret_case {
	const char *label;
	const char *vars[10];	/* name, value, ..., NULL */
	int errors;
	const char *named;	/* variable the error names */
	const char *secret;	/* cfg.jwt_secret when no error */
};

static const struct secret_case secret_cases[] = {
	{ "secret", { "SSE_JWT_SECRET", KEY32, NULL }, 0, NULL, KEY32 },
	{ "file preferred", { "SSE_JWT_SECRET", KEY32, "SSE_JWT_SECRET_FILE",
	    "/run/secrets/sse", NULL }, 0, NULL, NULL },
	{ "file only", { "SSE_JWT_SECRET_FILE", "/run/secrets/sse", NULL }, 0,
	    NULL, NULL },
	{ "neither", { NULL }, 1, "SSE_AUTH", NULL },
	{ "empty secret", { "SSE_JWT_SECRET", "", NULL }, 1, "SSE_JWT_SECRET",
	    NULL },
	{ "31 bytes", { "SSE_JWT_SECRET", KEY31, NULL }, 1,
	    "SSE_JWT_SECRET", NULL },
	{ "short", { "SSE_JWT_SECRET", "secret", NULL }, 1, "SSE_JWT_SECRET",
	    NULL },
	{ "empty file name", { "SSE_JWT_SECRET_FILE", "", NULL }, 1,
	    "SSE_JWT_SECRET_FILE", NULL },
	{ NULL, { NULL }, 0, NULL, NULL },
};

static void
test_config_secret(void **state)
{
	(void)state;
	for (const struct secret_case *c = secret_cases; c->label; c++) {
		const char *vars[16] = { "SSE_DB", "/tmp/x.db", "SSE_AUTH",
		    "jwt" };
		char err[CONFIG_ERR_LEN];
		struct config cfg;
		size_t n = 4;

		print_message("%s\n", c->label);
		for (size_t i = 0; c->vars[i]; i++)
			vars[n++] = c->vars[i];
		vars[n] = NULL;
		assert_int_equal(config_load(&cfg, pairs_get, vars, err,
		    sizeof(err)), c->errors);
		if (c->errors) {
			assert_int_equal(strncmp(err, c->named,
			    strlen(c->named)), 0);
			assert_int_equal(err[strlen(c->named)], ':');
			assert_null(strstr(err, KEY31));
			assert_null(strchr(err, '\n'));
		} else if (c->secret) {
			assert_string_equal(cfg.jwt_secret, c->secret);
		} else {
			assert_null(cfg.jwt_secret);
		}
		config_free(&cfg);
	}
}

/* A short key is no problem outside jwt mode: it is not used. */
static void
test_config_secret_other_mode(void **state)
{
	const char *vars[] = { "SSE_DB", "/tmp/x.db", "SSE_AUTH",
	    "remote-user", "SSE_JWT_SECRET", "short", NULL };
	char err[CONFIG_ERR_LEN];
	struct config cfg;

	(void)state;
	assert_int_equal(config_load(&cfg, pairs_get, vars, err,
	    sizeof(err)), 0);
	config_free(&cfg);
}

/* config_set_jwt_secret: what main hands over from the file. */
static void
test_set_secret(void **state)
{
	char big[CONFIG_JWT_SECRET_MAX + 1];
	char err[256];
	struct config cfg;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	memset(big, 'k', sizeof(big));
	assert_int_equal(config_set_jwt_secret(&cfg, "SSE_JWT_SECRET_FILE",
	    KEY32, 32, err, sizeof(err)), 0);
	assert_string_equal(cfg.jwt_secret, KEY32);
	assert_int_equal(config_set_jwt_secret(&cfg, "SSE_JWT_SECRET_FILE",
	    KEY32 "x", 33, err, sizeof(err)), 0);
	assert_string_equal(cfg.jwt_secret, KEY32 "x");
	assert_int_equal(config_set_jwt_secret(&cfg, "SSE_JWT_SECRET_FILE",
	    big, CONFIG_JWT_SECRET_MAX, err, sizeof(err)), 0);
	assert_int_equal(strlen(cfg.jwt_secret), CONFIG_JWT_SECRET_MAX);

	assert_int_equal(config_set_jwt_secret(&cfg, "SSE_JWT_SECRET_FILE",
	    big, CONFIG_JWT_SECRET_MAX + 1, err, sizeof(err)), -1);
	assert_int_equal(strncmp(err, "SSE_JWT_SECRET_FILE: ", 21), 0);
	assert_int_equal(config_set_jwt_secret(&cfg, "SSE_JWT_SECRET_FILE",
	    "", 0, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "empty"));
	assert_int_equal(config_set_jwt_secret(&cfg, "SSE_JWT_SECRET_FILE",
	    KEY32, 31, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "32"));
	assert_null(strstr(err, "0123456789"));
	assert_int_equal(config_set_jwt_secret(&cfg, "SSE_JWT_SECRET_FILE",
	    KEY32 "\0" KEY32, 65, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "NUL"));
	/* Refusals keep the key already set. */
	assert_int_equal(strlen(cfg.jwt_secret), CONFIG_JWT_SECRET_MAX);
	config_free(&cfg);
	assert_null(cfg.jwt_secret);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cookie),
		cmocka_unit_test(test_jwt_sources),
		cmocka_unit_test(test_jwt_key_and_time),
		cmocka_unit_test(test_identify_credential),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_evaluate),
		cmocka_unit_test(test_config_secret),
		cmocka_unit_test(test_config_secret_other_mode),
		cmocka_unit_test(test_set_secret),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
