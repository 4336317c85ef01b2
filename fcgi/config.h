/* SPDX-License-Identifier: BSD-2-Clause */
/* The settings: defaults, sources and validation, from one table. */
#ifndef FCGI_CONFIG_H
#define FCGI_CONFIG_H

#include <stddef.h>

#include "mustcheck.h"

enum auth_mode {
	AUTH_NONE = 0,		/* not configured: refused at startup */
	AUTH_REMOTE_USER,
	AUTH_JWT,
	AUTH_QUERY,
};

struct config {
	char *db;		/* SSE_DB: path of the SQLite database */
	enum auth_mode auth;	/* SSE_AUTH */
	char *jwt_secret;	/* the HS256 key in use: SSE_JWT_SECRET, or
				   what main read from SSE_JWT_SECRET_FILE */
	char *jwt_secret_file;	/* SSE_JWT_SECRET_FILE */
	long heartbeat;		/* SSE_HEARTBEAT, seconds */
	long retry;		/* SSE_RETRY, milliseconds */
	long max_stream;	/* SSE_MAX_STREAM, seconds, 0 = never */
	long max_streams;	/* SSE_MAX_STREAMS, per process */
	char *listen;		/* SSE_LISTEN: host:port or unix path */
	long trust_tcp;		/* SSE_TRUST_TCP: remote-user on TCP */
	long log_level;		/* SSE_LOG_LEVEL: 0 error .. 3 debug */
	long max_per_user;	/* SSE_MAX_PER_USER, 0 = no limit */
	char *cors_origins;	/* SSE_CORS_ORIGINS: allowed Origins */
	long stats;		/* SSE_STATS: 1 = answer ?stats */
	long announce_start;	/* SSE_ANNOUNCE_START: 1 = id-only block */
};

/*
 * Is origin (len bytes) one of the space- or comma-separated origins in
 * list? Exact, case-sensitive comparison, as browsers send it.
 */
int config_origin_allowed(const char *list, const char *origin, size_t len);

#define CONFIG_ERR_LEN 2048
#define CONFIG_JWT_SECRET_MIN 32	/* bytes; shorter keys are guessable */
#define CONFIG_JWT_SECRET_MAX 4096	/* bytes; more is a mistake */

/* Returns the value of a variable, or NULL when unset (like getenv). */
typedef const char *(*config_getter)(void *ctx, const char *name);

/*
 * Fill cfg from defaults and the variables get returns. Every problem is
 * a line "NAME: reason" in err (lines joined by '\n'). Returns the number
 * of problems (0 = usable). cfg owns its strings: release with config_free.
 * In jwt mode with SSE_JWT_SECRET_FILE set, the file is preferred and
 * cfg->jwt_secret is left NULL: reading it is I/O, so the caller does it
 * and hands the contents to config_set_jwt_secret.
 */
int config_load(struct config *cfg, config_getter get, void *ctx,
    char *err, size_t errlen);
void config_free(struct config *cfg);

/*
 * Is addr (a --listen value) a TCP address as libfcgi reads it, rather
 * than a unix socket path? 1 or 0. A TCP port is open to every local
 * user, who could then send any REMOTE_USER.
 */
int config_listen_is_tcp(const char *addr);

/* Does get return a value for any setting of the table? 1 or 0. */
int config_any_set(config_getter get, void *ctx);

/*
 * A settings file, for where the web server cannot pass environment
 * variables (suEXEC strips them; mod_fcgid never sees an .htaccess
 * SetEnv). Same names, same validation; main decides when to read one.
 */
struct config_file;

#define CONFIG_FILE_MAX 65536	/* bytes; a settings file is small */

/*
 * Parse len bytes of text read from path (used only in messages): lines
 * NAME=value with NAME a setting of the table, blanks around NAME and
 * value dropped, one pair of '...' or "..." around the whole value
 * removed; blank lines and lines whose first non-blank is '#' ignored;
 * LF or CR LF line ends. Returns the settings (free with
 * config_file_free), or NULL with one line "path:line: reason" in err
 * per bad line (unknown name, no '=', a name set twice, a NUL byte).
 * Values are checked later, by config_load_file.
 */
struct config_file *config_file_parse(const char *path, const char *text,
    size_t len, char *err, size_t errlen);

/* A config_getter over a parsed file (ctx is the struct config_file). */
const char *config_file_get(void *ctx, const char *name);

/*
 * config_load with the file's values, as if they were the environment;
 * each problem reads "path:line: NAME: reason" ("path: NAME: reason"
 * for a required setting the file lacks).
 */
int config_load_file(struct config *cfg, const struct config_file *f,
    char *err, size_t errlen);

/* Wipes the values (a key may be among them); f may be NULL. */
void config_file_free(struct config_file *f);

/*
 * Check an HS256 key of len bytes that came from variable name (for the
 * message): not empty, CONFIG_JWT_SECRET_MIN to CONFIG_JWT_SECRET_MAX
 * bytes, no NUL. Returns 0 and stores a copy in cfg->jwt_secret (replacing
 * any), or -1 with "NAME: reason" in err, which never quotes the key.
 */
int config_set_jwt_secret(struct config *cfg, const char *name,
    const char *secret, size_t len, char *err, size_t errlen) MUSTCHECK;

/* The name of an auth mode as written in SSE_AUTH. */
const char *config_auth_name(enum auth_mode mode);

/* For --help: print every setting with its default and meaning. */
typedef void (*config_line_fn)(void *ctx, const char *name,
    const char *deflt, const char *help);
void config_describe(config_line_fn fn, void *ctx);

#endif
