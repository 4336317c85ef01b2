/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for transport.c: FastCGI records, raw CGI, writing it all. */
#include "transport.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "buf.h"

/* FastCGI 1.0 specification, section 8. */
#define FCGI_HEADER_LEN 8
#define FCGI_VERSION_1 1
#define FCGI_END_REQUEST 3
#define FCGI_STDOUT 6
#define FCGI_MAX_CONTENT 65535

#define WIRE_CAP (16 * 1024 * 1024)

/* The byte at offset i of a test payload: no period of 256 or 65535. */
static char
pattern(size_t i)
{
	return (char)((i * 7 + i / 251) % 253);
}

static char *
make_payload(size_t n)
{
	char *p = malloc(n ? n : 1);

	assert_non_null(p);
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(i);
	return p;
}

/* One record header, decoded. */
struct record {
	int version;
	int type;
	int request_id;
	size_t content_len;
	int padding;
	int reserved;
	const unsigned char *content;
};

static size_t
read_record(const struct buf *wire, size_t off, struct record *r)
{
	const unsigned char *h = (const unsigned char *)wire->data + off;

	assert_true(wire->len - off >= FCGI_HEADER_LEN);
	r->version = h[0];
	r->type = h[1];
	r->request_id = h[2] << 8 | h[3];
	r->content_len = (size_t)(h[4] << 8 | h[5]);
	r->padding = h[6];
	r->reserved = h[7];
	r->content = h + FCGI_HEADER_LEN;
	assert_true(wire->len - off - FCGI_HEADER_LEN >=
	    r->content_len + (size_t)r->padding);
	return off + FCGI_HEADER_LEN + r->content_len + (size_t)r->padding;
}

/*
 * Walk wire as a sequence of non-empty STDOUT records for request_id and
 * check their content, joined, is payload. Returns the record count.
 */
static size_t
check_stdout_records(const struct buf *wire, int request_id,
    const char *payload, size_t n)
{
	size_t off = 0;
	size_t got = 0;
	size_t records = 0;

	while (off < wire->len) {
		struct record r;

		off = read_record(wire, off, &r);
		assert_int_equal(r.version, FCGI_VERSION_1);
		assert_int_equal(r.type, FCGI_STDOUT);
		assert_int_equal(r.request_id, request_id);
		assert_int_equal(r.padding, 0);
		assert_int_equal(r.reserved, 0);
		/* an empty STDOUT record would end the response early */
		assert_true(r.content_len > 0);
		assert_true(got + r.content_len <= n);
		assert_memory_equal(r.content, payload + got, r.content_len);
		got += r.content_len;
		records++;
	}
	assert_int_equal(off, wire->len);
	assert_int_equal(got, n);
	return records;
}

/* The exact bytes of one small record. */
static void
test_record_header(void **state)
{
	static const unsigned char want[] = {
		1, 6, 0x12, 0x34, 0, 5, 0, 0, 'h', 'e', 'l', 'l', 'o',
	};
	struct transport t = { -1, 0x1234, 1 };
	struct buf wire;

	(void)state;
	buf_init(&wire, WIRE_CAP);
	assert_int_equal(transport_frame(&t, &wire, "hello", 5), 0);
	assert_int_equal(wire.len, sizeof(want));
	assert_memory_equal(wire.data, want, sizeof(want));
	buf_free(&wire);
}

struct id_case {
	int request_id;
	unsigned char b1;
	unsigned char b0;
};

static const struct id_case id_cases[] = {
	{ 1, 0, 1 },
	{ 255, 0, 255 },
	{ 256, 1, 0 },
	{ 0x1234, 0x12, 0x34 },
	{ 65535, 255, 255 },
	{ 0, 0, 0 },
};

/* The request id is big-endian, in the header of every record. */
static void
test_request_ids(void **state)
{
	const struct id_case *c;

	(void)state;
	for (c = id_cases; c->request_id; c++) {
		struct transport t = { -1, c->request_id, 1 };
		struct buf wire;
		const unsigned char *h;

		buf_init(&wire, WIRE_CAP);
		assert_int_equal(transport_frame(&t, &wire, "x", 1), 0);
		assert_int_equal(transport_frame_end(&t, &wire), 0);
		assert_int_equal(wire.len, 9 + 8 + 16);
		for (size_t off = 0; off < wire.len; ) {
			struct record r;

			h = (const unsigned char *)wire.data + off;
			assert_int_equal(h[2], c->b1);
			assert_int_equal(h[3], c->b0);
			off = read_record(&wire, off, &r);
			assert_int_equal(r.request_id, c->request_id);
		}
		buf_free(&wire);
	}
}

struct size_case {
	size_t n;
	size_t records;		/* STDOUT records expected */
	unsigned char len_b1;	/* content length of the first record */
	unsigned char len_b0;
};

static const struct size_case size_cases[] = {
	{ 1, 1, 0, 1 },
	{ 255, 1, 0, 255 },
	{ 256, 1, 1, 0 },
	{ 4096, 1, 16, 0 },
	{ 65534, 1, 255, 254 },
	{ 65535, 1, 255, 255 },
	{ 65536, 2, 255, 255 },
	{ 131070, 2, 255, 255 },
	{ 131071, 3, 255, 255 },
	{ 200000, 4, 255, 255 },
	{ 1048576, 17, 255, 255 },
	{ 0, 0, 0, 0 },
};

/* Payloads over 65535 bytes are split into several records. */
static void
test_chunking(void **state)
{
	const struct size_case *c;

	(void)state;
	for (c = size_cases; c->n; c++) {
		struct transport t = { -1, 7, 1 };
		char *payload = make_payload(c->n);
		struct buf wire;

		print_message("%zu bytes\n", c->n);
		buf_init(&wire, WIRE_CAP);
		assert_int_equal(transport_frame(&t, &wire, payload, c->n), 0);
		assert_int_equal(wire.len, c->n + c->records * FCGI_HEADER_LEN);
		assert_int_equal((unsigned char)wire.data[4], c->len_b1);
		assert_int_equal((unsigned char)wire.data[5], c->len_b0);
		assert_int_equal(check_stdout_records(&wire, 7, payload, c->n),
		    c->records);
		buf_free(&wire);
		free(payload);
	}
}

/* Nothing to send is no record at all: an empty one ends the stream. */
static void
test_frame_empty(void **state)
{
	struct transport t = { -1, 1, 1 };
	struct buf wire;

	(void)state;
	buf_init(&wire, WIRE_CAP);
	assert_int_equal(transport_frame(&t, &wire, "", 0), 0);
	assert_int_equal(wire.len, 0);
	buf_free(&wire);
}

/* Several frames in a row make a valid record stream. */
static void
test_frame_sequence(void **state)
{
	struct transport t = { -1, 3, 1 };
	char *payload = make_payload(70000);
	struct buf wire;

	(void)state;
	buf_init(&wire, WIRE_CAP);
	assert_int_equal(transport_frame(&t, &wire, payload, 10), 0);
	assert_int_equal(transport_frame(&t, &wire, payload + 10, 65535), 0);
	assert_int_equal(transport_frame(&t, &wire, payload + 65545,
	    70000 - 65545), 0);
	assert_int_equal(check_stdout_records(&wire, 3, payload, 70000), 3);
	buf_free(&wire);
	free(payload);
}

/* The end: an empty STDOUT record, then END_REQUEST, complete, status 0. */
static void
test_frame_end(void **state)
{
	static const unsigned char want[] = {
		1, 6, 0x01, 0x02, 0, 0, 0, 0,
		1, 3, 0x01, 0x02, 0, 8, 0, 0,
		0, 0, 0, 0, 0, 0, 0, 0,
	};
	struct transport t = { -1, 0x0102, 1 };
	struct buf wire;

	(void)state;
	buf_init(&wire, WIRE_CAP);
	assert_int_equal(transport_frame(&t, &wire, "data: x\n\n", 9), 0);
	buf_consume(&wire, wire.len);
	assert_int_equal(transport_frame_end(&t, &wire), 0);
	assert_int_equal(wire.len, sizeof(want));
	assert_memory_equal(wire.data, want, sizeof(want));
	buf_free(&wire);
}

/* CGI: the bytes go out exactly as given, and the end adds nothing. */
static void
test_cgi_raw(void **state)
{
	static const size_t sizes[] = { 1, 9, 65535, 65536, 200000, 0 };
	struct transport t = { 1, 0, 0 };

	(void)state;
	for (const size_t *n = sizes; *n; n++) {
		char *payload = make_payload(*n);
		struct buf wire;

		buf_init(&wire, WIRE_CAP);
		assert_int_equal(transport_frame(&t, &wire, payload, *n), 0);
		assert_int_equal(transport_frame(&t, &wire, "", 0), 0);
		assert_int_equal(transport_frame_end(&t, &wire), 0);
		assert_int_equal(wire.len, *n);
		assert_memory_equal(wire.data, payload, *n);
		buf_free(&wire);
		free(payload);
	}
}

/* A wire buffer that is full fails, in both modes, and stays failed. */
static void
test_cap(void **state)
{
	static const int modes[] = { 1, 0, -1 };
	char *payload = make_payload(100);

	(void)state;
	for (const int *m = modes; *m != -1; m++) {
		struct transport t = { -1, 1, *m };
		struct buf wire;

		buf_init(&wire, 64);
		assert_int_equal(transport_frame(&t, &wire, payload, 100), -1);
		assert_int_equal(wire.failed, 1);
		assert_int_equal(transport_frame(&t, &wire, payload, 1), -1);
		assert_int_equal(transport_frame_end(&t, &wire), -1);
		buf_free(&wire);
	}

	/* END_REQUEST that does not fit */
	{
		struct transport t = { -1, 1, 1 };
		struct buf wire;

		buf_init(&wire, 23);
		assert_int_equal(transport_frame_end(&t, &wire), -1);
		assert_int_equal(wire.failed, 1);
		buf_free(&wire);
	}
	free(payload);
}

/* ---- transport_write_all over a socketpair ---- */

/* Read exactly n bytes of pattern() from fd, slowly at first. */
static int
child_read_pattern(int fd, size_t n)
{
	char chunk[4096];
	size_t got = 0;

	usleep(50 * 1000);	/* let the writer find the socket full */
	while (got < n) {
		ssize_t r = read(fd, chunk, sizeof(chunk));

		if (r <= 0)
			return 1;
		for (ssize_t i = 0; i < r; i++)
			if (chunk[i] != pattern(got + (size_t)i))
				return 2;
		got += (size_t)r;
	}
	return read(fd, chunk, 1) == 0 ? 0 : 3;
}

static void
set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	assert_true(flags != -1);
	assert_int_equal(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
}

/* Blocking or not, every byte arrives in order. */
static void
test_write_all(void **state)
{
	static const size_t sizes[] = { 1, 4096, 4 * 1024 * 1024, 0 };
	static const int nonblocking[] = { 0, 1, -1 };

	(void)state;
	for (const int *nb = nonblocking; *nb != -1; nb++) {
		for (const size_t *n = sizes; *n; n++) {
			char *payload = make_payload(*n);
			struct buf wire;
			int sv[2];
			int status;
			pid_t pid;

			buf_init(&wire, WIRE_CAP);
			assert_int_equal(buf_append(&wire, payload, *n), 0);
			assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0,
			    sv), 0);
			pid = fork();
			assert_true(pid != -1);
			if (pid == 0) {
				close(sv[0]);
				_exit(child_read_pattern(sv[1], *n));
			}
			close(sv[1]);
			if (*nb)
				set_nonblocking(sv[0]);
			assert_int_equal(transport_write_all(sv[0], &wire,
			    5000), 0);
			close(sv[0]);
			assert_int_equal(waitpid(pid, &status, 0), pid);
			assert_true(WIFEXITED(status));
			assert_int_equal(WEXITSTATUS(status), 0);
			buf_free(&wire);
			free(payload);
		}
	}
}

/* An empty buffer writes nothing and succeeds, even on a bad fd. */
static void
test_write_all_empty(void **state)
{
	struct buf wire;

	(void)state;
	buf_init(&wire, 64);
	assert_int_equal(transport_write_all(-1, &wire, 10), 0);
	buf_free(&wire);
}

/* A peer that never reads: the wait is bounded, then ETIMEDOUT. */
static void
test_write_all_timeout(void **state)
{
	const size_t n = 8 * 1024 * 1024;
	char *payload = make_payload(n);
	struct buf wire;
	int sv[2];

	(void)state;
	buf_init(&wire, WIRE_CAP);
	assert_int_equal(buf_append(&wire, payload, n), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	set_nonblocking(sv[0]);
	errno = 0;
	assert_int_equal(transport_write_all(sv[0], &wire, 50), -1);
	assert_int_equal(errno, ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
	buf_free(&wire);
	free(payload);
}

/* A peer that has gone: -1 with the write's errno. */
static void
test_write_all_peer_gone(void **state)
{
	struct sigaction ign;
	struct sigaction old;
	struct buf wire;
	int sv[2];

	(void)state;
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	assert_int_equal(sigaction(SIGPIPE, &ign, &old), 0);
	buf_init(&wire, 64);
	assert_int_equal(buf_append_str(&wire, "data: x\n\n"), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	errno = 0;
	assert_int_equal(transport_write_all(sv[0], &wire, 50), -1);
	assert_int_equal(errno, EPIPE);
	close(sv[0]);
	buf_free(&wire);
	assert_int_equal(sigaction(SIGPIPE, &old, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_record_header),
		cmocka_unit_test(test_request_ids),
		cmocka_unit_test(test_chunking),
		cmocka_unit_test(test_frame_empty),
		cmocka_unit_test(test_frame_sequence),
		cmocka_unit_test(test_frame_end),
		cmocka_unit_test(test_cgi_raw),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_write_all),
		cmocka_unit_test(test_write_all_empty),
		cmocka_unit_test(test_write_all_timeout),
		cmocka_unit_test(test_write_all_peer_gone),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
