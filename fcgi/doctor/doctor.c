/* SPDX-License-Identifier: BSD-2-Clause */
/* `sse-outbox doctor`: do events reach a browser as they are written? */
#include "doctor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "body.h"
#include "cred.h"
#include "err.h"
#include "head.h"
#include "http.h"
#include "report.h"
#include "url.h"
#include "verdict.h"

#define DOCTOR_USAGE "usage: sse-outbox doctor URL [--token TOKEN | " \
	"--token-file FILE |\n" \
	"                         --basic USER:PASSWORD | " \
	"--basic-file FILE | --user USER]\n" \
	"                         [--timeout SECONDS]\n" \
	"  (or SSE_DOCTOR_TOKEN / SSE_DOCTOR_BASIC in the environment, which " \
	"keeps\n   the secret out of the process list; FILE - is standard " \
	"input)\n"
#define DOCTOR_TIMEOUT 10	/* default --timeout, seconds */
#define DOCTOR_TIMEOUT_MAX 300

struct doctor_opts {
	const char *url;
	const char *token;	/* --token: Authorization: Bearer */
	const char *user;	/* --user: ?user= (SSE_AUTH=query) */
	const char *basic;	/* --basic USER:PASSWORD */
	const char *token_file;	/* --token-file: the token's file */
	const char *basic_file;	/* --basic-file: USER:PASSWORD's file */
	long timeout;		/* seconds, whole exchange */
	char secret[DOCTOR_CRED_SIZE];	/* a credential from a file */
};

/* The credential, as the report may name it (never the secret). */
static void
doctor_describe_credential(const struct doctor_opts *o, char *out,
    size_t size)
{
	char e[DOCTOR_ESC_MAX];
	char name[160];

	if (o->token) {
		snprintf(out, size, "Bearer token");
	} else if (o->basic) {
		snprintf(name, sizeof(name), "%.*s",
		    (int)strcspn(o->basic, ":"), o->basic);
		snprintf(out, size, "Basic auth as %s",
		    doctor_escape(name, e, sizeof(e)));
	} else if (o->user) {
		snprintf(out, size, "user=%s in the query",
		    doctor_escape(o->user, e, sizeof(e)));
	} else {
		snprintf(out, size, "no credential");
	}
}

/*
 * A secret on the command line is in the process list for every local
 * user to read: take it from a file or the environment instead, when
 * given there. An option on the command line wins over the environment.
 */
static int
doctor_take_secret(struct doctor_opts *o)
{
	char err[DOCTOR_ERR_LEN];
	const char *env_token = getenv("SSE_DOCTOR_TOKEN");
	const char *env_basic = getenv("SSE_DOCTOR_BASIC");
	const char *file = o->token_file ? o->token_file : o->basic_file;

	if (file) {
		if (doctor_cred_read_file(o->token_file ? "--token-file" :
		    "--basic-file", file, o->secret, sizeof(o->secret), err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "sse-outbox doctor: %s\n", err);
			return -1;
		}
		if (o->token_file)
			o->token = o->secret;
		else
			o->basic = o->secret;
		return 0;
	}
	if (o->token || o->basic || o->user)
		return 0;
	if (env_token && *env_token && env_basic && *env_basic) {
		fprintf(stderr, "sse-outbox doctor: SSE_DOCTOR_TOKEN and "
		    "SSE_DOCTOR_BASIC are both set: unset one\n");
		return -1;
	}
	if (env_token && *env_token)
		o->token = env_token;
	else if (env_basic && *env_basic)
		o->basic = env_basic;
	return 0;
}

static int
doctor_parse_args(int argc, char **argv, struct doctor_opts *o)
{
	const char **slot;
	char *end;

	memset(o, 0, sizeof(*o));
	o->timeout = DOCTOR_TIMEOUT;
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		slot = NULL;
		if (strcmp(a, "--token") == 0)
			slot = &o->token;
		else if (strcmp(a, "--user") == 0)
			slot = &o->user;
		else if (strcmp(a, "--basic") == 0)
			slot = &o->basic;
		else if (strcmp(a, "--token-file") == 0)
			slot = &o->token_file;
		else if (strcmp(a, "--basic-file") == 0)
			slot = &o->basic_file;
		if (slot || strcmp(a, "--timeout") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "sse-outbox doctor: %s needs a "
				    "value\n%s", a, DOCTOR_USAGE);
				return -1;
			}
			if (slot) {
				*slot = argv[++i];
				continue;
			}
			errno = 0;
			o->timeout = strtol(argv[++i], &end, 10);
			if (errno != 0 || *end != '\0' || end == argv[i] ||
			    o->timeout < 1 || o->timeout > DOCTOR_TIMEOUT_MAX) {
				fprintf(stderr, "sse-outbox doctor: --timeout: "
				    "a whole number of seconds from 1 to %d\n",
				    DOCTOR_TIMEOUT_MAX);
				return -1;
			}
			continue;
		}
		if (a[0] == '-' || o->url) {
			fprintf(stderr, "sse-outbox doctor: unknown argument "
			    "'%s'\n%s", a, DOCTOR_USAGE);
			return -1;
		}
		o->url = a;
	}
	if (!o->url) {
		fprintf(stderr, "%s", DOCTOR_USAGE);
		return -1;
	}
	if (!!o->token + !!o->user + !!o->basic + !!o->token_file +
	    !!o->basic_file > 1) {
		fprintf(stderr, "sse-outbox doctor: give one of --token, "
		    "--token-file, --user, --basic and --basic-file\n");
		return -1;
	}
	if (doctor_take_secret(o) == -1)
		return -1;
	if ((o->token && strlen(o->token) > DOCTOR_AUTH_MAX) ||
	    (o->basic && (strlen(o->basic) > DOCTOR_AUTH_MAX ||
	    !strchr(o->basic, ':')))) {
		fprintf(stderr, "sse-outbox doctor: the token or the Basic "
		    "USER:PASSWORD is malformed or too long\n");
		return -1;
	}
	return 0;
}

static int doctor_run(const struct doctor_opts *o);

int
doctor_main(int argc, char **argv)
{
	struct doctor_opts o;
	int rc;

	if (doctor_parse_args(argc, argv, &o) == -1) {
		explicit_bzero(o.secret, sizeof(o.secret));
		return 2;
	}
	rc = doctor_run(&o);
	explicit_bzero(o.secret, sizeof(o.secret));
	return rc;
}

static int
doctor_run(const struct doctor_opts *o)
{
	char req[DOCTOR_HEAD_MAX];
	char err[DOCTOR_ERR_LEN];
	char cred[300];
	struct doctor_url u;
	struct doctor_head h;
	struct doctor_body b;
	struct doctor_finding f;
	double sent_at;
	double head_at = 0;
	double deadline;
	int fd;
	int rc;

	if (doctor_url_parse(o->url, &u, err, sizeof(err)) == -1 ||
	    (o->user && doctor_url_add_param(&u, "user", o->user, err,
	    sizeof(err)) == -1) ||
	    doctor_url_add_param(&u, "probe", "1", err, sizeof(err)) == -1 ||
	    doctor_http_request(&u, o->token, o->basic, req, sizeof(req), err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "sse-outbox doctor: %s\n", err);
		return 2;
	}
	doctor_describe_credential(o, cred, sizeof(cred));
	printf("sse-outbox doctor: GET http://%s%s (%s)\n", u.authority,
	    u.target, cred);
	fflush(stdout);
	deadline = doctor_now() + (double)o->timeout;
	fd = doctor_http_connect(&u, deadline, err, sizeof(err));
	if (fd == -1) {
		fprintf(stderr, "sse-outbox doctor: %s\n", err);
		return 2;
	}
	sent_at = doctor_now();
	rc = doctor_http_send(fd, req, strlen(req), deadline, err,
	    sizeof(err));
	explicit_bzero(req, sizeof(req));
	if (rc == 0)
		rc = doctor_http_exchange(fd, deadline, &h, &b, &head_at, err,
		    sizeof(err));
	close(fd);
	if (rc == -1) {
		fprintf(stderr, "sse-outbox doctor: %s\n", err);
		return 2;
	}
	doctor_print_head(&h, head_at - sent_at);
	if (rc == 1) {
		doctor_print_refused(&h, cred);
		return 2;
	}
	if (strncasecmp(h.content_type, "text/event-stream", 17) != 0) {
		doctor_print_not_stream(&h);
		return 2;
	}
	doctor_judge(&h, &b, sent_at, head_at, &f);
	doctor_print_verdict(&h, &b, &f, sent_at);
	if (f.verdict == DOCTOR_UNKNOWN) {
		fprintf(stderr, "sse-outbox doctor: the probe stream ended "
		    "after %d of %d events%s: cannot tell\n", b.nprobes,
		    DOCTOR_PROBES, b.nother > 0 ?
		    " (other events came: an sse-outbox without ?probe=1?)" :
		    "");
		return 2;
	}
	if (f.verdict == DOCTOR_STREAMING)
		return 0;
	doctor_print_advice(&h, &f);
	return 1;
}
