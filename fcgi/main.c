/* Flags and environment into a config, --check, pick the mode, serve. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "outbox.h"
#include "server.h"

#ifndef SSE_OUTBOX_VERSION
#define SSE_OUTBOX_VERSION "0.1.0"
#endif

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
	    "       sse-outbox --help | --version\n"
	    "\n"
	    "Streams each user's rows of an SQLite outbox table as "
	    "Server-Sent Events,\nover FastCGI or CGI.\n"
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
	    "Environment:\n");
	if (f == stdout)
		config_describe(main_help_line, NULL);
}

static const char *
main_getenv(void *ctx, const char *name)
{
	(void)ctx;
	return getenv(name);
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

int
main(int argc, char **argv)
{
	struct config cfg;
	char errs[CONFIG_ERR_LEN];
	const char *listen_addr = NULL;
	int check = 0;
	int nerrors;
	int rc;

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
	nerrors = config_load(&cfg, main_getenv, NULL, errs, sizeof(errs));
	if (check) {
		rc = main_check(&cfg, nerrors, errs);
		config_free(&cfg);
		return rc;
	}
	log_init("sse-outbox", (enum log_level)cfg.log_level);
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
	if (!listen_addr)
		listen_addr = cfg.listen;
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
		rc = server_run_fastcgi(&cfg, 0);
	} else {
		rc = server_run_cgi(&cfg);
	}
	config_free(&cfg);
	return rc;
}
