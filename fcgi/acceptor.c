/* SPDX-License-Identifier: BSD-2-Clause */
/* FastCGI connections in, parsed requests out: libfcgi's accept threads. */
#include "acceptor.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <fastcgi.h>
#include <fcgiapp.h>

#include "log.h"

#define ACCEPTOR_STACK (256 * 1024)
#define ACCEPTOR_BACKLOG 4096
/* Interrupts a thread's accept at stop; ignored by default, so an
 * outsider sending it changes nothing. */
#define ACCEPTOR_WAKE_SIGNAL SIGURG
/* libfcgi drains a connection it drops for up to this (default 2 s). */
#define ACCEPTOR_CLOSE_POLL_MS "200"
#define ACCEPTOR_BACKOFF_MIN_MS 10
#define ACCEPTOR_BACKOFF_MAX_MS 1000
#define ACCEPTOR_JOIN_POLL_MS 100
#define ACCEPTOR_EPISODE_MS 10000	/* failure-free time that ends one */

struct acceptor {
	int listen_fd;
	const struct acceptor_ops *ops;
	void *ctx;
	atomic_int stop;		/* acceptor_stop was called */
	atomic_int failing;		/* accept fails: logged once an episode */
	atomic_llong failed_at;		/* when it last failed, monotonic ms */
	atomic_int waiting;		/* threads waiting for a connection */
	pthread_mutex_t grow;		/* guards nthreads, threads */
	int nthreads;
	pthread_t threads[ACCEPTOR_THREADS];
};

static void *acceptor_main(void *arg);

/* One more thread, unless stopping or all are running. 0, or errno. */
static int
acceptor_grow(struct acceptor *a)
{
	pthread_attr_t attr;
	int rc = 0;

	pthread_mutex_lock(&a->grow);
	if (!atomic_load(&a->stop) && a->nthreads < ACCEPTOR_THREADS) {
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, ACCEPTOR_STACK);
		/* The new thread takes the caller's signal mask: the
		 * acceptors' (acceptor_start sets it around its calls). */
		rc = pthread_create(&a->threads[a->nthreads], &attr,
		    acceptor_main, a);
		if (rc == 0)
			a->nthreads++;
		pthread_attr_destroy(&attr);
	}
	pthread_mutex_unlock(&a->grow);
	return rc;
}

int
acceptor_init(char *err, size_t errlen)
{
	/* Read by libfcgi's first FCGX_Init; the user's value wins. */
	(void)setenv("LIBFCGI_OS_CLOSE_POLL_TIMEOUT", ACCEPTOR_CLOSE_POLL_MS,
	    0);
	if (FCGX_Init() != 0) {
		snprintf(err, errlen, "FCGX_Init failed");
		return -1;
	}
	return 0;
}

int
acceptor_fd0_is_listening(void)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);

	/* As libfcgi decides: a listening socket has no peer. */
	return getpeername(0, (struct sockaddr *)&sa, &len) == -1 &&
	    errno == ENOTCONN;
}

int
acceptor_listen(const char *addr, char *err, size_t errlen)
{
	int fd;

	if (acceptor_init(err, errlen) == -1)
		return -1;
	fd = FCGX_OpenSocket(addr, ACCEPTOR_BACKLOG);
	if (fd < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr,
		    strerror(errno));
		return -1;
	}
	return fd;
}

static void
acceptor_on_wake(int sig)
{
	(void)sig;
}

/*
 * The value of parameter name: the LAST one sent, where FCGX_GetParam
 * returns the first. nginx sends every fastcgi_param line, so
 * `include fastcgi_params; fastcgi_param REMOTE_USER "";` arrives as
 * REMOTE_USER=<whatever Basic header the client sent> followed by
 * REMOTE_USER=; the later line is the one the configuration meant (and
 * the one PHP-FPM uses). A client cannot add a later one: its headers
 * arrive as HTTP_* only.
 */
static const char *
acceptor_param(const char *name, char **envp)
{
	size_t len = strlen(name);
	const char *found = NULL;

	for (; envp && *envp; envp++)
		if (strncmp(*envp, name, len) == 0 && (*envp)[len] == '=')
			found = *envp + len + 1;
	return found;
}

static void
acceptor_read_params(struct request *r, char **envp)
{
	r->method = acceptor_param("REQUEST_METHOD", envp);
	r->query = acceptor_param("QUERY_STRING", envp);
	r->remote_user = acceptor_param("REMOTE_USER", envp);
	r->last_event_id = acceptor_param("HTTP_LAST_EVENT_ID", envp);
	r->authorization = acceptor_param("HTTP_AUTHORIZATION", envp);
	r->cookie = acceptor_param("HTTP_COOKIE", envp);
	r->origin = acceptor_param("HTTP_ORIGIN", envp);
	r->path_info = acceptor_param("PATH_INFO", envp);
}

/*
 * An authorizer or filter request (FastCGI 1.0, 5.5: "the application
 * ... sends FCGI_END_REQUEST with protocolStatus FCGI_UNKNOWN_ROLE").
 * libfcgi itself drops connections whose role it does not know at all.
 */
static void
acceptor_refuse_role(const struct transport *tr, const char *role)
{
	FCGI_EndRequestRecord rec;
	struct buf wire;

	memset(&rec, 0, sizeof(rec));
	rec.header.version = FCGI_VERSION_1;
	rec.header.type = FCGI_END_REQUEST;
	rec.header.requestIdB1 = (unsigned char)(tr->request_id >> 8);
	rec.header.requestIdB0 = (unsigned char)tr->request_id;
	rec.header.contentLengthB0 = sizeof(rec.body);
	rec.body.protocolStatus = FCGI_UNKNOWN_ROLE;
	log_info("refused a FastCGI request in role %s: only RESPONDER is "
	    "served", role);
	buf_init(&wire, sizeof(rec));
	if (buf_append(&wire, &rec, sizeof(rec)) == 0)
		(void)transport_write_all(tr->fd, &wire, 1000);
	buf_free(&wire);
	transport_close(tr);
}

static void
acceptor_dispatch(struct acceptor *a, FCGX_Request *req)
{
	struct transport tr = {
		.fd = req->ipcFd,
		.request_id = req->requestId,
		.fastcgi = 1,
	};
	const char *role = FCGX_GetParam("FCGI_ROLE", req->envp);
	struct request r;

	if (!role || strcmp(role, "RESPONDER") != 0) {
		acceptor_refuse_role(&tr, role ? role : "(none)");
		return;
	}
	acceptor_read_params(&r, req->envp);
	a->ops->serve(a->ctx, &r, &tr);
}

/* Sleep ms, cut short by the wake signal. */
static void
acceptor_sleep(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	(void)nanosleep(&ts, NULL);
}

/*
 * accept failed with err. EINTR: woken to stop. EAGAIN: the listening
 * socket's receive timeout, a chance to look at the stop flag. Anything
 * else (EMFILE above all) is logged once an episode and retried after a
 * growing pause, never in a tight loop.
 */
static long long
acceptor_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
acceptor_failed(struct acceptor *a, int err, unsigned *backoff_ms)
{
	if (err == EINTR || err == EAGAIN || err == EWOULDBLOCK)
		return;
	atomic_store(&a->failed_at, acceptor_now_ms());
	if (!atomic_exchange(&a->failing, 1)) {
		errno = err;
		if (err == EMFILE || err == ENFILE)
			log_warn("accept: out of file descriptors; new "
			    "connections wait until streams end");
		else
			log_warn("accept failed; retrying");
	}
	if (*backoff_ms < ACCEPTOR_BACKOFF_MIN_MS)
		*backoff_ms = ACCEPTOR_BACKOFF_MIN_MS;
	acceptor_sleep(*backoff_ms);
	*backoff_ms *= 2;
	if (*backoff_ms > ACCEPTOR_BACKOFF_MAX_MS)
		*backoff_ms = ACCEPTOR_BACKOFF_MAX_MS;
}

static void *
acceptor_main(void *arg)
{
	struct acceptor *a = arg;
	unsigned backoff_ms = 0;
	FCGX_Request req;

	while (!atomic_load(&a->stop)) {
		struct pollfd ready = { .fd = a->listen_fd, .events = POLLIN };
		int rc;

		/*
		 * Wait in poll, not in accept: accept on the listening socket
		 * times out every ACCEPTOR_IDLE_TIMEOUT_S (SO_RCVTIMEO, which
		 * accepted sockets inherit so that silent peers are dropped),
		 * and a thousand one-stream processes (mod_fcgid) waking their
		 * threads every few seconds cost CPU for nothing. The wake
		 * signal interrupts poll as it interrupts accept.
		 */
		atomic_fetch_add(&a->waiting, 1);
		if (poll(&ready, 1, -1) < 0) {
			atomic_fetch_sub(&a->waiting, 1);
			continue;
		}
		(void)FCGX_InitRequest(&req, a->listen_fd,
		    FCGI_FAIL_ACCEPT_ON_INTR);
		rc = FCGX_Accept_r(&req);
		/* Nobody left to take the next one while this is served
		 * (which may take long: a probe's body, a slow database):
		 * one more thread waits from now on. */
		if (atomic_fetch_sub(&a->waiting, 1) == 1 && rc >= 0 &&
		    acceptor_grow(a) != 0)
			log_warnx("cannot start another acceptor thread");
		if (rc < 0) {
			FCGX_Free(&req, 0);
			acceptor_failed(a, -rc, &backoff_ms);
			continue;
		}
		backoff_ms = 0;
		/* An episode ends after a quiet spell, not at the first
		 * connection that squeezed in. */
		if (atomic_load(&a->failing) && acceptor_now_ms() -
		    atomic_load(&a->failed_at) >= ACCEPTOR_EPISODE_MS &&
		    atomic_exchange(&a->failing, 0))
			log_info("accepting connections again");
		acceptor_dispatch(a, &req);
		/*
		 * The connection now belongs to the stream (or is closed):
		 * free libfcgi's buffers and parameters without touching it.
		 */
		FCGX_Free(&req, 0);
	}
	return NULL;
}

/* Threads take no process signal (the main thread handles them) but the
 * wake signal, and the faults no mask can hold back. */
static void
acceptor_thread_mask(sigset_t *set)
{
	sigfillset(set);
	sigdelset(set, ACCEPTOR_WAKE_SIGNAL);
	sigdelset(set, SIGSEGV);
	sigdelset(set, SIGBUS);
	sigdelset(set, SIGFPE);
	sigdelset(set, SIGILL);
}

struct acceptor *
acceptor_start(int listen_fd, int first, const struct acceptor_ops *ops,
    void *ctx, char *err, size_t errlen)
{
	struct timeval idle = { ACCEPTOR_IDLE_TIMEOUT_S, 0 };
	struct acceptor *a = calloc(1, sizeof(*a));
	struct sigaction sa;
	sigset_t mask;
	sigset_t old;
	int rc = 0;

	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->listen_fd = listen_fd;
	a->ops = ops;
	a->ctx = ctx;
	atomic_init(&a->stop, 0);
	atomic_init(&a->failing, 0);
	atomic_init(&a->failed_at, 0);
	atomic_init(&a->waiting, 0);
	pthread_mutex_init(&a->grow, NULL);
	/*
	 * accept() and the reads of libfcgi then give up after idle: on
	 * Linux accepted TCP sockets inherit the timeout, and libfcgi
	 * closes a connection whose read fails and accepts the next. Unix
	 * socket peers that send nothing libfcgi drops itself (2 s).
	 */
	if (setsockopt(listen_fd, SOL_SOCKET, SO_RCVTIMEO, &idle,
	    sizeof(idle)) == -1)
		log_warn("setsockopt SO_RCVTIMEO on the listening socket");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = acceptor_on_wake;	/* no SA_RESTART: EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(ACCEPTOR_WAKE_SIGNAL, &sa, NULL);
	acceptor_thread_mask(&mask);
	pthread_sigmask(SIG_SETMASK, &mask, &old);
	for (int i = 0; i < first && rc == 0; i++)
		rc = acceptor_grow(a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start an acceptor thread: %s",
		    strerror(rc));
		acceptor_stop(a);
		return NULL;
	}
	return a;
}

void
acceptor_stop(struct acceptor *a)
{
	int n;

	if (!a)
		return;
	atomic_store(&a->stop, 1);
	/* No thread starts after this: acceptor_grow sees stop. */
	pthread_mutex_lock(&a->grow);
	n = a->nthreads;
	pthread_mutex_unlock(&a->grow);
	for (int i = 0; i < n; i++) {
		/* Again and again: a signal that came just before the
		 * thread entered accept() would be lost. */
		for (;;) {
			struct timespec ts;

			pthread_kill(a->threads[i], ACCEPTOR_WAKE_SIGNAL);
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += ACCEPTOR_JOIN_POLL_MS * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			if (pthread_timedjoin_np(a->threads[i], NULL, &ts) ==
			    0)
				break;
		}
	}
	pthread_mutex_destroy(&a->grow);
	free(a);
}
