/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests for the doctor's pure parts (fcgi/doctor/): URLs, Base64,
 * the response head, the body reader (chunked, Content-Length, to the
 * end; event timing), the verdict, the advice for each server, and the
 * escaping of what a server sent before it is printed.
 */
#include "doctor/body.h"
#include "doctor/err.h"
#include "doctor/head.h"
#include "doctor/http.h"
#include "doctor/report.h"
#include "doctor/url.h"
#include "doctor/verdict.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

/* ---- URLs ---- */

struct url_case {
	const char *url;
	int rc;
	const char *host;	/* on success */
	const char *port;
	const char *authority;
	const char *target;
	const char *err;	/* on failure: part of the message */
};

static const struct url_case url_cases[] = {
	{ "http://127.0.0.1/events", 0, "127.0.0.1", "80", "127.0.0.1",
	    "/events", NULL },
	{ "http://localhost:8080/events?x=1", 0, "localhost", "8080",
	    "localhost:8080", "/events?x=1", NULL },
	{ "HTTP://Example.org", 0, "Example.org", "80", "Example.org", "/",
	    NULL },
	{ "http://h:81?a=b", 0, "h", "81", "h:81", "/?a=b", NULL },
	{ "http://[::1]:9000/sse#frag", 0, "::1", "9000", "[::1]:9000",
	    "/sse", NULL },
	{ "http://[::1]/", 0, "::1", "80", "[::1]", "/", NULL },
	{ "http://h:65535/", 0, "h", "65535", "h:65535", "/", NULL },
	{ "https://example.org/events", -1, NULL, NULL, NULL, NULL,
	    "run the doctor on the server" },
	{ "ftp://example.org/", -1, NULL, NULL, NULL, NULL,
	    "not an http:// URL" },
	{ "example.org/events", -1, NULL, NULL, NULL, NULL,
	    "not an http:// URL" },
	{ "http:///events", -1, NULL, NULL, NULL, NULL, "no host" },
	{ "http://h:0/", -1, NULL, NULL, NULL, NULL, "bad port" },
	{ "http://h:65536/", -1, NULL, NULL, NULL, NULL, "bad port" },
	{ "http://h:80x/", -1, NULL, NULL, NULL, NULL, "bad port" },
	{ "http://h:/", -1, NULL, NULL, NULL, NULL, "bad port" },
	{ "http://[::1/", -1, NULL, NULL, NULL, NULL, "IPv6" },
	{ "http://[::1]x/", -1, NULL, NULL, NULL, NULL, "bad host" },
	{ "http://alice:pw@h/", -1, NULL, NULL, NULL, NULL, "--basic" },
	{ "http://h/a b", -1, NULL, NULL, NULL, NULL, "percent-encode" },
	{ "http://h/a\nb", -1, NULL, NULL, NULL, NULL, "percent-encode" },
	{ NULL, 0, NULL, NULL, NULL, NULL, NULL }
};

static void
test_url_parse(void **state)
{
	(void)state;
	for (const struct url_case *c = url_cases; c->url; c++) {
		struct doctor_url u;
		char err[DOCTOR_ERR_LEN] = "";
		int rc = doctor_url_parse(c->url, &u, err, sizeof(err));

		if (rc != c->rc)
			fail_msg("%s: rc %d, want %d (%s)", c->url, rc, c->rc,
			    err);
		if (rc == 0) {
			assert_string_equal(u.host, c->host);
			assert_string_equal(u.port, c->port);
			assert_string_equal(u.authority, c->authority);
			assert_string_equal(u.target, c->target);
		} else if (!strstr(err, c->err)) {
			fail_msg("%s: error '%s' lacks '%s'", c->url, err,
			    c->err);
		}
	}
}

struct param_case {
	const char *target;
	const char *name;
	const char *value;
	const char *want;
};

static const struct param_case param_cases[] = {
	{ "/events", "probe", "1", "/events?probe=1" },
	{ "/events?a=b", "probe", "1", "/events?a=b&probe=1" },
	{ "/events?", "probe", "1", "/events?probe=1" },
	{ "/events?a=b&", "probe", "1", "/events?a=b&probe=1" },
	{ "/", "user", "al ice&x=1/é", "/?user=al%20ice%26x%3D1%2F%C3%A9" },
	{ "/", "user", "A-z_0.9~", "/?user=A-z_0.9~" },
	{ NULL, NULL, NULL, NULL }
};

static void
test_url_add_param(void **state)
{
	(void)state;
	for (const struct param_case *c = param_cases; c->target; c++) {
		struct doctor_url u;
		char err[DOCTOR_ERR_LEN];

		memset(&u, 0, sizeof(u));
		snprintf(u.target, sizeof(u.target), "%s", c->target);
		assert_int_equal(doctor_url_add_param(&u, c->name, c->value,
		    err, sizeof(err)), 0);
		assert_string_equal(u.target, c->want);
	}
}

/* A parameter that does not fit leaves the target as it was. */
static void
test_url_add_param_full(void **state)
{
	struct doctor_url u;
	char err[DOCTOR_ERR_LEN];
	static char big[sizeof(u.target)];

	(void)state;
	memset(&u, 0, sizeof(u));
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(u.target, "/events", 8);
	assert_int_equal(doctor_url_add_param(&u, "user", big, err,
	    sizeof(err)), -1);
	assert_string_equal(u.target, "/events");
	assert_non_null(strstr(err, "too long"));
}

struct b64_case {
	const char *in;
	const char *out;
};

/* RFC 4648, section 10, and a credential. */
static const struct b64_case b64_cases[] = {
	{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
	{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
	{ "foobar", "Zm9vYmFy" },
	{ "alice:alice-pw", "YWxpY2U6YWxpY2UtcHc=" },
	{ NULL, NULL }
};

static void
test_base64(void **state)
{
	char out[64];

	(void)state;
	for (const struct b64_case *c = b64_cases; c->in; c++) {
		assert_int_equal(doctor_base64_encode(c->in, strlen(c->in), out,
		    sizeof(out)), 0);
		assert_string_equal(out, c->out);
	}
	/* "foo" needs 4 characters and the NUL. */
	assert_int_equal(doctor_base64_encode("foo", 3, out, 4), -1);
	assert_int_equal(doctor_base64_encode("foo", 3, out, 5), 0);
}

/* ---- the response head ---- */

static void
test_head_parse(void **state)
{
	static const char head[] =
	    "HTTP/1.1 200 OK\r\n"
	    "date: Wed, 25 Nov 2026 16:03:18 GMT\r\n"
	    "SERVER:   Apache/2.4.71 (Debian) mod_fcgid/2.3.9  \r\n"
	    "Content-Type: text/event-stream; charset=utf-8\r\n"
	    "Transfer-Encoding: chunked\r\n"
	    "X-Accel-Buffering: no\r\n"
	    "Upgrade: h2,h2c\r\n"
	    "not a header line\r\n"
	    "Content-Encoding: gzip";
	struct doctor_head h;
	char err[DOCTOR_ERR_LEN];

	(void)state;
	assert_int_equal(doctor_head_parse(head, strlen(head), &h, err,
	    sizeof(err)), 0);
	assert_int_equal(h.status, 200);
	assert_int_equal(h.minor, 1);
	assert_string_equal(h.server, "Apache/2.4.71 (Debian) mod_fcgid/2.3.9");
	assert_string_equal(h.content_type,
	    "text/event-stream; charset=utf-8");
	assert_string_equal(h.transfer_encoding, "chunked");
	assert_string_equal(h.x_accel_buffering, "no");
	assert_string_equal(h.upgrade, "h2,h2c");
	assert_string_equal(h.content_encoding, "gzip");
	assert_int_equal(h.content_length, -1);
}

struct head_case {
	const char *head;
	int rc;
	int status;
	long long content_length;
	const char *www_authenticate;
};

static const struct head_case head_cases[] = {
	{ "HTTP/1.0 401 Unauthorized\nWWW-Authenticate: Basic realm=\"ev\"\n"
	    "Content-Length: 12", 0, 401, 12, "Basic realm=\"ev\"" },
	{ "HTTP/1.1 200\r\nContent-Length: 0", 0, 200, 0, "" },
	{ "HTTP/1.1 404 Not Found", 0, 404, -1, "" },
	{ "HTTP/1.1 200 OK\r\nContent-Length: x1", -1, 0, 0, NULL },
	{ "HTTP/1.1 200 OK\r\nContent-Length: -1", -1, 0, 0, NULL },
	{ "HTTP/1.1 200 OK\r\nContent-Length: ", -1, 0, 0, NULL },
	{ "HTTP/2 200", -1, 0, 0, NULL },
	{ "HTTP/1.1 20", -1, 0, 0, NULL },
	{ "HTTP/1.1 2000 OK", -1, 0, 0, NULL },
	{ "SSH-2.0-OpenSSH_9.2", -1, 0, 0, NULL },
	{ "", -1, 0, 0, NULL },
	{ NULL, 0, 0, 0, NULL }
};

static void
test_head_cases(void **state)
{
	(void)state;
	for (const struct head_case *c = head_cases; c->head; c++) {
		struct doctor_head h;
		char err[DOCTOR_ERR_LEN] = "";
		int rc = doctor_head_parse(c->head, strlen(c->head), &h, err,
		    sizeof(err));

		if (rc != c->rc)
			fail_msg("'%s': rc %d (%s)", c->head, rc, err);
		if (rc == 0) {
			assert_int_equal(h.status, c->status);
			assert_int_equal(h.content_length, c->content_length);
			assert_string_equal(h.www_authenticate,
			    c->www_authenticate);
		} else {
			assert_true(err[0] != '\0');
		}
	}
}

/* A value longer than its field is cut, not overflowed. */
static void
test_head_long_value(void **state)
{
	char head[1024];
	struct doctor_head h;
	char err[DOCTOR_ERR_LEN];
	int n;

	(void)state;
	n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nServer: %0500d",
	    7);
	assert_int_equal(doctor_head_parse(head, (size_t)n, &h, err,
	    sizeof(err)), 0);
	assert_int_equal(strlen(h.server), sizeof(h.server) - 1);
}

/* ---- the body ---- */

static void
head_of(struct doctor_head *h, const char *te, long long length,
    const char *encoding)
{
	memset(h, 0, sizeof(*h));
	h->status = 200;
	h->content_length = length;
	snprintf(h->transfer_encoding, sizeof(h->transfer_encoding), "%s",
	    te);
	snprintf(h->content_encoding, sizeof(h->content_encoding), "%s",
	    encoding);
}

static void
feed(struct doctor_body *b, const char *p, double now)
{
	char err[DOCTOR_ERR_LEN] = "";

	if (doctor_body_feed(b, p, strlen(p), now, err, sizeof(err)) != 0)
		fail_msg("feed '%s': %s", p, err);
}

/* Chunked, cut at every awkward place; events timed as they complete. */
static void
test_body_chunked(void **state)
{
	struct doctor_head h;
	struct doctor_body b;

	(void)state;
	head_of(&h, "chunked", -1, "");
	doctor_body_init(&b, &h);
	feed(&b, "d\r\nretry: 1500\n\n\r\n", 0.0);
	feed(&b, "34\r\nevent: probe\ndata: {\"n\":1,\"of\":5,"
	    "\"spacing_ms\":300}\n\n\r\n", 0.01);
	/* Split inside the size line, the data and the CR LF. */
	feed(&b, "3", 0.3);
	feed(&b, "7;ext=1\r\nevent: pro", 0.31);
	feed(&b, "be\r\ndata: {\"n\":2,\"of\":5,\"spacing_ms\":300}\r", 0.32);
	assert_int_equal(b.nprobes, 1);
	/* The LF after a CR ends nothing; the next CR ends the event. */
	feed(&b, "\n\r", 0.6);
	assert_int_equal(b.nprobes, 2);
	feed(&b, "\n\r\n", 0.61);
	assert_int_equal(b.nprobes, 2);
	/* A comment, an event of another type, a probe with CR ends. */
	feed(&b, "2e\r\n:\n\nevent: other\ndata: x\n\nevent: probe\rdata:3\r\r"
	    "\r\n", 0.9);
	assert_int_equal(b.nprobes, 3);
	assert_int_equal(b.nother, 1);
	assert_false(b.complete);
	feed(&b, "0\r\n", 1.2);
	assert_false(b.complete);
	feed(&b, "Trailer: x\r\n\r\n", 1.21);
	assert_true(b.complete);
	assert_int_equal(b.nchunks, 4);
	assert_true(b.probe_at[0] == 0.01);
	assert_true(b.probe_at[1] == 0.6);
	assert_true(b.probe_at[2] == 0.9);
	assert_true(b.first_at == 0.0);
	assert_true(b.last_at == 0.9);
	/* After the end nothing counts. */
	feed(&b, "5\r\nevent: probe\ndata: x\n\n\r\n", 2.0);
	assert_int_equal(b.nprobes, 3);
}

struct bad_chunk_case {
	const char *body;
};

static const struct bad_chunk_case bad_chunks[] = {
	{ "zz\r\n" }, { "\r\n" }, { "5\r\nabcdeX" },
	{ "123456789012345678901234567890123\r\n" }, { "-5\r\n" },
	{ NULL }
};

static void
test_body_bad_chunks(void **state)
{
	(void)state;
	for (const struct bad_chunk_case *c = bad_chunks; c->body; c++) {
		struct doctor_head h;
		struct doctor_body b;
		char err[DOCTOR_ERR_LEN] = "";

		head_of(&h, "chunked", -1, "");
		doctor_body_init(&b, &h);
		if (doctor_body_feed(&b, c->body, strlen(c->body), 0, err,
		    sizeof(err)) != -1)
			fail_msg("'%s' accepted", c->body);
		assert_non_null(strstr(err, "chunked"));
	}
}

/* Content-Length: complete at the length; the 2 KB CGI padding line. */
static void
test_body_length(void **state)
{
	static char body[4096];
	struct doctor_head h;
	struct doctor_body b;
	int n;

	(void)state;
	n = snprintf(body, sizeof(body), ":%02048d\nretry: 3000\n\n"
	    "event: probe\ndata: 1\n\nevent: probe\ndata: 2\n\n", 0);
	head_of(&h, "", n, "");
	doctor_body_init(&b, &h);
	feed(&b, body, 1.2);
	assert_true(b.complete);
	assert_int_equal(b.nprobes, 2);
	assert_int_equal(b.nreads, 1);
	assert_int_equal(b.bytes, n);
}

/* Neither: the body ends with the connection. */
static void
test_body_to_eof(void **state)
{
	struct doctor_head h;
	struct doctor_body b;

	(void)state;
	head_of(&h, "", -1, "");
	doctor_body_init(&b, &h);
	feed(&b, "event: probe\ndata: 1\n\n", 0.1);
	assert_false(b.complete);
	doctor_body_eof(&b);
	assert_true(b.complete);
	assert_int_equal(b.nprobes, 1);
}

/* Compressed: bytes are timed, nothing is parsed as events. */
static void
test_body_compressed(void **state)
{
	struct doctor_head h;
	struct doctor_body b;

	(void)state;
	head_of(&h, "chunked", -1, "gzip");
	doctor_body_init(&b, &h);
	assert_false(b.parse_events);
	feed(&b, "4\r\n\x1f\x8b\x08\x01\r\n", 0.0);
	feed(&b, "16\r\nevent: probe\ndata: 1\n\n\r\n", 0.6);
	assert_int_equal(b.nprobes, 0);
	assert_int_equal(b.nreads, 2);
	assert_true(b.last_at == 0.6);
}

/* ---- verdict and advice ---- */

struct judge_case {
	const char *label;
	const char *server;
	const char *te;		/* Transfer-Encoding */
	long long length;	/* Content-Length, -1 none */
	const char *encoding;	/* Content-Encoding */
	double head_at;		/* request sent at 0 */
	double at[DOCTOR_PROBES]; /* probe arrivals; -1: not received */
	int nchunks;		/* data chunks (chunked) */
	enum doctor_verdict verdict;
	unsigned reasons;
	const char *fix[3];	/* directives, in order; NULL ends */
};

#define ALL(t) { t, t, t, t, t }
#define SPREAD { 0.01, 0.31, 0.61, 0.91, 1.21 }

static const struct judge_case judge_cases[] = {
	{ "streaming Apache", "Apache/2.4.71 (Debian) mod_fcgid/2.3.9",
	    "chunked", -1, "", 0.01, SPREAD, 6, DOCTOR_STREAMING, 0,
	    { NULL } },
	{ "streaming, loaded machine", "nginx/1.22.1", "chunked", -1, "",
	    0.01, { 0.2, 0.4, 0.5, 0.7, 0.9 }, 6, DOCTOR_STREAMING, 0,
	    { NULL } },
	{ "mod_fcgid buffer: one chunk", "Apache/2.4.71 (Debian)",
	    "chunked", -1, "", 1.22, ALL(1.22), 1, DOCTOR_BUFFERED,
	    DOCTOR_R_BURST | DOCTOR_R_LATE_HEAD | DOCTOR_R_ONE_CHUNK,
	    { "FcgidOutputBufferSize 0", "AddHandler cgi-script .cgi",
	    NULL } },
	{ "mod_proxy_fcgi: many chunks at once",
	    "Apache/2.4.71 (Debian) mod_fcgid/2.3.9", "chunked", -1, "",
	    1.21, ALL(1.21), 6, DOCTOR_BUFFERED,
	    DOCTOR_R_BURST | DOCTOR_R_LATE_HEAD | DOCTOR_R_MANY_CHUNKS,
	    { "flushpackets=on", NULL } },
	{ "Apache, Content-Length: either", "Apache", "", 273, "", 1.2,
	    ALL(1.2), 0, DOCTOR_BUFFERED,
	    DOCTOR_R_BURST | DOCTOR_R_LENGTH | DOCTOR_R_LATE_HEAD,
	    { "FcgidOutputBufferSize 0", "AddHandler cgi-script .cgi",
	    "flushpackets=on" } },
	{ "Apache, head early, events held", "Apache", "chunked", -1, "",
	    0.01, ALL(1.21), 2, DOCTOR_BUFFERED,
	    DOCTOR_R_BURST | DOCTOR_R_MANY_CHUNKS,
	    { "flushpackets=on", NULL } },
	{ "lighttpd stream-response-body 0", "lighttpd/1.4.69", "", 273, "",
	    1.2, ALL(1.2), 0, DOCTOR_BUFFERED,
	    DOCTOR_R_BURST | DOCTOR_R_LENGTH | DOCTOR_R_LATE_HEAD,
	    { "server.stream-response-body = 2", NULL } },
	{ "spread but Content-Length", "lighttpd/1.4.69", "", 273, "", 0.0,
	    SPREAD, 0, DOCTOR_BUFFERED, DOCTOR_R_LENGTH,
	    { "server.stream-response-body = 2", NULL } },
	{ "nginx buffering", "nginx/1.22.1", "chunked", -1, "", 1.2,
	    ALL(1.2), 1, DOCTOR_BUFFERED,
	    DOCTOR_R_BURST | DOCTOR_R_LATE_HEAD | DOCTOR_R_ONE_CHUNK,
	    { "fastcgi_buffering off;", NULL } },
	{ "unknown server", "cloudflare", "chunked", -1, "", 1.2, ALL(1.2),
	    1, DOCTOR_BUFFERED,
	    DOCTOR_R_BURST | DOCTOR_R_LATE_HEAD | DOCTOR_R_ONE_CHUNK,
	    { "FcgidOutputBufferSize 0", "server.stream-response-body = 2",
	    "fastcgi_buffering off;" } },
	{ "too few events", "nginx", "chunked", -1, "", 0.0,
	    { 0.01, 0.31, -1, -1, -1 }, 3, DOCTOR_UNKNOWN, 0, { NULL } },
	{ NULL, NULL, NULL, 0, NULL, 0, { 0 }, 0, 0, 0, { NULL } }
};

static void
test_judge_and_advise(void **state)
{
	(void)state;
	for (const struct judge_case *c = judge_cases; c->label; c++) {
		const struct doctor_advice *adv[DOCTOR_MAX_ADVICE];
		struct doctor_head h;
		struct doctor_body b;
		struct doctor_finding f;
		size_t n;
		size_t want = 0;

		head_of(&h, c->te, c->length, c->encoding);
		snprintf(h.server, sizeof(h.server), "%s", c->server);
		doctor_body_init(&b, &h);
		b.nchunks = c->nchunks;
		for (int i = 0; i < DOCTOR_PROBES && c->at[i] >= 0; i++)
			b.probe_at[b.nprobes++] = c->at[i];
		b.bytes = 300;
		b.first_at = c->at[0];
		b.last_at = b.probe_at[b.nprobes - 1];
		b.complete = 1;
		doctor_judge(&h, &b, 0.0, c->head_at, &f);
		if (f.verdict != c->verdict || f.reasons != c->reasons)
			fail_msg("%s: verdict %d reasons %#x, want %d %#x",
			    c->label, f.verdict, f.reasons, c->verdict,
			    c->reasons);
		n = doctor_advise(&h, &f, adv, DOCTOR_MAX_ADVICE);
		while (want < 3 && c->fix[want])
			want++;
		if (c->fix[0] && strcmp(c->server, "cloudflare") == 0) {
			/* Unknown server: every usual cause, by server. */
			for (size_t i = 0; i < want; i++) {
				size_t j = 0;

				while (j < n && strcmp(adv[j]->directive,
				    c->fix[i]) != 0)
					j++;
				if (j == n)
					fail_msg("%s: no '%s'", c->label,
					    c->fix[i]);
			}
			continue;
		}
		if (n != want)
			fail_msg("%s: %zu fixes, want %zu", c->label, n, want);
		for (size_t i = 0; i < n; i++)
			assert_string_equal(adv[i]->directive, c->fix[i]);
	}
}

/* Compressed streams: the compressor is the fix, held or not. */
static void
test_compressed(void **state)
{
	static const struct {
		const char *server;
		const char *fix;
	} servers[] = {
		{ "Apache/2.4.71", "SetEnv no-gzip 1" },
		{ "nginx", "gzip off;" },
		{ "lighttpd/1.4.69",
		    "deflate.mimetypes without \"text/event-stream\"" },
		{ NULL, NULL }
	};

	(void)state;
	for (size_t i = 0; servers[i].server; i++) {
		const struct doctor_advice *adv[DOCTOR_MAX_ADVICE];
		struct doctor_head h;
		struct doctor_body b;
		struct doctor_finding f;

		head_of(&h, "chunked", -1, "gzip");
		snprintf(h.server, sizeof(h.server), "%s",
		    servers[i].server);
		doctor_body_init(&b, &h);
		feed(&b, "2\r\nab\r\n", 0.01);
		feed(&b, "2\r\ncd\r\n", 1.2);
		doctor_judge(&h, &b, 0.0, 0.01, &f);
		assert_int_equal(f.verdict, DOCTOR_COMPRESSED);
		assert_int_equal(f.reasons, DOCTOR_R_ENCODED);
		assert_int_equal(doctor_advise(&h, &f, adv, DOCTOR_MAX_ADVICE),
		    1);
		assert_string_equal(adv[0]->directive, servers[i].fix);
		/* All at once, with a length: buffered, same fix. */
		h.transfer_encoding[0] = '\0';
		h.content_length = 4;
		doctor_body_init(&b, &h);
		feed(&b, "abcd", 1.2);
		doctor_judge(&h, &b, 0.0, 1.2, &f);
		assert_int_equal(f.verdict, DOCTOR_BUFFERED);
		assert_int_equal(f.reasons, DOCTOR_R_ENCODED |
		    DOCTOR_R_LENGTH | DOCTOR_R_BURST | DOCTOR_R_LATE_HEAD);
		assert_int_equal(doctor_advise(&h, &f, adv, DOCTOR_MAX_ADVICE),
		    1);
		assert_string_equal(adv[0]->directive, servers[i].fix);
	}
}

struct server_case {
	const char *header;
	enum doctor_server want;
};

static const struct server_case server_cases[] = {
	{ "Apache", DOCTOR_SRV_APACHE },
	{ "Apache/2.4.71 (Debian) mod_fcgid/2.3.9", DOCTOR_SRV_APACHE },
	{ " apache", DOCTOR_SRV_APACHE },
	{ "lighttpd/1.4.69", DOCTOR_SRV_LIGHTTPD },
	{ "nginx/1.22.1", DOCTOR_SRV_NGINX },
	{ "nginx", DOCTOR_SRV_NGINX },
	{ "openresty/1.21", DOCTOR_SRV_NGINX },
	{ "", DOCTOR_SRV_UNKNOWN },
	{ "cloudflare", DOCTOR_SRV_UNKNOWN },
	{ "Microsoft-IIS/10.0", DOCTOR_SRV_UNKNOWN },
	{ NULL, DOCTOR_SRV_UNKNOWN }
};

static void
test_server_of(void **state)
{
	(void)state;
	for (const struct server_case *c = server_cases; c->header; c++)
		if (doctor_server_of(c->header) != c->want)
			fail_msg("'%s'", c->header);
}

/* Nothing to fix on a streaming path; max bounds the list. */
static void
test_advise_bounds(void **state)
{
	const struct doctor_advice *adv[DOCTOR_MAX_ADVICE];
	struct doctor_head h;
	struct doctor_finding f;

	(void)state;
	head_of(&h, "chunked", -1, "");
	memset(&f, 0, sizeof(f));
	f.verdict = DOCTOR_STREAMING;
	assert_int_equal(doctor_advise(&h, &f, adv, DOCTOR_MAX_ADVICE), 0);
	f.verdict = DOCTOR_BUFFERED;
	f.reasons = DOCTOR_R_BURST;
	assert_int_equal(doctor_advise(&h, &f, adv, 2), 2);
	assert_true(doctor_advise(&h, &f, adv, DOCTOR_MAX_ADVICE) > 2);
}

/* ---- escaping what the server sent ---- */

struct escape_case {
	const char *in;
	size_t size;		/* of the output buffer */
	const char *out;
};

static const struct escape_case escape_cases[] = {
	{ "", 64, "-" },
	{ "Apache/2.4.62 (Debian)", 64, "Apache/2.4.62 (Debian)" },
	{ "a\x1b[2Jb", 64, "a\\x1b[2Jb" },
	{ "\x1b]0;pwned\x07", 64, "\\x1b]0;pwned\\x07" },
	{ "a\\b", 64, "a\\\\b" },
	{ "x\r\nfix: rm -rf /", 64, "x\\x0d\\x0afix: rm -rf /" },
	{ "tab\there", 64, "tab\\x09here" },
	{ "\x7f\x80\x9b\xff", 64, "\\x7f\\x80\\x9b\\xff" },
	{ "abcdefg", 8, "abcdefg" },
	{ "abcdefghij", 8, "abcd..." },
	{ "ab\x1b" "cdef", 8, "ab..." },
	{ "ab\x1b", 8, "ab\\x1b" },
	{ NULL, 0, NULL },
};

static void
test_escape(void **state)
{
	char out[64];

	(void)state;
	for (const struct escape_case *c = escape_cases; c->in; c++) {
		print_message("'%s'\n", c->out);
		assert_ptr_equal(doctor_escape(c->in, out, c->size), out);
		assert_string_equal(out, c->out);
		assert_true(strlen(out) < c->size);
	}
}

/* Every byte a header field can hold comes out printable, whole. */
static void
test_escape_every_byte(void **state)
{
	struct doctor_head h;
	char out[DOCTOR_ESC_MAX];
	size_t n = 0;

	(void)state;
	/* 159 bytes: the most a field keeps, all needing an escape. */
	assert_true(sizeof(h.server) == 160);
	for (int c = 1; c < 256 && n < sizeof(h.server) - 1; c++)
		if (c < 0x20 || c >= 0x7f)
			h.server[n++] = (char)c;
	for (int c = 0x80; n < sizeof(h.server) - 1; c++)
		h.server[n++] = (char)c;
	h.server[n] = '\0';
	doctor_escape(h.server, out, sizeof(out));
	assert_int_equal(strlen(out), 4 * n);
	assert_null(strstr(out, "..."));
	for (size_t i = 0; out[i]; i++)
		assert_true(out[i] >= 0x20 && out[i] < 0x7f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_parse),
		cmocka_unit_test(test_url_add_param),
		cmocka_unit_test(test_url_add_param_full),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_head_parse),
		cmocka_unit_test(test_head_cases),
		cmocka_unit_test(test_head_long_value),
		cmocka_unit_test(test_body_chunked),
		cmocka_unit_test(test_body_bad_chunks),
		cmocka_unit_test(test_body_length),
		cmocka_unit_test(test_body_to_eof),
		cmocka_unit_test(test_body_compressed),
		cmocka_unit_test(test_judge_and_advise),
		cmocka_unit_test(test_compressed),
		cmocka_unit_test(test_server_of),
		cmocka_unit_test(test_advise_bounds),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_escape_every_byte),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
