/* SPDX-License-Identifier: BSD-2-Clause */
/* The settings: defaults, sources and validation, from one table. */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum config_type {
	CONFIG_STRING,
	CONFIG_LONG,
	CONFIG_AUTH,
	CONFIG_LEVEL,
};

struct config_param {
	const char *name;	/* environment variable */
	enum config_type type;
	size_t offset;		/* into struct config */
	const char *deflt;	/* NULL = unset by default */
	long min;		/* bounds for CONFIG_LONG */
	long max;
	const char *help;
};

#define OFF(field) offsetof(struct config, field)
#define CONFIG_STR2(x) #x
#define CONFIG_STR(x) CONFIG_STR2(x)

static const struct config_param config_params[] = {
	{ "SSE_DB", CONFIG_STRING, OFF(db), NULL, 0, 0,
	    "SQLite path or postgresql:// URI of the outbox (required)" },
	{ "SSE_AUTH", CONFIG_AUTH, OFF(auth), NULL, 0, 0,
	    "remote-user, jwt or query (development only); required" },
	{ "SSE_JWT_SECRET", CONFIG_STRING, OFF(jwt_secret), NULL, 0, 0,
	    "HS256 key for jwt, at least 32 bytes" },
	{ "SSE_JWT_SECRET_FILE", CONFIG_STRING, OFF(jwt_secret_file), NULL,
	    0, 0, "file holding the jwt key (preferred; mode 600)" },
	{ "SSE_HEARTBEAT", CONFIG_LONG, OFF(heartbeat), "15", 1, 3600,
	    "seconds of silence before a comment line is sent" },
	{ "SSE_RETRY", CONFIG_LONG, OFF(retry), "3000", 0, 86400000,
	    "reconnect delay in ms, sent as retry:" },
	{ "SSE_MAX_STREAM", CONFIG_LONG, OFF(max_stream), "0", 0, 31536000,
	    "seconds after which a stream ends cleanly; 0 = never" },
	{ "SSE_MAX_STREAMS", CONFIG_LONG, OFF(max_streams), "1024", 1,
	    1000000, "most streams one process serves at once" },
	{ "SSE_LISTEN", CONFIG_STRING, OFF(listen), NULL, 0, 0,
	    "host:port or unix socket path to listen on (like --listen)" },
	{ "SSE_TRUST_TCP", CONFIG_LONG, OFF(trust_tcp), "0", 0, 1,
	    "1 = accept SSE_AUTH=remote-user on a TCP --listen address: "
	    "every local process can connect to it and name any user, so "
	    "only where nothing else runs; prefer a unix socket" },
	{ "SSE_LOG_LEVEL", CONFIG_LEVEL, OFF(log_level), "info", 0, 0,
	    "error, warn, info or debug" },
	{ "SSE_MAX_PER_USER", CONFIG_LONG, OFF(max_per_user), "0", 0,
	    1000000, "most streams one user may hold in a process "
	    "(then 429); 0 = no limit" },
	{ "SSE_CORS_ORIGINS", CONFIG_STRING, OFF(cors_origins), NULL, 0, 0,
	    "origins (space or comma separated) allowed to read streams "
	    "cross-origin, with credentials" },
	{ "SSE_STATS", CONFIG_LONG, OFF(stats), "0", 0, 1,
	    "1 = answer GET ?stats with Prometheus text (restrict it in the "
	    "web server)" },
	{ "SSE_ANNOUNCE_START", CONFIG_LONG, OFF(announce_start), "0", 0, 1,
	    "1 = send a client without a resume point an id-only block with "
	    "its start, so a reconnect before the first row loses nothing" },
	{ NULL, 0, 0, NULL, 0, 0, NULL },
};

static const char *const auth_names[] = {
	[AUTH_NONE] = "",
	[AUTH_REMOTE_USER] = "remote-user",
	[AUTH_JWT] = "jwt",
	[AUTH_QUERY] = "query",
};

static const char *const level_names[] = { "error", "warn", "info", "debug" };

const char *
config_auth_name(enum auth_mode mode)
{
	if ((size_t)mode >= sizeof(auth_names) / sizeof(auth_names[0]))
		return "?";
	return auth_names[mode];
}

#define CONFIG_NPARAMS (sizeof(config_params) / sizeof(config_params[0]) - 1)

/* A settings file: one value per known setting, and where it was set. */
struct config_file {
	char *path;			/* for messages */
	char *values[CONFIG_NPARAMS];	/* NULL = not in the file */
	unsigned lines[CONFIG_NPARAMS];	/* line of each value */
};

struct config_errors {
	char *err;
	size_t len;
	size_t used;
	int count;
	const struct config_file *file;	/* the source, or NULL: environment */
};

/* Append to err like vsnprintf, never past its end. */
static void config_vappend(struct config_errors *e, const char *fmt,
    va_list ap) __attribute__((format(printf, 2, 0)));

static void
config_vappend(struct config_errors *e, const char *fmt, va_list ap)
{
	int n;

	if (!e->err || e->used + 1 >= e->len)
		return;
	n = vsnprintf(e->err + e->used, e->len - e->used, fmt, ap);
	if (n > 0)
		e->used += (size_t)n < e->len - e->used ?
		    (size_t)n : e->len - e->used - 1;
}

static void config_append(struct config_errors *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
config_append(struct config_errors *e, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	config_vappend(e, fmt, ap);
	va_end(ap);
}

/* Count a problem and start its line. */
static int
config_new_line(struct config_errors *e)
{
	e->count++;
	if (!e->err || e->used + 1 >= e->len)
		return -1;
	if (e->used > 0)
		e->err[e->used++] = '\n';
	return 0;
}

static int
config_index(const char *name)
{
	for (size_t i = 0; i < CONFIG_NPARAMS; i++)
		if (strcmp(config_params[i].name, name) == 0)
			return (int)i;
	return -1;
}

/*
 * One problem with setting name: a line "NAME: reason", after
 * "path:line: " (or "path: " for a setting it lacks) when the settings
 * came from a file.
 */
static void config_error(struct config_errors *e, const char *name,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
config_error(struct config_errors *e, const char *name, const char *fmt, ...)
{
	va_list ap;
	int i;

	if (config_new_line(e) == -1)
		return;
	if (e->file) {
		i = config_index(name);
		if (i >= 0 && e->file->values[i])
			config_append(e, "%s:%u: ", e->file->path,
			    e->file->lines[i]);
		else
			config_append(e, "%s: ", e->file->path);
	}
	config_append(e, "%s: ", name);
	va_start(ap, fmt);
	config_vappend(e, fmt, ap);
	va_end(ap);
}

/*
 * A value quoted in a message: at most 40 bytes, control characters as
 * '?', so one problem stays one line whatever the variable holds.
 */
static const char *
config_quote(const char *v, char out[48])
{
	size_t i;

	for (i = 0; v[i] && i < 40; i++)
		out[i] = (unsigned char)v[i] < 0x20 || v[i] == 0x7f ? '?' :
		    v[i];
	out[i] = '\0';
	return out;
}

/* Decimal only, no sign games, no trailing junk, within bounds. */
static int
config_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
config_lookup(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (names[i][0] != '\0' && strcmp(names[i], s) == 0)
			return (int)i;
	return -1;
}

static void
config_set(struct config *cfg, const struct config_param *p, const char *v,
    struct config_errors *e)
{
	char *field = (char *)cfg + p->offset;
	char q[48];
	int idx;

	switch (p->type) {
	case CONFIG_STRING:
		if (*v == '\0') {
			config_error(e, p->name, "must not be empty");
			return;
		}
		/* Paths, addresses and origins never hold control bytes;
		 * origins are echoed into a response header. */
		if (strcmp(p->name, "SSE_JWT_SECRET") != 0 &&
		    strpbrk(v, "\r\n\x01\x02\x03\x04\x05\x06\x07\x08\x0b"
		    "\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a"
		    "\x1b\x1c\x1d\x1e\x1f\x7f")) {
			config_error(e, p->name, "must not contain control "
			    "characters");
			return;
		}
		*(char **)field = strdup(v);
		if (!*(char **)field)
			config_error(e, p->name, "out of memory");
		return;
	case CONFIG_LONG:
		if (config_parse_long(v, p->min, p->max, (long *)field) == -1)
			config_error(e, p->name, "'%.40s' is not a whole "
			    "number from %ld to %ld", config_quote(v, q), p->min,
			    p->max);
		return;
	case CONFIG_AUTH:
		idx = config_lookup(auth_names,
		    sizeof(auth_names) / sizeof(auth_names[0]), v);
		if (idx < 0)
			config_error(e, p->name, "'%.40s' is not one of "
			    "remote-user, jwt, query", config_quote(v, q));
		else
			*(enum auth_mode *)field = (enum auth_mode)idx;
		return;
	case CONFIG_LEVEL:
		idx = config_lookup(level_names,
		    sizeof(level_names) / sizeof(level_names[0]), v);
		if (idx < 0)
			config_error(e, p->name, "'%.40s' is not one of error, "
			    "warn, info, debug", config_quote(v, q));
		else
			*(long *)field = idx;
		return;
	}
}

/* One problem with a settings file: "path:line: reason" (no line: 0). */
static void config_append_line(struct config_errors *e, const char *path,
    unsigned line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
config_append_line(struct config_errors *e, const char *path, unsigned line,
    const char *fmt, ...)
{
	va_list ap;

	if (config_new_line(e) == -1)
		return;
	if (line > 0)
		config_append(e, "%s:%u: ", path, line);
	else
		config_append(e, "%s: ", path);
	va_start(ap, fmt);
	config_vappend(e, fmt, ap);
	va_end(ap);
}

/* Keys do not linger in freed memory; s may be NULL. */
static void
config_free_secret(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

/* The reason a key is unusable, or NULL; never quotes the key. */
static const char *
config_secret_problem(const char *secret, size_t len)
{
	if (len == 0)
		return "must not be empty";
	if (memchr(secret, '\0', len))
		return "must not contain a NUL byte";
	if (len < CONFIG_JWT_SECRET_MIN)
		return "too short: an HS256 key needs at least "
		    CONFIG_STR(CONFIG_JWT_SECRET_MIN) " bytes (e.g. "
		    "openssl rand -base64 48)";
	if (len > CONFIG_JWT_SECRET_MAX)
		return "too long: at most " CONFIG_STR(CONFIG_JWT_SECRET_MAX)
		    " bytes";
	return NULL;
}

/*
 * jwt needs a key. SSE_JWT_SECRET_FILE wins over SSE_JWT_SECRET; its
 * contents are read by the caller (I/O), so only the variable is checked.
 */
static void
config_load_jwt(struct config *cfg, config_getter get, void *ctx,
    struct config_errors *e)
{
	const char *why;

	if (get(ctx, "SSE_JWT_SECRET_FILE")) {
		config_free_secret(cfg->jwt_secret);
		cfg->jwt_secret = NULL;
		return;
	}
	if (!get(ctx, "SSE_JWT_SECRET")) {
		config_error(e, "SSE_AUTH", "jwt needs SSE_JWT_SECRET or "
		    "SSE_JWT_SECRET_FILE");
		return;
	}
	if (!cfg->jwt_secret)
		return;		/* already reported by config_set */
	why = config_secret_problem(cfg->jwt_secret, strlen(cfg->jwt_secret));
	if (why)
		config_error(e, "SSE_JWT_SECRET", "%s", why);
}

int
config_set_jwt_secret(struct config *cfg, const char *name,
    const char *secret, size_t len, char *err, size_t errlen)
{
	const char *why = config_secret_problem(secret, len);
	char *copy;

	if (why) {
		snprintf(err, errlen, "%s: %s", name, why);
		return -1;
	}
	copy = malloc(len + 1);
	if (!copy) {
		snprintf(err, errlen, "%s: out of memory", name);
		return -1;
	}
	memcpy(copy, secret, len);
	copy[len] = '\0';
	config_free_secret(cfg->jwt_secret);
	cfg->jwt_secret = copy;
	return 0;
}

static int
config_load_from(struct config *cfg, config_getter get, void *ctx,
    const struct config_file *file, char *err, size_t errlen)
{
	struct config_errors e = { err, errlen, 0, 0, file };
	const struct config_param *p;

	memset(cfg, 0, sizeof(*cfg));
	if (err && errlen > 0)
		err[0] = '\0';
	for (p = config_params; p->name; p++) {
		const char *v = get(ctx, p->name);

		if (!v)
			v = p->deflt;
		if (v)
			config_set(cfg, p, v, &e);
	}
	if (!cfg->db && !get(ctx, "SSE_DB"))
		config_error(&e, "SSE_DB", "required (path of the SQLite "
		    "database)");
	if (cfg->auth == AUTH_NONE && !get(ctx, "SSE_AUTH"))
		config_error(&e, "SSE_AUTH", "required (remote-user, jwt or "
		    "query); there is no default");
	if (cfg->auth == AUTH_JWT)
		config_load_jwt(cfg, get, ctx, &e);
	return e.count;
}

int
config_load(struct config *cfg, config_getter get, void *ctx,
    char *err, size_t errlen)
{
	return config_load_from(cfg, get, ctx, NULL, err, errlen);
}

int
config_listen_is_tcp(const char *addr)
{
	const char *colon = addr ? strchr(addr, ':') : NULL;

	/* libfcgi's OS_CreateLocalIpcFd: TCP when atoi() of what follows
	 * the first ':' is not 0, else the whole text is a socket path. */
	return colon && strtol(colon + 1, NULL, 10) != 0;
}

int
config_any_set(config_getter get, void *ctx)
{
	for (const struct config_param *p = config_params; p->name; p++)
		if (get(ctx, p->name))
			return 1;
	return 0;
}

const char *
config_file_get(void *ctx, const char *name)
{
	const struct config_file *f = ctx;
	int i = config_index(name);

	return i < 0 ? NULL : f->values[i];
}

int
config_load_file(struct config *cfg, const struct config_file *f,
    char *err, size_t errlen)
{
	return config_load_from(cfg, config_file_get, (void *)f, f, err,
	    errlen);
}

void
config_file_free(struct config_file *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < CONFIG_NPARAMS; i++)
		config_free_secret(f->values[i]);
	free(f->path);
	free(f);
}

/* Is c a blank inside a line (not its end)? */
static int
config_blank(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * One line of a settings file, [s, end) without its LF. Blank lines and
 * '#' comments set nothing; otherwise NAME=value, blanks around either
 * dropped, and one pair of quotes ('...' or "...") around the whole
 * value removed (nothing inside them is special).
 */
static void
config_file_line(struct config_file *f, const char *s, const char *end,
    unsigned line, struct config_errors *e)
{
	const char *eq;
	const char *name_end;
	char name[48];
	char q[48];
	char *value;
	size_t n;
	int i;

	if (end > s && end[-1] == '\r')
		end--;
	while (s < end && config_blank(*s))
		s++;
	if (s == end || *s == '#')
		return;
	eq = memchr(s, '=', (size_t)(end - s));
	if (!eq) {
		config_append_line(e, f->path, line, "expected NAME=value, "
		    "a '#' comment or a blank line");
		return;
	}
	name_end = eq;
	while (name_end > s && config_blank(name_end[-1]))
		name_end--;
	n = (size_t)(name_end - s);
	if (n == 0 || n >= sizeof(name)) {
		config_append_line(e, f->path, line, "expected NAME=value, "
		    "with NAME one of the SSE_ settings");
		return;
	}
	memcpy(name, s, n);
	name[n] = '\0';
	i = config_index(name);
	if (i < 0) {
		config_append_line(e, f->path, line, "unknown setting '%s' "
		    "(see sse-outbox --help)", config_quote(name, q));
		return;
	}
	if (f->values[i]) {
		config_append_line(e, f->path, line, "%s set again (first "
		    "on line %u)", name, f->lines[i]);
		return;
	}
	s = eq + 1;
	while (s < end && config_blank(*s))
		s++;
	while (end > s && config_blank(end[-1]))
		end--;
	if (end - s >= 2 && (*s == '"' || *s == '\'') && end[-1] == *s) {
		s++;
		end--;
	}
	value = strndup(s, (size_t)(end - s));
	if (!value) {
		config_append_line(e, f->path, line, "out of memory");
		return;
	}
	f->values[i] = value;
	f->lines[i] = line;
}

struct config_file *
config_file_parse(const char *path, const char *text, size_t len,
    char *err, size_t errlen)
{
	struct config_errors e = { err, errlen, 0, 0, NULL };
	struct config_file *f;
	const char *p = text;
	const char *end = text + len;
	unsigned line = 0;

	if (err && errlen > 0)
		err[0] = '\0';
	f = calloc(1, sizeof(*f));
	if (!f || !(f->path = strdup(path))) {
		config_append_line(&e, path, 0, "out of memory");
		goto out;
	}
	if (len > CONFIG_FILE_MAX) {
		config_append_line(&e, path, 0, "larger than %d bytes: not a "
		    "settings file", CONFIG_FILE_MAX);
		goto out;
	}
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;

		line++;
		if (memchr(p, '\0', (size_t)(stop - p)))
			config_append_line(&e, path, line, "a NUL byte: not a "
			    "text file");
		else
			config_file_line(f, p, stop, line, &e);
		p = nl ? nl + 1 : end;
	}
out:
	if (e.count == 0)
		return f;
	config_file_free(f);
	return NULL;
}

void
config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->db);
	config_free_secret(cfg->jwt_secret);
	free(cfg->jwt_secret_file);
	free(cfg->listen);
	free(cfg->cors_origins);
	memset(cfg, 0, sizeof(*cfg));
}

void
config_describe(config_line_fn fn, void *ctx)
{
	for (const struct config_param *p = config_params; p->name; p++)
		fn(ctx, p->name, p->deflt, p->help);
}

int
config_origin_allowed(const char *list, const char *origin, size_t len)
{
	const char *p = list;

	if (!list || !origin || len == 0)
		return 0;
	while (*p) {
		size_t n = strcspn(p, " ,\t");

		if (n == len && memcmp(p, origin, len) == 0)
			return 1;
		p += n;
		p += strspn(p, " ,\t");
	}
	return 0;
}
