/* Accepting requests: FastCGI (libfcgi, several threads) or one CGI. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fcgiapp.h>

#include "hub.h"
#include "log.h"
#include "outbox.h"
#include "probe.h"
#include "request.h"
#include "stats.h"
#include "stream.h"
#include "transport.h"

#define SERVER_ACCEPTORS 4		/* threads in FCGX_Accept_r */
#define SERVER_ACCEPTOR_STACK (256 * 1024)
#define SERVER_BACKLOG 4096
#define SERVER_ANSWER_TIMEOUT_MS 5000
#define SERVER_RETRY_AFTER "Retry-After: 5"
/* Apache's mod_cgid holds a CGI response whose first body bytes are
 * small; an opening comment of this size gets it streaming. */
#define SERVER_CGI_PADDING 2048

struct server {
	const struct config *cfg;
	struct hub *hub;
	int listen_fd;
	atomic_ulong serial;		/* request numbers for logs */
	atomic_ulong refused[STATS_STATUSES];	/* by stats_statuses */
	atomic_int probing;		/* one probe at a time: it holds a
					 * thread for about 1.2 s */
};

static struct hub *volatile server_signal_hub;
static volatile sig_atomic_t server_stop;

static void
server_on_signal(int sig)
{
	struct hub *hub = server_signal_hub;

	(void)sig;
	server_stop = 1;
	if (hub)
		hub_shutdown(hub);
}

void
server_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = server_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* A write to a gone client must fail with EPIPE, not kill us. */
	signal(SIGPIPE, SIG_IGN);
}

int
server_fd0_is_fastcgi(void)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);

	/* As libfcgi decides: a listening socket has no peer. */
	return getpeername(0, (struct sockaddr *)&sa, &len) == -1 &&
	    errno == ENOTCONN;
}

int
server_listen(const char *addr, char *err, size_t errlen)
{
	int fd;

	if (FCGX_Init() != 0) {
		snprintf(err, errlen, "FCGX_Init failed");
		return -1;
	}
	fd = FCGX_OpenSocket(addr, SERVER_BACKLOG);
	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr,
		    strerror(errno));
		return -1;
	}
	return fd;
}

/* Send a whole response (CGI head and body) outside the event loop, end
 * it and close. Nothing is sent when body overflowed its cap. */
static void
server_send_whole(const struct transport *tr, const struct buf *body)
{
	struct buf wire;

	buf_init(&wire, body->len + 1024);
	if (!body->failed &&
	    transport_frame(tr, &wire, body->data, body->len) == 0 &&
	    transport_frame_end(tr, &wire) == 0)
		(void)transport_write_all(tr->fd, &wire,
		    SERVER_ANSWER_TIMEOUT_MS);
	buf_free(&wire);
	transport_close(tr);
}

/* Send a complete error answer outside the event loop and close. */
static void
server_answer(const struct transport *tr, int status, const char *header,
    int head)
{
	struct buf body;

	buf_init(&body, 4096);
	if (request_append_error(&body, status, header, head) == 0)
		server_send_whole(tr, &body);
	else
		transport_close(tr);
	buf_free(&body);
}

static const char *
server_auth_header(const struct config *cfg, int status)
{
	if (status == 401 && cfg->auth == AUTH_JWT)
		return "WWW-Authenticate: Bearer";
	if (status == 405)
		return "Allow: GET, HEAD";
	if (status == 503 || status == 429)
		return SERVER_RETRY_AFTER;
	return NULL;
}

/* Count a refusal for the stats, log it once, answer it, close. */
static void
server_refuse(struct server *srv, const struct transport *tr,
    unsigned long serial, int status, const char *reason, int head,
    int warn)
{
	atomic_fetch_add(&srv->refused[stats_status_index(status)], 1);
	if (warn)
		log_warnx("req=%lu refused %d: %s", serial, status, reason);
	else
		log_info("req=%lu refused %d: %s", serial, status, reason);
	server_answer(tr, status, server_auth_header(srv->cfg, status), head);
}

/* GET ?stats with SSE_STATS=1: this process's counters. */
static void
server_stats(struct server *srv, const struct transport *tr, int head)
{
	unsigned long refused[STATS_STATUSES];
	struct hub_stats st;
	struct buf body;

	hub_get_stats(srv->hub, &st);
	for (int i = 0; i < STATS_STATUSES; i++)
		refused[i] = atomic_load(&srv->refused[i]);
	buf_init(&body, 64 * 1024);
	(void)buf_append_str(&body, "Status: 200 OK\r\nContent-Type: "
	    "text/plain; version=0.0.4; charset=utf-8\r\n"
	    "Cache-Control: no-store\r\n\r\n");
	if (head || stats_format(&body, &st, refused, (long)getpid()) == 0)
		server_send_whole(tr, &body);
	else
		transport_close(tr);
	buf_free(&body);
}

/*
 * Where the stream starts, and whether it must first tell the client that
 * rows it has not seen are gone (a "reset" event): its resume point is
 * below what `sse-outbox prune` deleted, or above every id this database
 * ever gave (another database's id). Without a resume point: the newest
 * id given so far. Returns 0, or -1 with err (the database failed).
 */
static int
server_start_point(struct outbox *ob, const struct request_spec *spec,
    long long *start, char **reset, char *err, size_t errlen)
{
	long long high;
	long long pruned;
	char data[160];

	*reset = NULL;
	if (outbox_history(ob, &high, &pruned, err, errlen) == -1)
		return -1;
	/* The newest id ever given, not max(id): after pruning everything
	 * the table is empty but the ids go on from there. */
	if (!spec->has_resume) {
		*start = high;
		return 0;
	}
	*start = spec->resume;
	if (spec->resume < pruned)
		stream_reset_data(data, sizeof(data), "pruned", spec->resume,
		    "pruned_through", pruned);
	else if (spec->resume > high)
		stream_reset_data(data, sizeof(data), "unknown-id",
		    spec->resume, "newest_id", high);
	else
		return 0;
	/* Another database's id: everything here is new to the client.
	 * Pruned: the rows up to pruned are gone; go on after them. */
	*start = spec->resume > high ? 0 : pruned;
	*reset = strdup(data);
	return 0;
}

/*
 * One request, FastCGI or CGI alike: refuse it, answer HEAD, a probe or
 * the stats, or turn it into a stream for the hub. *ob is this thread's
 * database connection, opened on demand and dropped after an error.
 * Returns 1 when a stream went to the hub, 0 when the request was
 * answered here.
 */
static int
server_handle(struct server *srv, const struct request *r,
    const struct transport *tr, struct outbox **ob, size_t padding)
{
	const struct config *cfg = srv->cfg;
	unsigned long serial = atomic_fetch_add(&srv->serial, 1) + 1;
	struct request_spec spec;
	struct request_error rerr;
	char err[OUTBOX_ERR_LEN];
	struct stream *s;
	long long start;
	char *reset = NULL;
	int head = request_method_of(r->method) == REQUEST_HEAD;

	/* Exactly "stats", so that the web server rules that restrict it
	 * (README, Stats) can match it exactly too. */
	if (cfg->stats && r->query && strcmp(r->query, "stats") == 0 &&
	    request_method_of(r->method) != REQUEST_OTHER) {
		server_stats(srv, tr, head);
		return 0;
	}
	if (request_evaluate(r, cfg, &spec, &rerr) == -1) {
		server_refuse(srv, tr, serial, rerr.status, rerr.reason, head,
		    0);
		return 0;
	}
	if (spec.probe && atomic_exchange(&srv->probing, 1)) {
		request_spec_free(&spec);
		server_refuse(srv, tr, serial, 503, "a probe is already running",
		    head, 0);
		return 0;
	}
	if (spec.probe) {
		log_info("req=%lu user=%s diagnostic probe stream", serial,
		    stream_user_for_log(spec.user, spec.user_len));
		request_spec_free(&spec);
		(void)probe_run(tr, cfg, padding);
		transport_close(tr);
		atomic_store(&srv->probing, 0);
		return 0;
	}
	/* A database deleted or replaced since: read the one there now. */
	if (*ob && !outbox_still_current(*ob, cfg->db)) {
		outbox_close(*ob);
		*ob = NULL;
	}
	if (!*ob)
		*ob = outbox_open(cfg->db, err, sizeof(err));
	if (!*ob) {
		request_spec_free(&spec);
		server_refuse(srv, tr, serial, 503, err, head, 1);
		return 0;
	}
	if (server_start_point(*ob, &spec, &start, &reset, err, sizeof(err))
	    == -1) {
		outbox_close(*ob);
		*ob = NULL;
		request_spec_free(&spec);
		server_refuse(srv, tr, serial, 503, err, head, 1);
		return 0;
	}
	/* HEAD asks for the status a GET would get: it is checked the same
	 * way but holds nothing. */
	if (hub_reserve_slot(srv->hub) > cfg->max_streams) {
		hub_release_slot(srv->hub);
		free(reset);
		request_spec_free(&spec);
		snprintf(err, sizeof(err), "SSE_MAX_STREAMS (%ld) streams open",
		    cfg->max_streams);
		server_refuse(srv, tr, serial, 503, err, head, 1);
		return 0;
	}
	{
		struct stream_opening open = { start, reset,
		    cfg->announce_start && !spec.has_resume, padding };

		s = stream_new(serial, tr, &spec, &open);
	}
	request_spec_free(&spec);
	if (!s) {
		hub_release_slot(srv->hub);
		free(reset);
		server_refuse(srv, tr, serial, 503, "out of memory", head, 1);
		return 0;
	}
	free(reset);
	reset = NULL;
	if (hub_claim_user(srv->hub, s, cfg->max_per_user) == -1) {
		hub_release_slot(srv->hub);
		snprintf(err, sizeof(err), "user=%s holds SSE_MAX_PER_USER "
		    "(%ld) streams", stream_user_for_log(s->user, s->user_len),
		    cfg->max_per_user);
		stream_free(s);
		server_refuse(srv, tr, serial, 429, err, head, 1);
		return 0;
	}
	if (head) {
		hub_release_slot(srv->hub);
		hub_unclaim_user(srv->hub, s);
		if (stream_frame_head(s, cfg, 0) == 0 &&
		    stream_frame_end(s) == 0)
			(void)transport_write_all(tr->fd, &s->wire,
			    SERVER_ANSWER_TIMEOUT_MS);
		transport_close(tr);
		stream_free(s);
		return 0;
	}
	if (s->reset[0])
		log_info("req=%lu user=%s resumes from %lld: sending reset "
		    "(%s)", serial, stream_user_for_log(s->user, s->user_len),
		    spec.resume, s->reset);
	if (fcntl(tr->fd, F_SETFL, fcntl(tr->fd, F_GETFL) | O_NONBLOCK) == -1)
		log_warn("req=%lu fcntl O_NONBLOCK", serial);
	hub_submit(srv->hub, s);
	return 1;
}

static void
server_read_params(struct request *r, char **envp)
{
	r->method = FCGX_GetParam("REQUEST_METHOD", envp);
	r->query = FCGX_GetParam("QUERY_STRING", envp);
	r->remote_user = FCGX_GetParam("REMOTE_USER", envp);
	r->last_event_id = FCGX_GetParam("HTTP_LAST_EVENT_ID", envp);
	r->authorization = FCGX_GetParam("HTTP_AUTHORIZATION", envp);
	r->cookie = FCGX_GetParam("HTTP_COOKIE", envp);
	r->origin = FCGX_GetParam("HTTP_ORIGIN", envp);
}

static void *
server_acceptor(void *arg)
{
	struct server *srv = arg;
	struct outbox *ob = NULL;

	while (!server_stop) {
		FCGX_Request *req = calloc(1, sizeof(*req));
		struct transport tr;
		struct request r;

		if (!req || FCGX_InitRequest(req, srv->listen_fd, 0) != 0) {
			free(req);
			sleep(1);
			continue;
		}
		if (FCGX_Accept_r(req) < 0) {
			/* libfcgi fails every accept once shutdown is
			 * pending; retrying would spin. */
			FCGX_Free(req, 1);
			free(req);
			if (server_stop)
				break;
			usleep(100 * 1000);
			continue;
		}
		server_read_params(&r, req->envp);
		tr.fd = req->ipcFd;
		tr.request_id = req->requestId;
		tr.fastcgi = 1;
		(void)server_handle(srv, &r, &tr, &ob, 0);
		/*
		 * The connection now belongs to the stream (or is closed):
		 * free libfcgi's buffers and parameters without touching it.
		 */
		FCGX_Free(req, 0);
		free(req);
	}
	outbox_close(ob);
	return NULL;
}

int
server_run_fastcgi(const struct config *cfg, int listen_fd)
{
	struct server srv = { .cfg = cfg, .listen_fd = listen_fd };
	pthread_attr_t attr;
	char err[256];

	atomic_init(&srv.serial, 0);
	if (FCGX_Init() != 0) {
		log_errorx("FCGX_Init failed");
		return 1;
	}
	/* Descriptor 0: spawned by the server (mod_fcgid, lighttpd
	 * bin-path), a stream at a time for mod_fcgid. */
	srv.hub = hub_new(cfg, listen_fd == 0, err, sizeof(err));
	if (!srv.hub) {
		log_errorx("%s", err);
		return 1;
	}
	server_signal_hub = srv.hub;
	if (server_stop)
		hub_shutdown(srv.hub);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, SERVER_ACCEPTOR_STACK);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (int i = 0; i < SERVER_ACCEPTORS; i++) {
		pthread_t t;

		if (pthread_create(&t, &attr, server_acceptor, &srv) != 0) {
			log_errorx("cannot start an acceptor thread");
			return 1;
		}
	}
	pthread_attr_destroy(&attr);
	log_info("serving FastCGI (auth=%s, db=%s)",
	    config_auth_name(cfg->auth), cfg->db);
	if (hub_run(srv.hub, 0) == -1)
		return 1;
	log_info("shut down cleanly");
	/* Acceptor threads may sit in accept(); exiting ends them. */
	return 0;
}

static const char *
server_getenv(const char *name)
{
	return getenv(name);
}

int
server_run_cgi(const struct config *cfg)
{
	struct server srv = { .cfg = cfg, .listen_fd = -1 };
	struct transport tr = { .fd = STDOUT_FILENO, .fastcgi = 0 };
	struct outbox *ob = NULL;
	struct request r;
	char err[256];
	int streaming;

	atomic_init(&srv.serial, 0);
	srv.hub = hub_new(cfg, 1, err, sizeof(err));
	if (!srv.hub) {
		log_errorx("%s", err);
		server_answer(&tr, 503, SERVER_RETRY_AFTER, 0);
		return 1;
	}
	server_signal_hub = srv.hub;
	r.method = server_getenv("REQUEST_METHOD");
	r.query = server_getenv("QUERY_STRING");
	r.remote_user = server_getenv("REMOTE_USER");
	r.last_event_id = server_getenv("HTTP_LAST_EVENT_ID");
	r.authorization = server_getenv("HTTP_AUTHORIZATION");
	r.cookie = server_getenv("HTTP_COOKIE");
	r.origin = server_getenv("HTTP_ORIGIN");
	streaming = server_handle(&srv, &r, &tr, &ob, SERVER_CGI_PADDING);
	outbox_close(ob);
	if (server_stop)
		hub_shutdown(srv.hub);
	if (streaming)
		(void)hub_run(srv.hub, 1);
	hub_free(srv.hub);
	return 0;
}
