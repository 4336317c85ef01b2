/* The settings: defaults, sources and validation, from one table. */
#ifndef FCGI_CONFIG_H
#define FCGI_CONFIG_H

#include <stddef.h>

enum auth_mode {
	AUTH_NONE = 0,		/* not configured: refused at startup */
	AUTH_REMOTE_USER,
	AUTH_JWT,
	AUTH_QUERY,
};

struct config {
	char *db;		/* SSE_DB: path of the SQLite database */
	enum auth_mode auth;	/* SSE_AUTH */
	char *jwt_secret;	/* SSE_JWT_SECRET */
	char *jwt_secret_file;	/* SSE_JWT_SECRET_FILE */
	long heartbeat;		/* SSE_HEARTBEAT, seconds */
	long retry;		/* SSE_RETRY, milliseconds */
	long max_stream;	/* SSE_MAX_STREAM, seconds, 0 = never */
	long max_streams;	/* SSE_MAX_STREAMS, per process */
	char *listen;		/* SSE_LISTEN: host:port or unix path */
	long log_level;		/* SSE_LOG_LEVEL: 0 error .. 3 debug */
};

#define CONFIG_ERR_LEN 2048

/* Returns the value of a variable, or NULL when unset (like getenv). */
typedef const char *(*config_getter)(void *ctx, const char *name);

/*
 * Fill cfg from defaults and the variables get returns. Every problem is
 * a line "NAME: reason" in err (lines joined by '\n'). Returns the number
 * of problems (0 = usable). cfg owns its strings: release with config_free.
 */
int config_load(struct config *cfg, config_getter get, void *ctx,
    char *err, size_t errlen);
void config_free(struct config *cfg);

/* The name of an auth mode as written in SSE_AUTH. */
const char *config_auth_name(enum auth_mode mode);

/* For --help: print every setting with its default and meaning. */
typedef void (*config_line_fn)(void *ctx, const char *name,
    const char *deflt, const char *help);
void config_describe(config_line_fn fn, void *ctx);

#endif
