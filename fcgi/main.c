/* SPDX-License-Identifier: BSD-2-Clause */
/* Flags and environment into a config, --check, token, pick the mode, serve. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "crypto_load.h"
#include "doctor/doctor.h"
#include "jwt.h"
#include "log.h"
#include "outbox.h"
#include "pq_load.h"
#include "server.h"
#include "settings.h"

#ifndef SSE_OUTBOX_VERSION
#define SSE_OUTBOX_VERSION "0.1.0"
#endif

#define MAIN_TOKEN_TTL 3600		/* default --ttl, seconds */
#define MAIN_TOKEN_TTL_MAX 31536000	/* a year */
#define MAIN_TOKEN_USAGE "usage: sse-outbox token --user U [--ttl SECONDS] " \
	"[--channel KEY]...\n"

static void
main_help_line(void *ctx, const char *name, const char *deflt,
    const char *help)
{
	(void)ctx;
	printf("  %-20s %s%s%s%s\n", name, help, deflt ? " (default " : "",
	    deflt ? deflt : "", deflt ? ")" : "");
}

static void
main_usage(FILE *f)
{
	fprintf(f,
	    "usage: sse-outbox [--listen host:port|/path.sock] [--check]\n"
	    "       sse-outbox token --user U [--ttl SECONDS] "
	    "[--channel KEY]...\n"
	    "       sse-outbox prune --older-than SECONDS\n"
	    "       sse-outbox doctor URL [--token T | --user U | "
	    "--basic U:P]\n"
	    "                         [--timeout SECONDS]\n"
	    "       sse-outbox --help | --version\n"
	    "\n"
	    "Streams each user's rows of an outbox table (SQLite or "
	    "PostgreSQL) as\nServer-Sent Events, over FastCGI or CGI.\n"
	    "\n"
	    "Modes:\n"
	    "  started with a listening FastCGI socket on descriptor 0 "
	    "(mod_fcgid,\n  lighttpd bin-path, spawn-fcgi): FastCGI, many "
	    "streams per process\n"
	    "  --listen ADDR (or SSE_LISTEN): FastCGI on host:port or a unix "
	    "socket path\n"
	    "  otherwise: plain CGI, one request, then exit\n"
	    "\n"
	    "Options:\n"
	    "  --listen ADDR   open the FastCGI socket itself\n"
	    "  --check         validate the configuration and the database, "
	    "then exit\n"
	    "  --help          this text\n"
	    "  --version       print the version\n"
	    "\n"
	    "Tokens (SSE_AUTH=jwt), for scripts, tests and demos:\n"
	    "  token --user U  print an HS256 token for user U, signed with "
	    "the key of\n"
	    "                  SSE_JWT_SECRET_FILE or SSE_JWT_SECRET\n"
	    "  --ttl SECONDS   how long it stays valid (default 3600, at most "
	    "31536000)\n"
	    "  --channel KEY   a further recipient key it grants (repeat, "
	    "at most 15)\n"
	    "\n"
	    "Diagnosis (run on the server, against the local http:// "
	    "address):\n"
	    "  doctor URL      ask for a probe stream and tell whether the "
	    "web server\n"
	    "                  passes events on at once, and what to change "
	    "if not;\n"
	    "                  --token T (jwt), --user U (query) or --basic "
	    "U:P (Basic\n"
	    "                  auth in the web server); exit 0 streaming, 1 "
	    "buffered, 2 error\n"
	    "  --timeout SECONDS  give up when no answer came within SECONDS "
	    "(default 10, at most 300)\n"
	    "  --token-file F, --basic-file F, or SSE_DOCTOR_TOKEN / "
	    "SSE_DOCTOR_BASIC\n"
	    "                  in the environment: the same, kept out of the "
	    "process list\n"
	    "\n"
	    "Retention (run from cron with an SSE_DB that may delete: a user "
	    "who may\nwrite the SQLite file, or a PostgreSQL role with DELETE "
	    "on outbox and\nINSERT, UPDATE on outbox_meta):\n"
	    "  prune --older-than SECONDS\n"
	    "                  delete rows created more than SECONDS ago; "
	    "clients resuming\n"
	    "                  from before them get a \"reset\" event "
	    "first\n"
	    "\n"
	    "Environment:\n");
	if (f == stdout)
		config_describe(main_help_line, NULL);
}

/*
 * Where the settings come from: the environment when it sets any of
 * them, else the file beside the program (settings_locate), which suEXEC
 * and mod_fcgid leave alone. Never a mix: one SSE_ variable in the
 * environment and the file is not read.
 */
struct main_source {
	struct config_file *file;	/* NULL: the environment */
	char path[SETTINGS_PATH_MAX];	/* the file's path, once located */
	int ignored;			/* a file exists, the environment won */
};

static const char *
main_getenv(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
}

/* A config_getter over a struct main_source. */
static const char *
main_get(void *ctx, const char *name)
{
	struct main_source *src = ctx;

	if (src->file)
		return config_file_get(src->file, name);
	return getenv(name);
}

/*
 * Fill src for the program started as argv0. Returns 0 (src->file NULL
 * when the settings are the environment's), or -1 with one line in err:
 * a file that is there but refused or unreadable, or a bad line in it
 * (one line per bad line).
 */
static int
main_source_open(struct main_source *src, const char *argv0, char *err,
    size_t errlen)
{
	uid_t prog_uid;
	size_t len;
	char *text;
	int rc;

	memset(src, 0, sizeof(*src));
	if (settings_locate(argv0, src->path, sizeof(src->path), &prog_uid,
	    err, errlen) == -1) {
		if (config_any_set(main_getenv, NULL))
			return 0;	/* the environment is enough */
		return -1;
	}
	if (config_any_set(main_getenv, NULL)) {
		src->ignored = access(src->path, F_OK) == 0;
		return 0;
	}
	rc = settings_read(src->path, prog_uid, &text, &len, err, errlen);
	if (rc <= 0)
		return rc;
	src->file = config_file_parse(src->path, text, len, err, errlen);
	explicit_bzero(text, len);
	free(text);
	return src->file ? 0 : -1;
}

static void
main_source_close(struct main_source *src)
{
	config_file_free(src->file);
	src->file = NULL;
}

/* The settings of src into cfg; returns the number of problems. */
static int
main_source_load(struct main_source *src, struct config *cfg, char *errs,
    size_t size)
{
	int n;

	if (src->file)
		return config_load_file(cfg, src->file, errs, size);
	n = config_load(cfg, main_getenv, NULL, errs, size);
	if (n > 0 && !config_any_set(main_getenv, NULL) && src->path[0]) {
		size_t used = strlen(errs);

		/* Cut, if it must be: the hint is the last line. */
		if (snprintf(errs + used, size - used, "\nsettings: no SSE_ "
		    "variable in the environment and no settings file %s",
		    src->path) >= 0)
			n++;
	}
	return n;
}

/*
 * Read the HS256 key from path into cfg->jwt_secret: a regular file, one
 * trailing newline (LF or CR LF) dropped. Returns 0, with *loose set when
 * group or others have any access to the file, or -1 with a one-line
 * "SSE_JWT_SECRET_FILE: ..." in err. Neither ever quotes the key.
 */
static int
main_load_secret(struct config *cfg, const char *path, int *loose,
    char *err, size_t errlen)
{
	char key[CONFIG_JWT_SECRET_MAX + 3];
	struct stat st;
	size_t len = 0;
	ssize_t n;
	int fd;
	int rc = -1;

	*loose = 0;
	if (*path == '\0') {
		snprintf(err, errlen, "SSE_JWT_SECRET_FILE: must not be empty");
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		snprintf(err, errlen, "SSE_JWT_SECRET_FILE: %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "SSE_JWT_SECRET_FILE: %s: not a regular "
		    "file", path);
		goto out;
	}
	*loose = (st.st_mode & 077) != 0;
	for (;;) {
		n = read(fd, key + len, sizeof(key) - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "SSE_JWT_SECRET_FILE: %s: %s",
			    path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == sizeof(key)) {
			snprintf(err, errlen, "SSE_JWT_SECRET_FILE: %s: longer "
			    "than %d bytes", path, CONFIG_JWT_SECRET_MAX);
			goto out;
		}
	}
	if (len > 0 && key[len - 1] == '\n')
		len--;
	if (len > 0 && key[len - 1] == '\r')
		len--;
	rc = config_set_jwt_secret(cfg, "SSE_JWT_SECRET_FILE", key, len, err,
	    errlen);
out:
	explicit_bzero(key, sizeof(key));
	close(fd);
	return rc;
}

/* Add one more line to the config's list of problems. */
static void
main_add_error(char *errs, size_t size, int nerrors, const char *line)
{
	size_t used = strlen(errs);

	if (used + 2 >= size)
		return;
	snprintf(errs + used, size - used, "%s%s", nerrors > 0 ? "\n" : "",
	    line);
}

/*
 * remote-user trusts whoever connects to say who the user is: on a TCP
 * port that is every local process. Refuse it there unless SSE_TRUST_TCP
 * says the port is private. Returns 0, or -1 with one line in err.
 */
static int
main_check_listen(const struct config *cfg, const char *addr, char *err,
    size_t errlen)
{
	if (!addr || cfg->auth != AUTH_REMOTE_USER || cfg->trust_tcp ||
	    !config_listen_is_tcp(addr))
		return 0;
	snprintf(err, errlen, "SSE_TRUST_TCP: --listen %.200s is a TCP port "
	    "and SSE_AUTH=remote-user believes any REMOTE_USER it is sent: "
	    "every local user could read anyone's events. Listen on a unix "
	    "socket (mode 0660, e.g. --listen /run/sse-outbox/sse.sock), or "
	    "set SSE_TRUST_TCP=1 if nothing else can reach this port", addr);
	return -1;
}

/*
 * The listening socket handed over on descriptor 0 (systemd socket
 * activation, spawn-fcgi, lighttpd bin-path): a TCP one is as open to
 * every local process as a TCP --listen.
 */
static int
main_fd0_is_tcp(void)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(0, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	return ss.ss_family == AF_INET || ss.ss_family == AF_INET6;
}

/* Print every problem with the configuration and the database. */
static int
main_check(const struct config *cfg, int nerrors, const char *errs)
{
	char err[OUTBOX_ERR_LEN];
	struct outbox *ob;
	int bad = nerrors > 0;

	if (nerrors > 0)
		fprintf(stderr, "%s\n", errs);
	if (cfg->db) {
		ob = outbox_open(cfg->db, err, sizeof(err));
		if (!ob) {
			fprintf(stderr, "SSE_DB: %s\n", err);
			bad = 1;
		}
		outbox_close(ob);
	}
	if (bad)
		return 1;
	printf("configuration OK\n");
	return 0;
}

/* Parse --ttl: a whole number of seconds, 1 to MAIN_TOKEN_TTL_MAX. */
static int
main_parse_ttl(const char *s, long long *ttl)
{
	char *end;
	long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > MAIN_TOKEN_TTL_MAX)
		return -1;
	*ttl = v;
	return 0;
}

/* Option value from "--name VALUE" or "--name=VALUE": 0, or -1. */
static int
main_option(int argc, char **argv, int *i, const char *name,
    const char **value)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return -1;
	if (argv[*i][n] == '=') {
		*value = argv[*i] + n + 1;
		return 0;
	}
	if (argv[*i][n] != '\0' || *i + 1 >= argc)
		return -1;
	*value = argv[++*i];
	return 0;
}

/*
 * sse-outbox token --user U [--ttl SECONDS] [--channel KEY]...: print a
 * token signed with the key of SSE_JWT_SECRET_FILE or SSE_JWT_SECRET.
 */
static int
main_token(const char *argv0, int argc, char **argv)
{
	const char *channels[JWT_MAX_CHANNELS];
	size_t nchannels = 0;
	const char *user = NULL;
	struct main_source src;
	const char *file;
	const char *env;
	const char *reason;
	const char *v;
	char err[CONFIG_ERR_LEN];
	struct config cfg;
	long long ttl = MAIN_TOKEN_TTL;
	char *token;
	int loose = 0;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (main_option(argc, argv, &i, "--user", &user) == 0)
			continue;
		if (main_option(argc, argv, &i, "--ttl", &v) == 0) {
			if (main_parse_ttl(v, &ttl) == -1) {
				fprintf(stderr, "sse-outbox token: --ttl: "
				    "'%.40s' is not a whole number from 1 to "
				    "%d\n", v, MAIN_TOKEN_TTL_MAX);
				return 2;
			}
			continue;
		}
		if (main_option(argc, argv, &i, "--channel", &v) == 0) {
			if (nchannels == JWT_MAX_CHANNELS) {
				fprintf(stderr, "sse-outbox token: at most %d "
				    "--channel\n", JWT_MAX_CHANNELS);
				return 2;
			}
			channels[nchannels++] = v;
			continue;
		}
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			printf("%s", MAIN_TOKEN_USAGE);
			return 0;
		}
		fprintf(stderr, "sse-outbox token: unknown or incomplete "
		    "argument '%s'\n%s", argv[i], MAIN_TOKEN_USAGE);
		return 2;
	}
	if (!user || *user == '\0') {
		fprintf(stderr, "sse-outbox token: --user is required and "
		    "must not be empty\n%s", MAIN_TOKEN_USAGE);
		return 2;
	}
	if (main_source_open(&src, argv0, err, sizeof(err)) == -1) {
		fprintf(stderr, "sse-outbox token: %s\n", err);
		return 1;
	}
	file = main_get(&src, "SSE_JWT_SECRET_FILE");
	env = main_get(&src, "SSE_JWT_SECRET");
	memset(&cfg, 0, sizeof(cfg));
	rc = -1;
	if (file)
		rc = main_load_secret(&cfg, file, &loose, err, sizeof(err));
	else if (env)
		rc = config_set_jwt_secret(&cfg, "SSE_JWT_SECRET", env,
		    strlen(env), err, sizeof(err));
	else
		snprintf(err, sizeof(err), "SSE_JWT_SECRET: set it or "
		    "SSE_JWT_SECRET_FILE to sign tokens");
	if (rc == 0 && loose)
		fprintf(stderr, "sse-outbox token: warning: "
		    "SSE_JWT_SECRET_FILE: %s is accessible by group or "
		    "others; chmod 600 it\n", file);
	main_source_close(&src);
	if (rc == -1) {
		fprintf(stderr, "sse-outbox token: %s\n", err);
		config_free(&cfg);
		return 1;
	}
	if (crypto_load(err, sizeof(err)) == -1) {
		fprintf(stderr, "sse-outbox token: %s\n", err);
		config_free(&cfg);
		return 1;
	}
	rc = jwt_sign(cfg.jwt_secret, strlen(cfg.jwt_secret), user, ttl,
	    channels, nchannels, (long long)time(NULL), &token, &reason);
	config_free(&cfg);
	if (rc == -1) {
		fprintf(stderr, "sse-outbox token: %s\n", reason);
		return 1;
	}
	printf("%s\n", token);
	free(token);
	return fflush(stdout) == 0 ? 0 : 1;
}

/*
 * sse-outbox prune --older-than SECONDS: drop delivered history. Reads
 * SSE_DB only; prints what it deleted.
 */
static int
main_prune(const char *argv0, int argc, char **argv)
{
	struct main_source src;
	const char *db;
	char *db_copy = NULL;
	const char *age_s = NULL;
	long long age = 0;
	long long deleted;
	long long through;
	char err[OUTBOX_ERR_LEN > CONFIG_ERR_LEN ? OUTBOX_ERR_LEN :
	    CONFIG_ERR_LEN];
	char *end;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (main_option(argc, argv, &i, "--older-than", &age_s) == -1) {
			fprintf(stderr, "usage: sse-outbox prune --older-than "
			    "SECONDS\n");
			return 2;
		}
	}
	if (age_s) {
		errno = 0;
		age = strtoll(age_s, &end, 10);
	}
	if (!age_s || *age_s < '0' || *age_s > '9' || errno != 0 ||
	    *end != '\0' || age < 0) {
		fprintf(stderr, "sse-outbox prune: --older-than needs a whole "
		    "number of seconds\n");
		return 2;
	}
	if (main_source_open(&src, argv0, err, sizeof(err)) == -1) {
		fprintf(stderr, "sse-outbox prune: %s\n", err);
		return 1;
	}
	db = main_get(&src, "SSE_DB");
	if (db && *db)
		db_copy = strdup(db);
	main_source_close(&src);
	if (!db_copy) {
		fprintf(stderr, "sse-outbox prune: SSE_DB: required (path of "
		    "the SQLite database or a postgresql:// URI)\n");
		return 1;
	}
	rc = outbox_prune(db_copy, age, (long long)time(NULL), &deleted,
	    &through, err, sizeof(err));
	free(db_copy);
	if (rc == -1) {
		fprintf(stderr, "sse-outbox prune: %s\n", err);
		return 1;
	}
	printf("deleted %lld rows (ids up to %lld)\n", deleted, through);
	return 0;
}

int
main(int argc, char **argv)
{
	struct main_source src;
	struct config cfg;
	char errs[CONFIG_ERR_LEN];
	const char *listen_addr = NULL;
	char secret_err[512];
	int check = 0;
	int loose = 0;
	int nerrors;
	int rc;

	if (argc > 1 && strcmp(argv[1], "token") == 0)
		return main_token(argv[0], argc - 2, argv + 2);
	if (argc > 1 && strcmp(argv[1], "prune") == 0)
		return main_prune(argv[0], argc - 2, argv + 2);
	if (argc > 1 && strcmp(argv[1], "doctor") == 0)
		return doctor_main(argc - 2, argv + 2);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			main_usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("sse-outbox %s\n", SSE_OUTBOX_VERSION);
			return 0;
		} else if (strcmp(argv[i], "--check") == 0) {
			check = 1;
		} else if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
			listen_addr = argv[++i];
		} else if (strncmp(argv[i], "--listen=", 9) == 0) {
			listen_addr = argv[i] + 9;
		} else {
			fprintf(stderr, "sse-outbox: unknown argument '%s'\n",
			    argv[i]);
			main_usage(stderr);
			return 2;
		}
	}
	if (main_source_open(&src, argv[0], errs, sizeof(errs)) == -1) {
		memset(&cfg, 0, sizeof(cfg));
		nerrors = 1;
	} else {
		nerrors = main_source_load(&src, &cfg, errs, sizeof(errs));
	}
	if (!listen_addr)
		listen_addr = cfg.listen;
	if (main_check_listen(&cfg, listen_addr, secret_err,
	    sizeof(secret_err)) == -1)
		main_add_error(errs, sizeof(errs), nerrors++, secret_err);
	if (cfg.auth == AUTH_JWT && cfg.jwt_secret_file &&
	    main_load_secret(&cfg, cfg.jwt_secret_file, &loose, secret_err,
	    sizeof(secret_err)) == -1)
		main_add_error(errs, sizeof(errs), nerrors++, secret_err);
	/* The libraries loaded only when needed (docs/performance.md). */
	if (cfg.auth == AUTH_JWT &&
	    crypto_load(secret_err, sizeof(secret_err)) == -1)
		main_add_error(errs, sizeof(errs), nerrors++, secret_err);
	if (cfg.db && outbox_is_postgres(cfg.db) &&
	    pq_load(secret_err, sizeof(secret_err)) == -1)
		main_add_error(errs, sizeof(errs), nerrors++, secret_err);
	if (check) {
		if (src.file)
			printf("settings: %s\n", src.path);
		else if (src.ignored)
			printf("settings: the environment (%s not read: the "
			    "environment sets SSE_ variables)\n", src.path);
		main_source_close(&src);
		if (loose)
			fprintf(stderr, "warning: SSE_JWT_SECRET_FILE: %s is "
			    "accessible by group or others; chmod 600 it\n",
			    cfg.jwt_secret_file);
		rc = main_check(&cfg, nerrors, errs);
		config_free(&cfg);
		return rc;
	}
	log_init("sse-outbox", (enum log_level)cfg.log_level);
	if (src.file)
		log_debug("settings from %s", src.path);
	else if (src.ignored)
		log_info("settings from the environment; %s not read (the "
		    "environment sets SSE_ variables)", src.path);
	main_source_close(&src);
	if (loose)
		log_warnx("SSE_JWT_SECRET_FILE: %s is accessible by group or "
		    "others; chmod 600 it", cfg.jwt_secret_file);
	if (nerrors > 0) {
		/* Each problem on its own line, then give up: no guessing. */
		for (char *line = errs; line; ) {
			char *nl = strchr(line, '\n');

			if (nl)
				*nl = '\0';
			log_errorx("configuration: %s", line);
			line = nl ? nl + 1 : NULL;
		}
		config_free(&cfg);
		return 1;
	}
	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	/* Before libfcgi's own handlers can be installed. */
	server_install_signals();
	if (cfg.auth == AUTH_QUERY)
		log_warnx("SSE_AUTH=query: anyone can read any user's events "
		    "by naming them; for development only");
	if (listen_addr) {
		int fd = server_listen(listen_addr, errs, sizeof(errs));

		if (fd < 0) {
			log_errorx("%s", errs);
			rc = 1;
		} else {
			rc = server_run_fastcgi(&cfg, fd);
		}
	} else if (server_fd0_is_fastcgi()) {
		if (cfg.auth == AUTH_REMOTE_USER && !cfg.trust_tcp &&
		    main_fd0_is_tcp()) {
			log_errorx("configuration: SSE_TRUST_TCP: the FastCGI "
			    "socket on descriptor 0 is a TCP port and "
			    "SSE_AUTH=remote-user believes any REMOTE_USER "
			    "it is sent: every local user could read anyone's "
			    "events. Hand over a unix socket (mode 0660), or "
			    "set SSE_TRUST_TCP=1 if nothing else can reach "
			    "this port");
			config_free(&cfg);
			return 1;
		}
		rc = server_run_fastcgi(&cfg, 0);
	} else {
		rc = server_run_cgi(&cfg);
	}
	config_free(&cfg);
	return rc;
}
