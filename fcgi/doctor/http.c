/* SPDX-License-Identifier: BSD-2-Clause */
/* The doctor's HTTP client: one GET with a deadline, read as it arrives. */
#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "err.h"

#define DOCTOR_READ_SIZE 65536

int
doctor_base64_encode(const char *p, size_t n, char *out, size_t outlen)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *s = (const unsigned char *)p;
	size_t o = 0;

	if (outlen < 4 * ((n + 2) / 3) + 1)
		return -1;
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)s[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)s[i + 1] << 8;
		if (i + 2 < n)
			v |= s[i + 2];
		out[o++] = tab[(v >> 18) & 63];
		out[o++] = tab[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = '\0';
	return 0;
}

double
doctor_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Milliseconds left until deadline, for poll(); 0 once past it. */
static int
doctor_left_ms(double deadline)
{
	double left = deadline - doctor_now();

	return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

int
doctor_http_connect(const struct doctor_url *u, double deadline, char *err,
    size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int fd = -1;
	int rc;

	hints.ai_family = AF_UNSPEC;
	rc = getaddrinfo(u->host, u->port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve %.100s: %s", u->host,
		    gai_strerror(rc));
		return -1;
	}
	snprintf(err, errlen, "cannot connect to %.100s", u->authority);
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		struct pollfd pfd;
		int soerr = 0;
		socklen_t slen = sizeof(soerr);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1 &&
		    errno != EINPROGRESS) {
			soerr = errno;
		} else {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			rc = poll(&pfd, 1, doctor_left_ms(deadline));
			if (rc == 0)
				soerr = ETIMEDOUT;
			else if (rc == -1 || getsockopt(fd, SOL_SOCKET,
			    SO_ERROR, &soerr, &slen) == -1)
				soerr = errno;
		}
		if (soerr == 0)
			break;
		snprintf(err, errlen, "cannot connect to %.100s: %s",
		    u->authority, strerror(soerr));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

int
doctor_http_send(int fd, const char *p, size_t n, double deadline, char *err,
    size_t errlen)
{
	while (n > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w == -1 && errno != EAGAIN && errno != EINTR) {
			snprintf(err, errlen, "sending the request: %s",
			    strerror(errno));
			return -1;
		}
		if (poll(&pfd, 1, doctor_left_ms(deadline)) == 0) {
			snprintf(err, errlen, "timed out sending the request");
			return -1;
		}
	}
	return 0;
}

/*
 * Read what is there within the deadline: bytes read, 0 at the end of
 * the connection, -1 with err set (-2 on timeout).
 */
static ssize_t
doctor_recv(int fd, char *p, size_t n, double deadline, char *err,
    size_t errlen)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r = recv(fd, p, n, 0);

		if (r >= 0)
			return r;
		if (errno != EAGAIN && errno != EINTR) {
			snprintf(err, errlen, "reading the response: %s",
			    strerror(errno));
			return -1;
		}
		if (poll(&pfd, 1, doctor_left_ms(deadline)) == 0)
			return -2;
	}
}

int
doctor_http_request(const struct doctor_url *u, const char *token,
    const char *basic, char *req, size_t size, char *err, size_t errlen)
{
	char auth[2 * DOCTOR_AUTH_MAX + 64];
	char b64[(DOCTOR_AUTH_MAX + 2) / 3 * 4 + 1];
	int len;

	auth[0] = '\0';
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n",
		    token);
	} else if (basic) {
		if (doctor_base64_encode(basic, strlen(basic), b64,
		    sizeof(b64)) == -1)
			return doctor_fail(err, errlen, "--basic: too long");
		snprintf(auth, sizeof(auth), "Authorization: Basic %s\r\n",
		    b64);
	}
	/* Accept-Encoding as a browser sends it, so compression shows. */
	len = snprintf(req, size,
	    "GET %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "Accept: text/event-stream\r\n"
	    "Accept-Encoding: gzip, deflate, br\r\n"
	    "Cache-Control: no-cache\r\n"
	    "User-Agent: sse-outbox-doctor\r\n"
	    "%s"
	    "Connection: close\r\n"
	    "\r\n", u->target, u->authority, auth);
	explicit_bzero(auth, sizeof(auth));
	explicit_bzero(b64, sizeof(b64));
	if (len < 0 || (size_t)len >= size)
		return doctor_fail(err, errlen, "request too long");
	return 0;
}


int
doctor_http_exchange(int fd, double deadline, struct doctor_head *h,
    struct doctor_body *b, double *head_at, char *err, size_t errlen)
{
	static char buf[DOCTOR_READ_SIZE];
	size_t have = 0;
	char *eoh = NULL;
	size_t hlen = 0;
	ssize_t r;

	while (!eoh) {
		r = doctor_recv(fd, buf + have, DOCTOR_HEAD_MAX - have,
		    deadline, err, errlen);
		if (r == -2)
			return doctor_fail(err, errlen, "timed out waiting for "
			    "the response head (a server that holds even "
			    "the head of a stream buffers it: see README, "
			    "doctor)");
		if (r == -1)
			return -1;
		if (r == 0)
			return doctor_fail(err, errlen, "the server closed the "
			    "connection without an answer");
		have += (size_t)r;
		for (size_t i = 0; i + 1 < have && !eoh; i++) {
			if (buf[i] == '\n' && buf[i + 1] == '\n') {
				eoh = buf + i;
				hlen = i + 2;
			} else if (buf[i] == '\n' && i + 2 < have &&
			    buf[i + 1] == '\r' && buf[i + 2] == '\n') {
				eoh = buf + i;
				hlen = i + 3;
			}
		}
		if (!eoh && have >= DOCTOR_HEAD_MAX)
			return doctor_fail(err, errlen, "response head too "
			    "large");
	}
	*head_at = doctor_now();
	if (doctor_head_parse(buf, (size_t)(eoh - buf), h, err, errlen) == -1)
		return -1;
	if (h->status != 200)
		return 1;
	doctor_body_init(b, h);
	if (doctor_body_feed(b, buf + hlen, have - hlen, *head_at, err,
	    errlen) == -1)
		return -1;
	while (!b->complete) {
		r = doctor_recv(fd, buf, sizeof(buf), deadline, err, errlen);
		if (r == -2) {
			snprintf(err, errlen, "timed out: the probe stream had "
			    "not ended after %d of %d events (an sse-outbox "
			    "without ?probe=1, or another kind of stream)",
			    b->nprobes, DOCTOR_PROBES);
			return -1;
		}
		if (r == -1)
			return -1;
		if (r == 0) {
			doctor_body_eof(b);
			break;
		}
		if (doctor_body_feed(b, buf, (size_t)r, doctor_now(), err,
		    errlen) == -1)
			return -1;
	}
	return 0;
}
