/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for config.c: defaults, validation, errors named together. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#define MAX_VARS 8

/* One environment variable; a list ends at name NULL. */
struct var {
	const char *name;
	const char *value;
};

/* config_getter over a list of struct var. */
static const char *
vars_get(void *ctx, const char *name)
{
	const struct var *v = ctx;

	for (; v->name; v++)
		if (strcmp(v->name, name) == 0)
			return v->value;
	return NULL;
}

/* Does err hold a line that starts with "name:"? */
static int
err_names(const char *err, const char *name)
{
	size_t n = strlen(name);
	const char *line = err;

	while (*line) {
		const char *end = strchr(line, '\n');

		if (strncmp(line, name, n) == 0 && line[n] == ':')
			return 1;
		if (!end)
			break;
		line = end + 1;
	}
	return 0;
}

static int
err_lines(const char *err)
{
	int n = *err ? 1 : 0;

	for (const char *p = err; *p; p++)
		n += *p == '\n';
	return n;
}

#define DB { "SSE_DB", "/var/lib/app/outbox.db" }
#define REMOTE { "SSE_AUTH", "remote-user" }
#define END { NULL, NULL }

struct error_case {
	const char *label;
	struct var vars[MAX_VARS];
	int errors;
	const char *named[7];	/* variables err must name; NULL ends */
};

static const struct error_case error_cases[] = {
	{ "only SSE_DB and SSE_AUTH", { DB, REMOTE, END }, 0, { NULL } },
	{ "query mode", { DB, { "SSE_AUTH", "query" }, END }, 0, { NULL } },
	{ "missing SSE_DB", { REMOTE, END }, 1, { "SSE_DB", NULL } },
	{ "empty SSE_DB", { { "SSE_DB", "" }, REMOTE, END }, 1,
	    { "SSE_DB", NULL } },
	{ "missing SSE_AUTH", { DB, END }, 1, { "SSE_AUTH", NULL } },
	{ "nothing at all", { END }, 2, { "SSE_DB", "SSE_AUTH", NULL } },
	{ "empty SSE_AUTH", { DB, { "SSE_AUTH", "" }, END }, 1,
	    { "SSE_AUTH", NULL } },
	{ "SSE_AUTH basic", { DB, { "SSE_AUTH", "basic" }, END }, 1,
	    { "SSE_AUTH", NULL } },
	{ "SSE_AUTH none", { DB, { "SSE_AUTH", "none" }, END }, 1,
	    { "SSE_AUTH", NULL } },
	{ "SSE_AUTH case", { DB, { "SSE_AUTH", "Remote-User" }, END }, 1,
	    { "SSE_AUTH", NULL } },
	{ "SSE_AUTH space", { DB, { "SSE_AUTH", "remote-user " }, END }, 1,
	    { "SSE_AUTH", NULL } },
	{ "SSE_AUTH jwt without a key", { DB, { "SSE_AUTH", "jwt" }, END },
	    1, { "SSE_AUTH", NULL } },
	{ "SSE_HEARTBEAT 0", { DB, REMOTE, { "SSE_HEARTBEAT", "0" }, END },
	    1, { "SSE_HEARTBEAT", NULL } },
	{ "SSE_HEARTBEAT -1", { DB, REMOTE, { "SSE_HEARTBEAT", "-1" }, END },
	    1, { "SSE_HEARTBEAT", NULL } },
	{ "SSE_HEARTBEAT 15x", { DB, REMOTE, { "SSE_HEARTBEAT", "15x" },
	    END }, 1, { "SSE_HEARTBEAT", NULL } },
	{ "SSE_HEARTBEAT 99999", { DB, REMOTE, { "SSE_HEARTBEAT", "99999" },
	    END }, 1, { "SSE_HEARTBEAT", NULL } },
	{ "SSE_HEARTBEAT empty", { DB, REMOTE, { "SSE_HEARTBEAT", "" }, END },
	    1, { "SSE_HEARTBEAT", NULL } },
	{ "SSE_HEARTBEAT ' 15'", { DB, REMOTE, { "SSE_HEARTBEAT", " 15" },
	    END }, 1, { "SSE_HEARTBEAT", NULL } },
	{ "SSE_HEARTBEAT '15 '", { DB, REMOTE, { "SSE_HEARTBEAT", "15 " },
	    END }, 1, { "SSE_HEARTBEAT", NULL } },
	{ "SSE_HEARTBEAT +15", { DB, REMOTE, { "SSE_HEARTBEAT", "+15" },
	    END }, 1, { "SSE_HEARTBEAT", NULL } },
	{ "SSE_HEARTBEAT 0x10", { DB, REMOTE, { "SSE_HEARTBEAT", "0x10" },
	    END }, 1, { "SSE_HEARTBEAT", NULL } },
	{ "SSE_HEARTBEAT 1e3", { DB, REMOTE, { "SSE_HEARTBEAT", "1e3" },
	    END }, 1, { "SSE_HEARTBEAT", NULL } },
	{ "SSE_HEARTBEAT 1.5", { DB, REMOTE, { "SSE_HEARTBEAT", "1.5" },
	    END }, 1, { "SSE_HEARTBEAT", NULL } },
	{ "SSE_HEARTBEAT overflow", { DB, REMOTE,
	    { "SSE_HEARTBEAT", "99999999999999999999999" }, END }, 1,
	    { "SSE_HEARTBEAT", NULL } },
	{ "SSE_RETRY -1", { DB, REMOTE, { "SSE_RETRY", "-1" }, END }, 1,
	    { "SSE_RETRY", NULL } },
	{ "SSE_RETRY 3s", { DB, REMOTE, { "SSE_RETRY", "3s" }, END }, 1,
	    { "SSE_RETRY", NULL } },
	{ "SSE_MAX_STREAM -1", { DB, REMOTE, { "SSE_MAX_STREAM", "-1" },
	    END }, 1, { "SSE_MAX_STREAM", NULL } },
	{ "SSE_MAX_STREAMS 0", { DB, REMOTE, { "SSE_MAX_STREAMS", "0" },
	    END }, 1, { "SSE_MAX_STREAMS", NULL } },
	{ "SSE_MAX_STREAMS -1", { DB, REMOTE, { "SSE_MAX_STREAMS", "-1" },
	    END }, 1, { "SSE_MAX_STREAMS", NULL } },
	{ "SSE_MAX_STREAMS 1000001", { DB, REMOTE,
	    { "SSE_MAX_STREAMS", "1000001" }, END }, 1,
	    { "SSE_MAX_STREAMS", NULL } },
	{ "SSE_MAX_STREAMS overflow", { DB, REMOTE,
	    { "SSE_MAX_STREAMS", "99999999999999999999" }, END }, 1,
	    { "SSE_MAX_STREAMS", NULL } },
	{ "SSE_MAX_STREAMS 10k", { DB, REMOTE, { "SSE_MAX_STREAMS", "10k" },
	    END }, 1, { "SSE_MAX_STREAMS", NULL } },
	{ "SSE_MAX_STREAMS empty", { DB, REMOTE, { "SSE_MAX_STREAMS", "" },
	    END }, 1, { "SSE_MAX_STREAMS", NULL } },
	{ "SSE_LISTEN empty", { DB, REMOTE, { "SSE_LISTEN", "" }, END }, 1,
	    { "SSE_LISTEN", NULL } },
	{ "several at once", { { "SSE_AUTH", "basic" },
	    { "SSE_HEARTBEAT", "0" }, { "SSE_RETRY", "-5" },
	    { "SSE_MAX_STREAM", "x" }, { "SSE_MAX_STREAMS", "0" }, END }, 6,
	    { "SSE_DB", "SSE_AUTH", "SSE_HEARTBEAT", "SSE_RETRY",
	    "SSE_MAX_STREAM", "SSE_MAX_STREAMS", NULL } },
	{ "two bad numbers", { DB, REMOTE, { "SSE_HEARTBEAT", "-1" },
	    { "SSE_MAX_STREAMS", "many" }, END }, 2,
	    { "SSE_HEARTBEAT", "SSE_MAX_STREAMS", NULL } },
	{ NULL, { END }, 0, { NULL } },
};

/*
 * The count is the number of problems; err holds one line per problem,
 * each "NAME: reason", and names every variable at fault.
 */
static void
test_errors(void **state)
{
	const struct error_case *c;

	(void)state;
	for (c = error_cases; c->label; c++) {
		struct config cfg;
		char err[CONFIG_ERR_LEN];

		print_message("%s\n", c->label);
		memset(err, 'x', sizeof(err));
		assert_int_equal(config_load(&cfg, vars_get, (void *)c->vars,
		    err, sizeof(err)), c->errors);
		assert_non_null(memchr(err, '\0', sizeof(err)));
		assert_int_equal(err_lines(err), c->errors);
		for (const char *const *name = c->named; *name; name++)
			assert_true(err_names(err, *name));
		for (const char *line = err; *line; ) {
			const char *end = strchr(line, '\n');

			assert_int_equal(strncmp(line, "SSE_", 4), 0);
			assert_non_null(strstr(line, ": "));
			if (!end)
				break;
			line = end + 1;
		}
		config_free(&cfg);
	}
}

/* Only SSE_DB and SSE_AUTH set: every other setting has its default. */
static void
test_defaults(void **state)
{
	static const struct var vars[] = { DB, REMOTE, END };
	struct config cfg;
	char err[CONFIG_ERR_LEN];

	(void)state;
	assert_int_equal(config_load(&cfg, vars_get, (void *)vars, err,
	    sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_string_equal(cfg.db, "/var/lib/app/outbox.db");
	assert_int_equal(cfg.auth, AUTH_REMOTE_USER);
	assert_null(cfg.jwt_secret);
	assert_null(cfg.jwt_secret_file);
	assert_int_equal(cfg.heartbeat, 15);
	assert_int_equal(cfg.retry, 3000);
	assert_int_equal(cfg.max_stream, 0);
	assert_int_equal(cfg.max_streams, 1024);
	assert_null(cfg.listen);
	config_free(&cfg);
	assert_null(cfg.db);
	config_free(&cfg);
	config_free(NULL);
}

struct value_case {
	const char *name;
	const char *value;
	size_t offset;		/* of a long in struct config */
	long want;
};

#define AT(field) offsetof(struct config, field)

static const struct value_case value_cases[] = {
	{ "SSE_HEARTBEAT", "1", AT(heartbeat), 1 },
	{ "SSE_HEARTBEAT", "30", AT(heartbeat), 30 },
	{ "SSE_HEARTBEAT", "030", AT(heartbeat), 30 },
	{ "SSE_HEARTBEAT", "3600", AT(heartbeat), 3600 },
	{ "SSE_RETRY", "0", AT(retry), 0 },
	{ "SSE_RETRY", "500", AT(retry), 500 },
	{ "SSE_MAX_STREAM", "0", AT(max_stream), 0 },
	{ "SSE_MAX_STREAM", "86400", AT(max_stream), 86400 },
	{ "SSE_MAX_STREAMS", "1", AT(max_streams), 1 },
	{ "SSE_MAX_STREAMS", "2048", AT(max_streams), 2048 },
	{ "SSE_MAX_STREAMS", "1000000", AT(max_streams), 1000000 },
	{ NULL, NULL, 0, 0 },
};

static void
test_values(void **state)
{
	const struct value_case *c;

	(void)state;
	for (c = value_cases; c->name; c++) {
		struct var vars[] = { DB, REMOTE, { c->name, c->value }, END };
		struct config cfg;
		char err[CONFIG_ERR_LEN];
		long got;

		print_message("%s=%s\n", c->name, c->value);
		assert_int_equal(config_load(&cfg, vars_get, vars, err,
		    sizeof(err)), 0);
		assert_string_equal(err, "");
		memcpy(&got, (char *)&cfg + c->offset, sizeof(got));
		assert_int_equal(got, c->want);
		config_free(&cfg);
	}
}

static void
test_strings(void **state)
{
	static const struct var vars[] = {
		{ "SSE_DB", "/tmp/o.db" }, { "SSE_AUTH", "query" },
		{ "SSE_LISTEN", "127.0.0.1:9000" }, END,
	};
	struct config cfg;
	char err[CONFIG_ERR_LEN];

	(void)state;
	assert_int_equal(config_load(&cfg, vars_get, (void *)vars, err,
	    sizeof(err)), 0);
	assert_string_equal(cfg.db, "/tmp/o.db");
	assert_int_equal(cfg.auth, AUTH_QUERY);
	assert_string_equal(cfg.listen, "127.0.0.1:9000");
	/* cfg owns copies, not the getter's strings */
	assert_ptr_not_equal(cfg.db, vars[0].value);
	assert_ptr_not_equal(cfg.listen, vars[2].value);
	config_free(&cfg);
}

/* Values come from the getter only, never straight from the process. */
static void
test_getter_only(void **state)
{
	static const struct var vars[] = { REMOTE, END };
	struct config cfg;
	char err[CONFIG_ERR_LEN];

	(void)state;
	assert_int_equal(setenv("SSE_DB", "/from/environ.db", 1), 0);
	assert_int_equal(setenv("SSE_HEARTBEAT", "0", 1), 0);
	assert_int_equal(config_load(&cfg, vars_get, (void *)vars, err,
	    sizeof(err)), 1);
	assert_true(err_names(err, "SSE_DB"));
	assert_int_equal(cfg.heartbeat, 15);
	config_free(&cfg);
	assert_int_equal(unsetenv("SSE_DB"), 0);
	assert_int_equal(unsetenv("SSE_HEARTBEAT"), 0);
}

/* The count stays right however small err is, and err stays a string. */
static void
test_small_err(void **state)
{
	static const struct var vars[] = {
		{ "SSE_HEARTBEAT", "0" }, { "SSE_MAX_STREAMS", "0" }, END,
	};
	static const size_t sizes[] = { 1, 2, 8, 40, 100, 0 };
	struct config cfg;

	(void)state;
	for (const size_t *n = sizes; *n; n++) {
		char err[128];

		memset(err, 'x', sizeof(err));
		assert_int_equal(config_load(&cfg, vars_get, (void *)vars, err,
		    *n), 4);
		assert_non_null(memchr(err, '\0', *n));
		for (size_t i = *n; i < sizeof(err); i++)
			assert_int_equal(err[i], 'x');
		config_free(&cfg);
	}
	assert_int_equal(config_load(&cfg, vars_get, (void *)vars, NULL, 0),
	    4);
	config_free(&cfg);
}

struct auth_case {
	enum auth_mode mode;
	const char *name;
};

static const struct auth_case auth_cases[] = {
	{ AUTH_REMOTE_USER, "remote-user" },
	{ AUTH_JWT, "jwt" },
	{ AUTH_QUERY, "query" },
	{ AUTH_NONE, NULL },
};

static void
test_auth_names(void **state)
{
	const struct auth_case *c;

	(void)state;
	for (c = auth_cases; c->name; c++)
		assert_string_equal(config_auth_name(c->mode), c->name);
	assert_non_null(config_auth_name((enum auth_mode)99));
}

/* What --help prints agrees with the documented table. */
struct documented {
	const char *name;
	const char *deflt;	/* NULL: no default */
	int seen;
};

static void
describe_collect(void *ctx, const char *name, const char *deflt,
    const char *help)
{
	struct documented *d = ctx;

	assert_non_null(name);
	assert_non_null(help);
	assert_true(strlen(help) > 0);
	for (; d->name; d++) {
		if (strcmp(d->name, name) != 0)
			continue;
		d->seen++;
		if (d->deflt)
			assert_string_equal(deflt, d->deflt);
		else
			assert_null(deflt);
	}
}

static void
test_describe(void **state)
{
	struct documented doc[] = {
		{ "SSE_DB", NULL, 0 },
		{ "SSE_AUTH", NULL, 0 },
		{ "SSE_JWT_SECRET", NULL, 0 },
		{ "SSE_JWT_SECRET_FILE", NULL, 0 },
		{ "SSE_HEARTBEAT", "15", 0 },
		{ "SSE_RETRY", "3000", 0 },
		{ "SSE_MAX_STREAM", "0", 0 },
		{ "SSE_MAX_STREAMS", "1024", 0 },
		{ "SSE_LISTEN", NULL, 0 },
		{ NULL, NULL, 0 },
	};

	(void)state;
	config_describe(describe_collect, doc);
	for (const struct documented *d = doc; d->name; d++)
		assert_int_equal(d->seen, 1);
}

struct origin_case {
	const char *list;
	const char *origin;
	int allowed;
};

static const struct origin_case origin_cases[] = {
	{ "https://a.example", "https://a.example", 1 },
	{ "https://a.example https://b.example", "https://b.example", 1 },
	{ "https://a.example,https://b.example", "https://b.example", 1 },
	{ " https://a.example ,  https://b.example ", "https://a.example", 1 },
	{ "https://a.example", "https://a.example.evil", 0 },
	{ "https://a.example", "https://a.exampl", 0 },
	{ "https://a.example", "http://a.example", 0 },
	{ "https://a.example", "HTTPS://A.EXAMPLE", 0 },
	{ "https://a.example", "", 0 },
	{ "https://a.example", "null", 0 },
	{ NULL, "https://a.example", 0 },
	{ "", "https://a.example", 0 },
	{ "https://a.example", NULL, -1 },	/* sentinel */
};

static void
test_origin_allowed(void **state)
{
	(void)state;
	for (const struct origin_case *c = origin_cases; c->allowed >= 0; c++)
		assert_int_equal(config_origin_allowed(c->list, c->origin,
		    strlen(c->origin)), c->allowed);
}

struct new_setting_case {
	const char *name;
	const char *value;
	int errors;
};

static const struct new_setting_case new_setting_cases[] = {
	{ "SSE_MAX_PER_USER", "4", 0 },
	{ "SSE_MAX_PER_USER", "-1", 1 },
	{ "SSE_STATS", "1", 0 },
	{ "SSE_STATS", "2", 1 },
	{ "SSE_ANNOUNCE_START", "1", 0 },
	{ "SSE_ANNOUNCE_START", "yes", 1 },
	{ "SSE_CORS_ORIGINS", "https://a.example", 0 },
	{ "SSE_CORS_ORIGINS", "https://a.example\r\nSet-Cookie: x=1", 1 },
	{ NULL, NULL, 0 },	/* sentinel */
};

struct two_vars {
	const char *name;
	const char *value;
};

static const char *
two_vars_get(void *ctx, const char *name)
{
	const struct two_vars *v = ctx;

	if (strcmp(name, "SSE_DB") == 0)
		return "/tmp/x.db";
	if (strcmp(name, "SSE_AUTH") == 0)
		return "query";
	return strcmp(name, v->name) == 0 ? v->value : NULL;
}

static void
test_new_settings(void **state)
{
	(void)state;
	for (const struct new_setting_case *c = new_setting_cases; c->name;
	    c++) {
		struct two_vars v = { c->name, c->value };
		struct config cfg;
		char err[CONFIG_ERR_LEN];

		assert_int_equal(config_load(&cfg, two_vars_get, &v, err,
		    sizeof(err)), c->errors);
		if (c->errors) {
			assert_non_null(strstr(err, c->name));
			assert_null(strchr(err, '\r'));
		}
		config_free(&cfg);
	}
}

/* ---- the settings file (config_file_parse, config_load_file) ---- */

#define F "/srv/t/sse-outbox.conf"

struct file_case {
	const char *label;
	const char *text;
	int parsed;		/* 1: config_file_parse accepts it */
	const char *err;	/* a line err must hold (parse or load) */
	int load_errors;	/* when parsed: what config_load_file says */
	const char *db;		/* when loaded: cfg.db expected */
	long heartbeat;		/* when loaded: cfg.heartbeat expected */
};

static const struct file_case file_cases[] = {
	{ "plain", "SSE_DB=/a.db\nSSE_AUTH=remote-user\n", 1, NULL, 0,
	    "/a.db", 15 },
	{ "comments, blanks, CR LF, spaces around '='",
	    "# settings\r\n\r\n   \t\n  SSE_DB = /a b.db  \r\n"
	    "\t# indented comment\nSSE_AUTH\t=\tremote-user\r\n"
	    "SSE_HEARTBEAT=20", 1, NULL, 0, "/a b.db", 20 },
	{ "quotes around the value", "SSE_DB=\"/q.db\"\nSSE_AUTH='query'\n",
	    1, NULL, 0, "/q.db", 15 },
	{ "a lone quote stays", "SSE_DB=\"/q.db\nSSE_AUTH=query\n", 1, NULL,
	    0, "\"/q.db", 15 },
	{ "'#' inside a value is not a comment",
	    "SSE_DB=/a#b.db\nSSE_AUTH=query\n", 1, NULL, 0, "/a#b.db", 15 },
	{ "no '='", "SSE_DB=/a.db\nSSE_AUTH remote-user\n", 0,
	    F ":2: expected NAME=value", 0, NULL, 0 },
	{ "no name", "=/a.db\n", 0, F ":1: expected NAME=value", 0, NULL,
	    0 },
	{ "unknown name", "SSE_DB=/a.db\n\nSSE_DATABASE=/b.db\n", 0,
	    F ":3: unknown setting 'SSE_DATABASE'", 0, NULL, 0 },
	{ "lower case is another name", "sse_db=/a.db\n", 0,
	    F ":1: unknown setting 'sse_db'", 0, NULL, 0 },
	{ "export is not shell", "export SSE_DB=/a.db\n", 0,
	    F ":1: unknown setting 'export SSE_DB'", 0, NULL, 0 },
	{ "set twice", "SSE_DB=/a.db\nSSE_DB=/b.db\n", 0,
	    F ":2: SSE_DB set again (first on line 1)", 0, NULL, 0 },
	{ "a bad value names file, line and setting",
	    "SSE_DB=/a.db\nSSE_AUTH=remote-user\n# x\nSSE_HEARTBEAT=0\n", 1,
	    F ":4: SSE_HEARTBEAT: '0' is not a whole number from 1 to 3600",
	    1, NULL, 0 },
	{ "a bad auth", "SSE_DB=/a.db\nSSE_AUTH=basic\n", 1,
	    F ":2: SSE_AUTH: 'basic' is not one of", 1, NULL, 0 },
	{ "empty value", "SSE_DB=\nSSE_AUTH=query\n", 1,
	    F ":1: SSE_DB: must not be empty", 1, NULL, 0 },
	{ "a required setting missing names the file",
	    "SSE_AUTH=remote-user\n", 1,
	    F ": SSE_DB: required", 1, NULL, 0 },
	{ "jwt without a key", "SSE_DB=/a.db\nSSE_AUTH=jwt\n", 1,
	    F ":2: SSE_AUTH: jwt needs SSE_JWT_SECRET", 1, NULL, 0 },
	{ "jwt with a short key", "SSE_DB=/a.db\nSSE_AUTH=jwt\n"
	    "SSE_JWT_SECRET=short\n", 1,
	    F ":3: SSE_JWT_SECRET: too short", 1, NULL, 0 },
	{ "empty file: both required ones named", "", 1,
	    F ": SSE_DB: required", 2, NULL, 0 },
	{ NULL, NULL, 0, NULL, 0, NULL, 0 },
};

static void
test_file(void **state)
{
	(void)state;
	for (const struct file_case *c = file_cases; c->label; c++) {
		char err[CONFIG_ERR_LEN];
		struct config_file *f;
		struct config cfg;
		int n;

		f = config_file_parse(F, c->text, strlen(c->text), err,
		    sizeof(err));
		if (!c->parsed) {
			if (f)
				fail_msg("%s: parsed", c->label);
			if (!strstr(err, c->err))
				fail_msg("%s: err '%s'", c->label, err);
			assert_int_equal(err_lines(err), 1);
			continue;
		}
		if (!f)
			fail_msg("%s: refused: %s", c->label, err);
		n = config_load_file(&cfg, f, err, sizeof(err));
		if (n != c->load_errors)
			fail_msg("%s: %d errors: %s", c->label, n, err);
		if (c->err && !strstr(err, c->err))
			fail_msg("%s: err '%s'", c->label, err);
		if (n == 0) {
			assert_string_equal(cfg.db, c->db);
			assert_int_equal(cfg.heartbeat, c->heartbeat);
		}
		config_free(&cfg);
		config_file_free(f);
	}
}

/* Every bad line is its own error line; the good ones do not count. */
static void
test_file_every_bad_line(void **state)
{
	const char *text = "SSE_DB=/a.db\nnonsense\nSSE_X=1\nok\n"
	    "SSE_AUTH=query\n";
	char err[CONFIG_ERR_LEN];

	(void)state;
	assert_null(config_file_parse(F, text, strlen(text), err,
	    sizeof(err)));
	assert_int_equal(err_lines(err), 3);
	assert_non_null(strstr(err, F ":2: "));
	assert_non_null(strstr(err, F ":3: "));
	assert_non_null(strstr(err, F ":4: "));
}

/* A NUL byte, and a file over the cap, are not settings files. */
static void
test_file_binary_and_size(void **state)
{
	static const char nul[] = "SSE_DB=/a\0.db\nSSE_AUTH=query\n";
	char err[CONFIG_ERR_LEN];
	char *big;

	(void)state;
	assert_null(config_file_parse(F, nul, sizeof(nul) - 1, err,
	    sizeof(err)));
	assert_non_null(strstr(err, F ":1: a NUL byte"));
	big = malloc(CONFIG_FILE_MAX + 1);
	assert_non_null(big);
	memset(big, '#', CONFIG_FILE_MAX + 1);
	assert_null(config_file_parse(F, big, CONFIG_FILE_MAX + 1, err,
	    sizeof(err)));
	assert_non_null(strstr(err, "larger than"));
	free(big);
}

/* Values from a file pass the environment's checks: control bytes. */
static void
test_file_same_checks(void **state)
{
	const char *text = "SSE_DB=/a\x1b[2J.db\nSSE_AUTH=query\n"
	    "SSE_CORS_ORIGINS=https://a\x01\n";
	char err[CONFIG_ERR_LEN];
	struct config_file *f;
	struct config cfg;

	(void)state;
	f = config_file_parse(F, text, strlen(text), err, sizeof(err));
	assert_non_null(f);
	assert_int_equal(config_load_file(&cfg, f, err, sizeof(err)), 2);
	assert_non_null(strstr(err, F ":1: SSE_DB: must not contain control"));
	assert_non_null(strstr(err, F ":3: SSE_CORS_ORIGINS: must not"));
	assert_null(strchr(err, '\x1b'));
	config_free(&cfg);
	config_file_free(f);
	config_file_free(NULL);
}

/* config_any_set: one setting of the table is enough; others are not. */
static void
test_any_set(void **state)
{
	static const struct var none[] = { { "SSE_NOT_A_SETTING", "1" },
	    { "PATH", "/bin" }, END };
	static const struct var one[] = { { "SSE_RETRY", "10" }, END };
	static const struct var empty[] = { { "SSE_DB", "" }, END };

	(void)state;
	assert_int_equal(config_any_set(vars_get, (void *)none), 0);
	assert_int_equal(config_any_set(vars_get, (void *)one), 1);
	/* Set but empty still counts: the environment is the source. */
	assert_int_equal(config_any_set(vars_get, (void *)empty), 1);
}

/* --listen values as libfcgi reads them: TCP or a unix socket path. */
static void
test_listen_is_tcp(void **state)
{
	static const struct {
		const char *addr;
		int tcp;
	} cases[] = {
		{ "127.0.0.1:9000", 1 },
		{ "localhost:9000", 1 },
		{ ":9000", 1 },
		{ "*:9000", 1 },
		{ "[::1]:9000", 0 },	/* libfcgi: "[" is no port: a path */
		{ "/run/sse-outbox/sse.sock", 0 },
		{ "/tmp/odd:name.sock", 0 },
		{ "host:0", 0 },
		{ "", 0 },
		{ NULL, 0 },
	};

	(void)state;
	for (size_t i = 0; cases[i].addr; i++)
		assert_int_equal(config_listen_is_tcp(cases[i].addr),
		    cases[i].tcp);
	assert_int_equal(config_listen_is_tcp(NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_getter_only),
		cmocka_unit_test(test_small_err),
		cmocka_unit_test(test_auth_names),
		cmocka_unit_test(test_describe),
		cmocka_unit_test(test_origin_allowed),
		cmocka_unit_test(test_new_settings),
		cmocka_unit_test(test_file),
		cmocka_unit_test(test_file_every_bad_line),
		cmocka_unit_test(test_file_binary_and_size),
		cmocka_unit_test(test_file_same_checks),
		cmocka_unit_test(test_any_set),
		cmocka_unit_test(test_listen_is_tcp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
