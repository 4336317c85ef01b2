/* SPDX-License-Identifier: BSD-2-Clause */
/* Process lifecycles: FastCGI (acceptor threads, the hub) or one CGI request. */
#include "server.h"

#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "acceptor.h"
#include "admit.h"
#include "answer.h"
#include "fdlimit.h"
#include "hub.h"
#include "log.h"
#include "outbox.h"
#include "request.h"
#include "transport.h"

/* Apache's mod_cgid holds a CGI response whose first body bytes are
 * small; an opening comment of this size gets it streaming. */
#define SERVER_CGI_PADDING 2048

/* The hub the stop signals stop; set only while signals are blocked. */
static struct hub *volatile server_signal_hub;
/* The signal that asked the process to stop, 0 while none did. */
static volatile sig_atomic_t server_stop_signal;

static const int server_stop_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };
#define SERVER_NSTOP (sizeof(server_stop_signals) / sizeof(int))

static void
server_on_signal(int sig)
{
	int saved = errno;
	struct hub *hub = server_signal_hub;

	server_stop_signal = sig;
	if (hub)
		hub_shutdown(hub);
	errno = saved;
}

void
server_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = server_on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	/*
	 * SIGUSR1 is the graceful stop of lighttpd's kill-signal and of
	 * mod_fastcgi. Ours must be in place before FCGX_Init: libfcgi's
	 * own only marks a shutdown, after which every accept fails and
	 * the process never ends.
	 */
	for (size_t i = 0; i < SERVER_NSTOP; i++)
		sigaction(server_stop_signals[i], &sa, NULL);
	/* A write to a gone client must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
}

/*
 * Point the signal handler at hub (NULL: at nothing), with the stop
 * signals held back so that the handler never sees a hub being freed.
 * Only this (the main) thread takes them: the acceptors block them all.
 */
static void
server_signals_reach(struct hub *hub)
{
	sigset_t stop;
	sigset_t old;

	sigemptyset(&stop);
	for (size_t i = 0; i < SERVER_NSTOP; i++)
		sigaddset(&stop, server_stop_signals[i]);
	pthread_sigmask(SIG_BLOCK, &stop, &old);
	server_signal_hub = hub;
	if (hub && server_stop_signal)
		hub_shutdown(hub);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static const char *
server_signal_name(int sig)
{
	switch (sig) {
	case SIGTERM:
		return "SIGTERM";
	case SIGINT:
		return "SIGINT";
	case SIGHUP:
		return "SIGHUP";
	case SIGUSR1:
		return "SIGUSR1";
	}
	return "a signal";
}

int
server_fd0_is_fastcgi(void)
{
	return acceptor_fd0_is_listening();
}

int
server_listen(const char *addr, char *err, size_t errlen)
{
	return acceptor_listen(addr, err, errlen);
}

/* An acceptor thread's request: admission decides what becomes of it. */
static void
server_serve(void *ctx, const struct request *r, const struct transport *tr)
{
	(void)admit_request(ctx, r, tr, 0);
}

static const struct acceptor_ops server_acceptor_ops = {
	.serve = server_serve,
};

/*
 * Under CGI and mod_fcgid each stream is a process, and what one keeps
 * is paid per stream (docs/performance.md). One malloc arena: the
 * acceptor threads' per-request database connections are freed where the
 * loop reuses them, not kept in arenas of their own. A small top pad and
 * trim threshold give a freed connection back rather than keep its pages.
 * (Setting the threshold also stops glibc from raising the mmap
 * threshold: a row over 128 KiB is mapped and unmapped each time.)
 */
static void
server_small_heap(void)
{
	(void)mallopt(M_ARENA_MAX, 1);
	(void)mallopt(M_TOP_PAD, 16 * 1024);
	(void)mallopt(M_TRIM_THRESHOLD, 64 * 1024);
}

/* SSE_MAX_STREAMS as the descriptors allow: each stream holds one. */
static long
server_stream_cap(const struct config *cfg)
{
	long before;
	long limit = fdlimit_raise(&before);
	long cap = fdlimit_cap(cfg->max_streams, limit);

	if (limit != before)
		log_info("RLIMIT_NOFILE raised from %ld to %ld", before, limit);
	if (cap < cfg->max_streams)
		log_warnx("SSE_MAX_STREAMS=%ld does not fit RLIMIT_NOFILE=%ld "
		    "(a descriptor a stream, %d for the rest): serving at "
		    "most %ld stream%s; raise the limit (LimitNOFILE=, "
		    "ulimit -n) or lower SSE_MAX_STREAMS", cfg->max_streams,
		    limit, FDLIMIT_RESERVE, cap, cap == 1 ? "" : "s");
	return cap;
}

int
server_run_fastcgi(const struct config *cfg, int listen_fd)
{
	struct acceptor *acc = NULL;
	struct hub *hub = NULL;
	struct admit adm;
	char err[256];
	long cap;
	int rc = 1;

	if (listen_fd == 0)
		server_small_heap();	/* mod_fcgid: a process a stream */
	if (acceptor_init(err, sizeof(err)) == -1) {
		log_errorx("%s", err);
		return 1;
	}
	cap = server_stream_cap(cfg);
	/* Descriptor 0: spawned by the web server (mod_fcgid, lighttpd
	 * bin-path), a stream at a time under mod_fcgid: the host-wide
	 * reader. --listen serves many streams: its own watcher. */
	hub = hub_new(cfg, listen_fd == 0, err, sizeof(err));
	if (!hub) {
		log_errorx("%s", err);
		return 1;
	}
	server_signals_reach(hub);
	admit_init(&adm, cfg, hub, cap);
	/* Descriptor 0 comes from a web server that connects itself (one
	 * request at a time under mod_fcgid): threads as needed. --listen
	 * may face idle peers that hold a thread each: all from the start. */
	acc = acceptor_start(listen_fd, listen_fd == 0 ? 1 : ACCEPTOR_THREADS,
	    &server_acceptor_ops, &adm, err,
	    sizeof(err));
	if (!acc) {
		log_errorx("%s", err);
		goto out;
	}
	outbox_describe(cfg->db, err, sizeof(err));
	log_info("serving FastCGI (auth=%s, db=%s)",
	    config_auth_name(cfg->auth), err);
	if (hub_run(hub, 0) == -1) {
		log_errorx("event loop failed; exiting");
		goto out;
	}
	rc = 0;
out:
	/* Nothing is freed while an acceptor thread can still use it. */
	admit_stop(&adm);
	acceptor_stop(acc);
	if (rc == 0) {
		if (server_stop_signal)
			log_info("%s: stopped accepting and ended every stream",
			    server_signal_name(server_stop_signal));
		log_info("shut down cleanly");
	}
	server_signals_reach(NULL);
	hub_free(hub);
	return rc;
}

int
server_run_cgi(const struct config *cfg)
{
	struct transport tr = { .fd = STDOUT_FILENO, .fastcgi = 0 };
	struct admit adm;
	struct request r;
	struct hub *hub;
	char err[256];
	int streaming;
	int rc = 0;

	server_small_heap();
	hub = hub_new(cfg, 1, err, sizeof(err));	/* CGI: one stream */
	if (!hub) {
		log_errorx("%s", err);
		answer_error(&tr, 503, ANSWER_RETRY_AFTER, 0);
		return 1;
	}
	server_signals_reach(hub);
	admit_init(&adm, cfg, hub, cfg->max_streams);
	r.method = getenv("REQUEST_METHOD");
	r.query = getenv("QUERY_STRING");
	r.remote_user = getenv("REMOTE_USER");
	r.last_event_id = getenv("HTTP_LAST_EVENT_ID");
	r.authorization = getenv("HTTP_AUTHORIZATION");
	r.cookie = getenv("HTTP_COOKIE");
	r.origin = getenv("HTTP_ORIGIN");
	r.path_info = getenv("PATH_INFO");
	/* The process only streams from here on: no connection kept. */
	adm.keep_store = 0;
	streaming = admit_request(&adm, &r, &tr, SERVER_CGI_PADDING);
	if (streaming && hub_run(hub, 1) == -1) {
		log_errorx("event loop failed; exiting");
		rc = 1;
	}
	server_signals_reach(NULL);
	hub_free(hub);
	return rc;
}
