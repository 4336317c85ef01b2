/* `sse-outbox doctor`: do events reach a browser as they are written? */
#include "doctor.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DOCTOR_USAGE "usage: sse-outbox doctor URL [--token TOKEN | " \
	"--user USER | --basic USER:PASSWORD]\n" \
	"                         [--timeout SECONDS]\n"
#define DOCTOR_TIMEOUT 10	/* default --timeout, seconds */
#define DOCTOR_TIMEOUT_MAX 300
#define DOCTOR_READ_SIZE 65536
#define DOCTOR_AUTH_MAX 1024	/* --token / --basic value, bytes */

/* Chunked-framing states of struct doctor_body. */
enum {
	DOCTOR_FRAME_CHUNKED,
	DOCTOR_FRAME_LENGTH,
	DOCTOR_FRAME_EOF
};

enum {
	DOCTOR_CHUNK_SIZE,	/* reading "hex[;ext]" CR LF */
	DOCTOR_CHUNK_DATA,	/* left bytes of data to come */
	DOCTOR_CHUNK_END,	/* the CR LF after the data */
	DOCTOR_CHUNK_TRAILER,	/* trailer lines up to an empty one */
	DOCTOR_CHUNK_DONE
};

/* ---- URLs ---- */

static int
doctor_fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}

/* Copy n bytes into a field of size size, with a NUL; -1 if too long. */
static int
doctor_copy(char *dst, size_t size, const char *src, size_t n)
{
	if (n >= size)
		return -1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

int
doctor_url_parse(const char *url, struct doctor_url *u, char *err,
    size_t errlen)
{
	const char *p;
	const char *host;
	const char *port = NULL;
	size_t alen;
	size_t hlen;
	size_t plen = 0;
	size_t tlen;
	long v;
	char *end;

	memset(u, 0, sizeof(*u));
	if (strncasecmp(url, "https://", 8) == 0)
		return doctor_fail(err, errlen, "https:// is not supported: "
		    "run the doctor on the server, against the local http:// "
		    "address (e.g. http://127.0.0.1/events), so it sees what "
		    "the web server does");
	if (strncasecmp(url, "http://", 7) != 0) {
		snprintf(err, errlen, "not an http:// URL: '%.100s'", url);
		return -1;
	}
	p = url + 7;
	alen = strcspn(p, "/?#");
	if (memchr(p, '@', alen))
		return doctor_fail(err, errlen, "credentials in the URL are "
		    "not used: give --basic USER:PASSWORD");
	host = p;
	if (*p == '[') {
		const char *close = memchr(p, ']', alen);

		if (!close)
			return doctor_fail(err, errlen, "bad IPv6 address in "
			    "the URL (no ']')");
		host = p + 1;
		hlen = (size_t)(close - host);
		if (close + 1 < p + alen) {
			if (close[1] != ':')
				return doctor_fail(err, errlen, "bad host in "
				    "the URL");
			port = close + 2;
		}
	} else {
		const char *colon = memchr(p, ':', alen);

		hlen = colon ? (size_t)(colon - p) : alen;
		if (colon)
			port = colon + 1;
	}
	if (hlen == 0)
		return doctor_fail(err, errlen, "no host in the URL");
	if (doctor_copy(u->host, sizeof(u->host), host, hlen) == -1)
		return doctor_fail(err, errlen, "host name too long");
	if (port) {
		plen = (size_t)(p + alen - port);
		if (plen == 0 || plen > 5 || strspn(port, "0123456789") < plen)
			return doctor_fail(err, errlen, "bad port in the URL");
		errno = 0;
		v = strtol(port, &end, 10);
		if (errno != 0 || end != port + plen || v < 1 || v > 65535)
			return doctor_fail(err, errlen, "bad port in the URL");
		(void)doctor_copy(u->port, sizeof(u->port), port, plen);
	} else {
		(void)doctor_copy(u->port, sizeof(u->port), "80", 2);
	}
	if (doctor_copy(u->authority, sizeof(u->authority), p, alen) == -1)
		return doctor_fail(err, errlen, "host name too long");
	p += alen;
	tlen = strcspn(p, "#");		/* a fragment is never sent */
	for (size_t i = 0; i < tlen; i++) {
		unsigned char c = (unsigned char)p[i];

		/* It goes into the request line as it is. */
		if (c <= ' ' || c == 0x7f)
			return doctor_fail(err, errlen, "the URL has spaces or "
			    "control characters: percent-encode them");
	}
	if (tlen == 0 || *p != '/') {
		u->target[0] = '/';
		if (doctor_copy(u->target + 1, sizeof(u->target) - 1, p, tlen)
		    == -1)
			return doctor_fail(err, errlen, "URL too long");
	} else if (doctor_copy(u->target, sizeof(u->target), p, tlen) == -1) {
		return doctor_fail(err, errlen, "URL too long");
	}
	return 0;
}

/* Append c to the target; -1 when it is full. */
static int
doctor_put(struct doctor_url *u, size_t *len, char c)
{
	if (*len + 1 >= sizeof(u->target))
		return -1;
	u->target[(*len)++] = c;
	return 0;
}

int
doctor_url_add_param(struct doctor_url *u, const char *name,
    const char *value, char *err, size_t errlen)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t start = strlen(u->target);
	size_t len = start;
	char last = len > 0 ? u->target[len - 1] : '\0';
	int rc = 0;

	/* '?' first, '&' between parameters, none after a trailing one. */
	if (!strchr(u->target, '?'))
		rc |= doctor_put(u, &len, '?');
	else if (last != '?' && last != '&')
		rc |= doctor_put(u, &len, '&');
	for (const char *s = name; *s; s++)
		rc |= doctor_put(u, &len, *s);
	rc |= doctor_put(u, &len, '=');
	for (const unsigned char *s = (const unsigned char *)value; *s; s++) {
		if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || strchr("-._~", *s)) {
			rc |= doctor_put(u, &len, (char)*s);
		} else {
			rc |= doctor_put(u, &len, '%');
			rc |= doctor_put(u, &len, hex[*s >> 4]);
			rc |= doctor_put(u, &len, hex[*s & 15]);
		}
	}
	if (rc != 0) {
		u->target[start] = '\0';	/* unchanged */
		return doctor_fail(err, errlen, "URL too long");
	}
	u->target[len] = '\0';
	return 0;
}

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

/* ---- the response head ---- */

/* Copy a header value, cut to the field, spaces around it dropped. */
static void
doctor_set(char *dst, size_t size, const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	if (n >= size)
		n = size - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

static int
doctor_head_line(struct doctor_head *h, const char *line, size_t n,
    char *err, size_t errlen)
{
	static const struct {
		const char *name;
		size_t off;
		size_t size;
	} fields[] = {
#define DOCTOR_FIELD(name, f) \
	{ name, offsetof(struct doctor_head, f), \
	    sizeof(((struct doctor_head *)0)->f) }
		DOCTOR_FIELD("server", server),
		DOCTOR_FIELD("content-type", content_type),
		DOCTOR_FIELD("content-encoding", content_encoding),
		DOCTOR_FIELD("transfer-encoding", transfer_encoding),
		DOCTOR_FIELD("x-accel-buffering", x_accel_buffering),
		DOCTOR_FIELD("upgrade", upgrade),
		DOCTOR_FIELD("www-authenticate", www_authenticate),
		DOCTOR_FIELD("retry-after", retry_after),
#undef DOCTOR_FIELD
		{ NULL, 0, 0 }
	};
	const char *colon = memchr(line, ':', n);
	size_t nlen;
	char value[32];
	char *end;

	if (!colon)
		return 0;	/* not a header: ignored, as browsers do */
	nlen = (size_t)(colon - line);
	colon++;
	if (nlen == 14 && strncasecmp(line, "content-length", 14) == 0) {
		doctor_set(value, sizeof(value), colon,
		    (size_t)(line + n - colon));
		errno = 0;
		h->content_length = strtoll(value, &end, 10);
		if (value[0] < '0' || value[0] > '9' || *end != '\0' ||
		    errno != 0)
			return doctor_fail(err, errlen, "bad Content-Length in "
			    "the response");
		return 0;
	}
	for (size_t i = 0; fields[i].name; i++) {
		if (strlen(fields[i].name) == nlen &&
		    strncasecmp(line, fields[i].name, nlen) == 0) {
			doctor_set((char *)h + fields[i].off, fields[i].size,
			    colon, (size_t)(line + n - colon));
			break;
		}
	}
	return 0;
}

/* n ASCII digits at p? */
static int
doctor_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

int
doctor_head_parse(const char *p, size_t len, struct doctor_head *h,
    char *err, size_t errlen)
{
	const char *end = p + len;
	const char *nl;
	size_t n;
	int first = 1;

	memset(h, 0, sizeof(*h));
	h->content_length = -1;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (first) {
			/* "HTTP/1.1 200 OK" */
			if (n < 12 || strncmp(p, "HTTP/1.", 7) != 0 ||
			    !doctor_digits(p + 7, 1) || p[8] != ' ' ||
			    !doctor_digits(p + 9, 3) ||
			    (n > 12 && p[12] != ' '))
				return doctor_fail(err, errlen, "not an HTTP/1 "
				    "response (is this a web server?)");
			h->minor = p[7] - '0';
			h->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 +
			    (p[11] - '0');
			first = 0;
		} else if (doctor_head_line(h, p, n, err, errlen) == -1) {
			return -1;
		}
		p = nl ? nl + 1 : end;
	}
	if (first)
		return doctor_fail(err, errlen, "empty response");
	return 0;
}

/* ---- the body ---- */

void
doctor_body_init(struct doctor_body *b, const struct doctor_head *h)
{
	memset(b, 0, sizeof(*b));
	if (strcasestr(h->transfer_encoding, "chunked")) {
		b->framing = DOCTOR_FRAME_CHUNKED;
		b->state = DOCTOR_CHUNK_SIZE;
	} else if (h->content_length >= 0) {
		b->framing = DOCTOR_FRAME_LENGTH;
		b->left = h->content_length;
		b->complete = b->left == 0;
	} else {
		b->framing = DOCTOR_FRAME_EOF;
	}
	b->parse_events = h->content_encoding[0] == '\0' ||
	    strcasecmp(h->content_encoding, "identity") == 0;
}

/* One event-stream line, per the WHATWG "event stream interpretation". */
static void
doctor_body_line(struct doctor_body *b, double now)
{
	const char *line = b->line;
	size_t n = b->line_len;
	const char *colon;
	const char *v;
	size_t flen;
	size_t vlen;

	if (n == 0) {
		/* Dispatch: an event without data is not one. */
		if (b->has_data) {
			if (!b->is_probe)
				b->nother++;
			else if (b->nprobes < DOCTOR_PROBES)
				b->probe_at[b->nprobes++] = now;
		}
		b->is_probe = 0;
		b->has_data = 0;
		return;
	}
	if (line[0] == ':')
		return;			/* a comment: heartbeat or padding */
	colon = memchr(line, ':', n);
	flen = colon ? (size_t)(colon - line) : n;
	v = colon ? colon + 1 : line + n;
	if (colon && v < line + n && *v == ' ')
		v++;
	vlen = (size_t)(line + n - v);
	if (flen == 5 && memcmp(line, "event", 5) == 0)
		b->is_probe = vlen == 5 && memcmp(v, "probe", 5) == 0;
	else if (flen == 4 && memcmp(line, "data", 4) == 0)
		b->has_data = 1;
}

/* Body bytes with the HTTP framing removed. */
static void
doctor_body_data(struct doctor_body *b, const char *p, size_t n,
    double now)
{
	if (n == 0)
		return;
	if (b->bytes == 0)
		b->first_at = now;
	b->last_at = now;
	b->bytes += (long long)n;
	if (!b->parse_events)
		return;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (b->after_cr) {
			b->after_cr = 0;
			if (c == '\n')
				continue;
		}
		if (c == '\r' || c == '\n') {
			b->after_cr = c == '\r';
			doctor_body_line(b, now);
			b->line_len = 0;
		} else if (b->line_len < sizeof(b->line)) {
			b->line[b->line_len++] = c;
		}
		/* A longer line is cut: only a field's name matters here. */
	}
}

/* A chunk-size or trailer line is complete in b->size_line. */
static int
doctor_chunk_line(struct doctor_body *b, char *err, size_t errlen)
{
	char *end;
	size_t n = b->size_len;

	if (n > 0 && b->size_line[n - 1] == '\r')
		n--;
	b->size_line[n] = '\0';
	b->size_len = 0;
	if (b->state == DOCTOR_CHUNK_TRAILER) {
		if (n == 0) {
			b->state = DOCTOR_CHUNK_DONE;
			b->complete = 1;
		}
		return 0;
	}
	errno = 0;
	b->left = strtoll(b->size_line, &end, 16);
	if (n == 0 || end == b->size_line || errno != 0 || b->left < 0 ||
	    (*end != '\0' && *end != ';' && *end != ' ' && *end != '\t'))
		return doctor_fail(err, errlen, "bad chunked encoding in the "
		    "response");
	if (b->left == 0) {
		b->state = DOCTOR_CHUNK_TRAILER;
	} else {
		b->state = DOCTOR_CHUNK_DATA;
		b->nchunks++;
	}
	return 0;
}

static int
doctor_body_chunked(struct doctor_body *b, const char *p, size_t n,
    double now, char *err, size_t errlen)
{
	size_t i = 0;

	while (i < n && b->state != DOCTOR_CHUNK_DONE) {
		if (b->state == DOCTOR_CHUNK_DATA) {
			size_t take = n - i;

			if ((long long)take > b->left)
				take = (size_t)b->left;
			doctor_body_data(b, p + i, take, now);
			b->left -= (long long)take;
			i += take;
			if (b->left == 0)
				b->state = DOCTOR_CHUNK_END;
			continue;
		}
		if (b->state == DOCTOR_CHUNK_END) {
			if (p[i] == '\n')
				b->state = DOCTOR_CHUNK_SIZE;
			else if (p[i] != '\r')
				return doctor_fail(err, errlen, "bad chunked "
				    "encoding in the response");
			i++;
			continue;
		}
		/* DOCTOR_CHUNK_SIZE or DOCTOR_CHUNK_TRAILER: a line. */
		if (p[i] == '\n') {
			i++;
			if (doctor_chunk_line(b, err, errlen) == -1)
				return -1;
			continue;
		}
		if (b->size_len + 1 >= sizeof(b->size_line)) {
			/* Trailer lines are skipped, not kept. */
			if (b->state != DOCTOR_CHUNK_TRAILER)
				return doctor_fail(err, errlen, "bad chunked "
				    "encoding in the response");
			b->size_len = 1;
		}
		b->size_line[b->size_len++] = p[i++];
	}
	return 0;
}

int
doctor_body_feed(struct doctor_body *b, const char *p, size_t n,
    double now, char *err, size_t errlen)
{
	long long before = b->bytes;
	int rc = 0;

	if (b->complete || n == 0)
		return 0;
	if (b->framing == DOCTOR_FRAME_CHUNKED) {
		rc = doctor_body_chunked(b, p, n, now, err, errlen);
	} else if (b->framing == DOCTOR_FRAME_LENGTH) {
		size_t take = (long long)n > b->left ? (size_t)b->left : n;

		doctor_body_data(b, p, take, now);
		b->left -= (long long)take;
		b->complete = b->left == 0;
	} else {
		doctor_body_data(b, p, n, now);
	}
	if (b->bytes > before)
		b->nreads++;
	return rc;
}

void
doctor_body_eof(struct doctor_body *b)
{
	if (b->framing == DOCTOR_FRAME_EOF)
		b->complete = 1;
}

/* ---- the verdict ---- */

void
doctor_judge(const struct doctor_head *h, const struct doctor_body *b,
    double sent_at, double head_at, struct doctor_finding *f)
{
	/* Half the intended spread: a loaded machine still streams. */
	double enough = DOCTOR_SPACING * (DOCTOR_PROBES - 1) / 2;

	memset(f, 0, sizeof(*f));
	f->verdict = DOCTOR_UNKNOWN;
	f->head_delay = head_at - sent_at;
	if (h->content_length >= 0)
		f->reasons |= DOCTOR_R_LENGTH;
	if (!b->parse_events) {
		/* Compressed: the events cannot be seen, the bytes can. */
		f->reasons |= DOCTOR_R_ENCODED;
		f->spread = b->bytes > 0 ? b->last_at - b->first_at : 0;
		f->verdict = DOCTOR_COMPRESSED;
		if (f->spread < enough) {
			f->reasons |= DOCTOR_R_BURST;
			f->verdict = DOCTOR_BUFFERED;
		}
	} else {
		if (b->nprobes >= 2)
			f->spread = b->probe_at[b->nprobes - 1] -
			    b->probe_at[0];
		if (b->nprobes == DOCTOR_PROBES && f->spread >= enough &&
		    !(f->reasons & DOCTOR_R_LENGTH)) {
			f->verdict = DOCTOR_STREAMING;
			return;
		}
		/* Closer together than half their spacing: held. */
		if (b->nprobes >= 2 && f->spread < DOCTOR_SPACING *
		    (b->nprobes - 1) / 2) {
			f->reasons |= DOCTOR_R_BURST;
			f->verdict = DOCTOR_BUFFERED;
		} else if (f->reasons & DOCTOR_R_LENGTH) {
			f->verdict = DOCTOR_BUFFERED;
		}
	}
	if (f->verdict != DOCTOR_BUFFERED)
		return;
	/* Held from the start: the head waited for the whole body. */
	if (b->bytes > 0 && head_at >= b->first_at - 0.05 &&
	    f->head_delay >= enough)
		f->reasons |= DOCTOR_R_LATE_HEAD;
	if (b->framing == DOCTOR_FRAME_CHUNKED && b->nchunks == 1)
		f->reasons |= DOCTOR_R_ONE_CHUNK;
	else if (b->framing == DOCTOR_FRAME_CHUNKED && b->nchunks > 1)
		f->reasons |= DOCTOR_R_MANY_CHUNKS;
}

enum doctor_server
doctor_server_of(const char *server)
{
	while (*server == ' ')
		server++;
	if (strncasecmp(server, "Apache", 6) == 0)
		return DOCTOR_SRV_APACHE;
	if (strncasecmp(server, "lighttpd", 8) == 0)
		return DOCTOR_SRV_LIGHTTPD;
	if (strncasecmp(server, "nginx", 5) == 0 ||
	    strncasecmp(server, "openresty", 9) == 0)
		return DOCTOR_SRV_NGINX;
	return DOCTOR_SRV_UNKNOWN;
}

enum {
	DOCTOR_FIX_FCGID,
	DOCTOR_FIX_PROXY,
	DOCTOR_FIX_DEFLATE,
	DOCTOR_FIX_LIGHTTPD,
	DOCTOR_FIX_LIGHTTPD_DEFLATE,
	DOCTOR_FIX_NGINX,
	DOCTOR_FIX_NGINX_GZIP
};

/* What was verified to hold events on each server, and its switch. */
static const struct doctor_advice doctor_fixes[] = {
	[DOCTOR_FIX_FCGID] = { DOCTOR_SRV_APACHE,
	    "Apache with mod_fcgid, server config or virtual host",
	    "FcgidOutputBufferSize 0",
	    "mod_fcgid holds up to 64 KiB of a response, its headers too, "
	    "before it sends any." },
	[DOCTOR_FIX_PROXY] = { DOCTOR_SRV_APACHE,
	    "Apache with mod_proxy_fcgi, on the ProxyPass of the SSE URL",
	    "flushpackets=on",
	    "without it mod_proxy_fcgi holds the response until it ends: "
	    "ProxyPass /events fcgi://127.0.0.1:9000/ flushpackets=on" },
	[DOCTOR_FIX_DEFLATE] = { DOCTOR_SRV_APACHE,
	    "Apache with mod_deflate, in the <Location> of the SSE URL",
	    "SetEnv no-gzip 1",
	    "compression ignores the stream's Cache-Control: no-transform; "
	    "behind CGI mod_deflate holds the whole response." },
	[DOCTOR_FIX_LIGHTTPD] = { DOCTOR_SRV_LIGHTTPD,
	    "lighttpd, in a $HTTP[\"url\"] condition for the SSE URL",
	    "server.stream-response-body = 2",
	    "by default lighttpd sends a response only once it is "
	    "complete." },
	[DOCTOR_FIX_LIGHTTPD_DEFLATE] = { DOCTOR_SRV_LIGHTTPD,
	    "lighttpd with mod_deflate",
	    "deflate.mimetypes without \"text/event-stream\"",
	    "compression ignores the stream's Cache-Control: no-transform." },
	[DOCTOR_FIX_NGINX] = { DOCTOR_SRV_NGINX,
	    "nginx, in the location of the SSE URL",
	    "fastcgi_buffering off;",
	    "nginx held the response although sse-outbox sends "
	    "X-Accel-Buffering: no, so a fastcgi_ignore_headers "
	    "X-Accel-Buffering (or a proxy in front) is in effect." },
	[DOCTOR_FIX_NGINX_GZIP] = { DOCTOR_SRV_NGINX,
	    "nginx, in the location of the SSE URL",
	    "gzip off;",
	    "compression ignores the stream's Cache-Control: no-transform." },
};

static void
doctor_add(const struct doctor_advice **out, size_t max, size_t *n,
    int fix)
{
	if (*n < max)
		out[(*n)++] = &doctor_fixes[fix];
}

size_t
doctor_advise(const struct doctor_head *h, const struct doctor_finding *f,
    const struct doctor_advice **out, size_t max)
{
	enum doctor_server srv = doctor_server_of(h->server);
	size_t n = 0;

	if (f->verdict != DOCTOR_BUFFERED && f->verdict != DOCTOR_COMPRESSED)
		return 0;
	if (f->reasons & DOCTOR_R_ENCODED) {
		/* The compressor is what to remove, held or not. */
		if (srv == DOCTOR_SRV_APACHE || srv == DOCTOR_SRV_UNKNOWN)
			doctor_add(out, max, &n, DOCTOR_FIX_DEFLATE);
		if (srv == DOCTOR_SRV_LIGHTTPD || srv == DOCTOR_SRV_UNKNOWN)
			doctor_add(out, max, &n, DOCTOR_FIX_LIGHTTPD_DEFLATE);
		if (srv == DOCTOR_SRV_NGINX || srv == DOCTOR_SRV_UNKNOWN)
			doctor_add(out, max, &n, DOCTOR_FIX_NGINX_GZIP);
		return n;
	}
	if (srv == DOCTOR_SRV_APACHE || srv == DOCTOR_SRV_UNKNOWN) {
		/*
		 * mod_fcgid passes on its buffer as one piece; mod_proxy_fcgi
		 * passes each FastCGI record, held by the connection.
		 */
		if (!(f->reasons & DOCTOR_R_MANY_CHUNKS))
			doctor_add(out, max, &n, DOCTOR_FIX_FCGID);
		if (!(f->reasons & DOCTOR_R_ONE_CHUNK))
			doctor_add(out, max, &n, DOCTOR_FIX_PROXY);
	}
	if (srv == DOCTOR_SRV_LIGHTTPD || srv == DOCTOR_SRV_UNKNOWN)
		doctor_add(out, max, &n, DOCTOR_FIX_LIGHTTPD);
	if (srv == DOCTOR_SRV_NGINX || srv == DOCTOR_SRV_UNKNOWN)
		doctor_add(out, max, &n, DOCTOR_FIX_NGINX);
	return n;
}

/* ---- the probe over the network ---- */

struct doctor_opts {
	const char *url;
	const char *token;	/* --token: Authorization: Bearer */
	const char *user;	/* --user: ?user= (SSE_AUTH=query) */
	const char *basic;	/* --basic USER:PASSWORD */
	long timeout;		/* seconds, whole exchange */
};

static double
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

static int
doctor_connect(const struct doctor_url *u, double deadline, char *err,
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

static int
doctor_send(int fd, const char *p, size_t n, double deadline, char *err,
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

/* The request, as a browser's EventSource would send it. */
static int
doctor_request(const struct doctor_opts *o, const struct doctor_url *u,
    char *req, size_t size, char *err, size_t errlen)
{
	char auth[2 * DOCTOR_AUTH_MAX + 64];
	char b64[(DOCTOR_AUTH_MAX + 2) / 3 * 4 + 1];
	int len;

	auth[0] = '\0';
	if (o->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n",
		    o->token);
	} else if (o->basic) {
		if (doctor_base64_encode(o->basic, strlen(o->basic), b64,
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

static const char *
doctor_or_none(const char *s)
{
	return *s ? s : "-";
}

/* The credential, as the report may name it (never the secret). */
static void
doctor_describe_credential(const struct doctor_opts *o, char *out,
    size_t size)
{
	const char *colon;

	if (o->token) {
		snprintf(out, size, "Bearer token");
	} else if (o->basic) {
		colon = strchr(o->basic, ':');
		snprintf(out, size, "Basic auth as %.*s",
		    (int)(colon ? (size_t)(colon - o->basic) :
		    strlen(o->basic)), o->basic);
	} else if (o->user) {
		snprintf(out, size, "user=%s in the query", o->user);
	} else {
		snprintf(out, size, "no credential");
	}
}

/* An answer other than an event stream: say what it means; exit 2. */
static int
doctor_refused(const struct doctor_head *h, const char *cred)
{
	const char *hint;

	switch (h->status) {
	case 401:
		fprintf(stderr, "sse-outbox doctor: 401: the credential was "
		    "refused (%s)%s%s\n", cred,
		    h->www_authenticate[0] ? "; the server asks for " : "",
		    h->www_authenticate);
		return 2;
	case 403:
		hint = "forbidden: the server does not let this user or "
		    "address in";
		break;
	case 404:
		hint = "not found: is the URL the one the web server maps to "
		    "sse-outbox?";
		break;
	case 400:
		hint = "bad request: an old sse-outbox without the probe, or "
		    "a bad parameter in the URL";
		break;
	case 503:
		hint = "unavailable: another probe is running, the responder "
		    "is at SSE_MAX_STREAMS or cannot read its database (see "
		    "the server's error log); try again";
		break;
	default:
		hint = "not the answer of a working event stream (see the "
		    "server's error log)";
		break;
	}
	fprintf(stderr, "sse-outbox doctor: HTTP %d: %s\n", h->status, hint);
	return 2;
}

static void
doctor_print_head(const struct doctor_head *h, double delay)
{
	printf("  status:            HTTP/1.%d %d, head after %.2f s\n",
	    h->minor, h->status, delay);
	printf("  Server:            %s\n", doctor_or_none(h->server));
	printf("  Content-Type:      %s\n", doctor_or_none(h->content_type));
	printf("  Transfer-Encoding: %s\n",
	    doctor_or_none(h->transfer_encoding));
	if (h->content_length >= 0)
		printf("  Content-Length:    %lld\n", h->content_length);
	else
		printf("  Content-Length:    -\n");
	printf("  Content-Encoding:  %s\n",
	    doctor_or_none(h->content_encoding));
	printf("  X-Accel-Buffering: %s\n",
	    doctor_or_none(h->x_accel_buffering));
}

static void
doctor_print_verdict(const struct doctor_head *h,
    const struct doctor_body *b, const struct doctor_finding *f,
    double sent_at)
{
	printf("  probe events:      %d of %d (sent %d ms apart)", b->nprobes,
	    DOCTOR_PROBES, (int)(DOCTOR_SPACING * 1000));
	if (b->nprobes > 0)
		printf(", received at");
	for (int i = 0; i < b->nprobes; i++)
		printf(" %.2f", b->probe_at[i] - sent_at);
	printf("%s\n", b->nprobes > 0 ? " s" : "");
	switch (f->verdict) {
	case DOCTOR_STREAMING:
		printf("verdict: streaming: the events arrived over %.2f s, "
		    "one by one, as they were sent\n", f->spread);
		break;
	case DOCTOR_COMPRESSED:
		printf("verdict: compressed (Content-Encoding: %s): the data "
		    "came over %.2f s, but a compressing filter may hold "
		    "events wherever it is not told to flush\n",
		    h->content_encoding, f->spread);
		break;
	case DOCTOR_BUFFERED:
		printf("verdict: buffered:");
		if (f->reasons & DOCTOR_R_BURST)
			printf(" %s arrived together, %.2f s after the "
			    "request%s;", b->parse_events ?
			    "all probe events" : "the compressed data",
			    b->last_at - sent_at,
			    f->reasons & DOCTOR_R_LATE_HEAD ?
			    " (the response head too)" : "");
		if (f->reasons & DOCTOR_R_LENGTH)
			printf(" Content-Length on an event stream (the "
			    "server waited for its end);");
		if (f->reasons & DOCTOR_R_ENCODED)
			printf(" compressed (Content-Encoding: %s);",
			    h->content_encoding);
		printf(" a browser would get events late, or never\n");
		break;
	case DOCTOR_UNKNOWN:
		break;
	}
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
	if (!!o->token + !!o->user + !!o->basic > 1) {
		fprintf(stderr, "sse-outbox doctor: give one of --token, "
		    "--user and --basic\n");
		return -1;
	}
	if ((o->token && strlen(o->token) > DOCTOR_AUTH_MAX) ||
	    (o->basic && (strlen(o->basic) > DOCTOR_AUTH_MAX ||
	    !strchr(o->basic, ':')))) {
		fprintf(stderr, "sse-outbox doctor: --token or --basic "
		    "USER:PASSWORD is malformed or too long\n");
		return -1;
	}
	return 0;
}

/*
 * Read the head, then the body until it ends. Returns 0 with h, b and
 * the times filled in, 1 for an answer that is not an event stream
 * (already reported), or -1 with err set.
 */
static int
doctor_exchange(int fd, double deadline, struct doctor_head *h,
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

int
doctor_main(int argc, char **argv)
{
	const struct doctor_advice *advice[DOCTOR_MAX_ADVICE];
	char req[DOCTOR_HEAD_MAX];
	char err[DOCTOR_ERR_LEN];
	char cred[300];
	struct doctor_opts o;
	struct doctor_url u;
	struct doctor_head h;
	struct doctor_body b;
	struct doctor_finding f;
	double sent_at;
	double head_at = 0;
	double deadline;
	size_t nadvice;
	int fd;
	int rc;

	if (doctor_parse_args(argc, argv, &o) == -1)
		return 2;
	if (doctor_url_parse(o.url, &u, err, sizeof(err)) == -1 ||
	    (o.user && doctor_url_add_param(&u, "user", o.user, err,
	    sizeof(err)) == -1) ||
	    doctor_url_add_param(&u, "probe", "1", err, sizeof(err)) == -1 ||
	    doctor_request(&o, &u, req, sizeof(req), err, sizeof(err)) == -1) {
		fprintf(stderr, "sse-outbox doctor: %s\n", err);
		return 2;
	}
	doctor_describe_credential(&o, cred, sizeof(cred));
	printf("sse-outbox doctor: GET http://%s%s (%s)\n", u.authority,
	    u.target, cred);
	fflush(stdout);
	deadline = doctor_now() + (double)o.timeout;
	fd = doctor_connect(&u, deadline, err, sizeof(err));
	if (fd == -1) {
		fprintf(stderr, "sse-outbox doctor: %s\n", err);
		return 2;
	}
	sent_at = doctor_now();
	rc = doctor_send(fd, req, strlen(req), deadline, err, sizeof(err));
	explicit_bzero(req, sizeof(req));
	if (rc == 0)
		rc = doctor_exchange(fd, deadline, &h, &b, &head_at, err,
		    sizeof(err));
	close(fd);
	if (rc == -1) {
		fprintf(stderr, "sse-outbox doctor: %s\n", err);
		return 2;
	}
	doctor_print_head(&h, head_at - sent_at);
	if (rc == 1)
		return doctor_refused(&h, cred);
	if (strncasecmp(h.content_type, "text/event-stream", 17) != 0) {
		fprintf(stderr, "sse-outbox doctor: not an event stream "
		    "(Content-Type: %s): the URL does not reach sse-outbox\n",
		    doctor_or_none(h.content_type));
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
	if (strstr(h.upgrade, "h2"))
		printf("note: the server offers HTTP/2 too (Upgrade: %s); "
		    "this check used HTTP/1.1\n", h.upgrade);
	if (f.verdict == DOCTOR_STREAMING)
		return 0;
	nadvice = doctor_advise(&h, &f, advice, DOCTOR_MAX_ADVICE);
	if (doctor_server_of(h.server) == DOCTOR_SRV_UNKNOWN)
		printf("server: '%s' is not one the doctor knows; the usual "
		    "causes, by server:\n", doctor_or_none(h.server));
	for (size_t i = 0; i < nadvice; i++)
		printf("fix: %s\n     in %s:\n     %s\n",
		    advice[i]->directive, advice[i]->where, advice[i]->why);
	return 1;
}
