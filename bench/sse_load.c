/* SPDX-License-Identifier: BSD-2-Clause */
/* Benchmark client: holds many SSE streams with epoll, timestamps events. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * usage: sse_load HOST PORT PATH_PREFIX N [id|data [OPEN_OVER]]
 *   Opens N connections, GET PATH_PREFIX<i> (HTTP/1.0, so the body is not
 *   chunked), and records the arrival time of every event id per stream.
 *   With OPEN_OVER (seconds), the connections open evenly over that time,
 *   as users arrive, instead of at once; then their heartbeats do not
 *   fall due together.
 *   The event's number is its id: line (sse-outbox), or with "data" its
 *   data: line (nchan's ids are its own; the publisher sends the number
 *   as the message). Prints "READY <n>" once every stream has its retry:
 *   line (with "data": its response headers). Commands on
 *   stdin: "COUNT" prints "COUNT <events> <closed> <ready>" (ready: streams
 *   that have their retry: line, to tell a slow start from a stuck one),
 *   "DUMP <file>" writes
 *   "stream id t" lines (CLOCK_MONOTONIC seconds), "QUIT" exits.
 */

struct conn {
	int fd;
	int state;		/* 0 connecting, 1 headers, 2 body */
	int ready;
	char line[256];
	size_t len;
	long long pending_id;
};

struct rec {
	int stream;
	long long id;
	double t;
};

static struct rec *recs;
static size_t nrecs, caprecs;
static int by_data;		/* the number is in data:, not id: */

static double
now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
record(int stream, long long id, double t)
{
	if (nrecs == caprecs) {
		caprecs = caprecs ? caprecs * 2 : 65536;
		recs = realloc(recs, caprecs * sizeof(*recs));
		if (!recs) {
			perror("realloc");
			exit(1);
		}
	}
	recs[nrecs].stream = stream;
	recs[nrecs].id = id;
	recs[nrecs].t = t;
	nrecs++;
}

static int
open_conn(const struct sockaddr_in *sa, const char *prefix, int i)
{
	char req[512];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int n;

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
		close(fd);
		return -1;
	}
	n = snprintf(req, sizeof(req), "GET %s%d HTTP/1.0\r\nHost: bench\r\n"
	    "Accept: text/event-stream\r\n\r\n", prefix, i);
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Feed body bytes; record each event at its terminating blank line. */
static void
feed(struct conn *c, int idx, const char *p, size_t n, double t, int *ready)
{
	for (size_t i = 0; i < n; i++) {
		char ch = p[i];

		if (ch == '\r')
			continue;
		if (ch != '\n') {
			if (c->len < sizeof(c->line) - 1)
				c->line[c->len++] = ch;
			continue;
		}
		c->line[c->len] = '\0';
		if (c->state == 1) {
			if (c->len == 0)
				c->state = 2;
			if (c->len == 0 && by_data && !c->ready) {
				c->ready = 1;
				(*ready)++;
			}
		} else if (c->len == 0) {
			if (c->pending_id >= 0)
				record(idx, c->pending_id, t);
			c->pending_id = -1;
		} else if (!by_data && strncmp(c->line, "id: ", 4) == 0) {
			c->pending_id = atoll(c->line + 4);
		} else if (by_data && strncmp(c->line, "data: ", 6) == 0) {
			c->pending_id = atoll(c->line + 6);
		} else if (strncmp(c->line, "retry:", 6) == 0 && !c->ready) {
			c->ready = 1;
			(*ready)++;
		}
		c->len = 0;
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa;
	struct conn *conns;
	struct epoll_event ev, evs[512];
	int ep, n, ready = 0, closed = 0, announced = 0;
	double open_over, t0 = now_mono();
	char buf[65536];

	if (argc < 5 || argc > 7) {
		fprintf(stderr, "usage: sse_load HOST PORT PATH_PREFIX N "
		    "[id|data [OPEN_OVER]]\n");
		return 2;
	}
	by_data = argc >= 6 && strcmp(argv[5], "data") == 0;
	n = atoi(argv[4]);
	open_over = argc == 7 ? atof(argv[6]) : 0;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((unsigned short)atoi(argv[2]));
	inet_pton(AF_INET, argv[1], &sa.sin_addr);
	conns = calloc((size_t)n, sizeof(*conns));
	/* Commands are read with fgets as epoll reports stdin readable; a
	 * buffered stdin would take several queued commands from the pipe
	 * at once, answer the first, and never be reported readable for the
	 * rest (queued while the streams open over OPEN_OVER). Unbuffered,
	 * each fgets takes one line and leaves the others in the pipe. */
	setvbuf(stdin, NULL, _IONBF, 0);
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.u32 = 0xffffffffu;
	epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
	for (int i = 0; i < n; i++) {
		/* What arrives meanwhile waits in the socket buffers: the
		 * retry: line and heartbeats, nothing timed. */
		double wait = t0 + open_over * i / n - now_mono();

		if (wait > 0)
			usleep((useconds_t)(wait * 1e6));
		conns[i].fd = open_conn(&sa, argv[3], i);
		conns[i].state = 1;
		conns[i].pending_id = -1;
		if (conns[i].fd < 0) {
			fprintf(stderr, "connect %d: %s\n", i, strerror(errno));
			return 1;
		}
		ev.events = EPOLLIN;
		ev.data.u32 = (unsigned)i;
		epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev);
		if (i % 100 == 99)
			usleep(2000);	/* stay below the listen backlog */
	}
	for (;;) {
		int k = epoll_wait(ep, evs, 512, 1000);
		double t = now_mono();

		for (int j = 0; j < k; j++) {
			unsigned idx = evs[j].data.u32;

			if (idx == 0xffffffffu) {
				char cmd[512];

				if (!fgets(cmd, sizeof(cmd), stdin) ||
				    strncmp(cmd, "QUIT", 4) == 0)
					return 0;
				if (strncmp(cmd, "COUNT", 5) == 0) {
					printf("COUNT %zu %d %d\n", nrecs,
					    closed, ready);
					fflush(stdout);
				} else if (strncmp(cmd, "DUMP ", 5) == 0) {
					FILE *f;

					cmd[strcspn(cmd, "\n")] = '\0';
					f = fopen(cmd + 5, "w");
					for (size_t r = 0; f && r < nrecs; r++)
						fprintf(f, "%d %lld %.6f\n",
						    recs[r].stream, recs[r].id,
						    recs[r].t);
					if (f)
						fclose(f);
					printf("DUMPED %zu\n", nrecs);
					fflush(stdout);
				}
				continue;
			}
			for (;;) {
				ssize_t r = read(conns[idx].fd, buf,
				    sizeof(buf));

				if (r > 0) {
					feed(&conns[idx], (int)idx, buf,
					    (size_t)r, t, &ready);
					continue;
				}
				if (r == 0 || (errno != EAGAIN &&
				    errno != EINTR)) {
					epoll_ctl(ep, EPOLL_CTL_DEL,
					    conns[idx].fd, NULL);
					close(conns[idx].fd);
					closed++;
				}
				break;
			}
		}
		if (!announced && ready == n) {
			announced = 1;
			printf("READY %d\n", ready);
			fflush(stdout);
		}
	}
}
