/* SPDX-License-Identifier: BSD-2-Clause */
/* How response bytes travel: FastCGI STDOUT records, or raw CGI stdout. */
#include "transport.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* FastCGI 1.0 specification, section 8: record types and header layout. */
#define FCGI_VERSION_1 1
#define FCGI_END_REQUEST 3
#define FCGI_STDOUT 6
#define FCGI_REQUEST_COMPLETE 0
#define FCGI_MAX_CONTENT 65535

/*
 * typedef struct {
 *     unsigned char version;
 *     unsigned char type;
 *     unsigned char requestIdB1, requestIdB0;
 *     unsigned char contentLengthB1, contentLengthB0;
 *     unsigned char paddingLength;
 *     unsigned char reserved;
 * } FCGI_Header;
 */
static int
transport_record_header(struct buf *wire, int type, int request_id,
    size_t len)
{
	unsigned char h[8];

	h[0] = FCGI_VERSION_1;
	h[1] = (unsigned char)type;
	h[2] = (unsigned char)((request_id >> 8) & 0xff);
	h[3] = (unsigned char)(request_id & 0xff);
	h[4] = (unsigned char)((len >> 8) & 0xff);
	h[5] = (unsigned char)(len & 0xff);
	h[6] = 0;
	h[7] = 0;
	return buf_append(wire, h, sizeof(h));
}

int
transport_frame(const struct transport *t, struct buf *wire,
    const char *p, size_t n)
{
	if (!t->fastcgi)
		return buf_append(wire, p, n);
	while (n > 0) {
		size_t chunk = n > FCGI_MAX_CONTENT ? FCGI_MAX_CONTENT : n;

		(void)transport_record_header(wire, FCGI_STDOUT,
		    t->request_id, chunk);
		(void)buf_append(wire, p, chunk);
		p += chunk;
		n -= chunk;
	}
	return wire->failed ? -1 : 0;
}

int
transport_frame_end(const struct transport *t, struct buf *wire)
{
	/* FCGI_EndRequestBody: appStatus (4 bytes), protocolStatus, 3 x 0 */
	static const unsigned char body[8] = {
		0, 0, 0, 0, FCGI_REQUEST_COMPLETE, 0, 0, 0
	};

	if (!t->fastcgi)
		return wire->failed ? -1 : 0;
	(void)transport_record_header(wire, FCGI_STDOUT, t->request_id, 0);
	(void)transport_record_header(wire, FCGI_END_REQUEST, t->request_id,
	    sizeof(body));
	return buf_append(wire, body, sizeof(body));
}

int
transport_write_all(int fd, const struct buf *wire, int timeout_ms)
{
	size_t off = 0;

	while (off < wire->len) {
		ssize_t n = write(fd, wire->data + off, wire->len - off);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			int r = poll(&pfd, 1, timeout_ms);

			if (r == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			if (r < 0 && errno != EINTR)
				return -1;
			continue;
		}
		return -1;
	}
	return 0;
}

void
transport_close(const struct transport *t)
{
	char sink[512];
	int budget = 64;

	if (t->fd < 0)
		return;
	if (t->fastcgi)
		while (budget-- > 0 &&
		    recv(t->fd, sink, sizeof(sink), MSG_DONTWAIT) > 0)
			;
	close(t->fd);
}
