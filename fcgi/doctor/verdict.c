/* SPDX-License-Identifier: BSD-2-Clause */
/* The doctor's diagnosis: streaming or held, and the fix for each server. */
#include "verdict.h"

#include <string.h>
#include <strings.h>

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
	DOCTOR_FIX_CGI_ROUTE,
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
	/*
	 * FcgidOutputBufferSize is valid in server config and virtual
	 * hosts only: a tenant on shared hosting cannot set it, in
	 * .htaccess or anywhere else. mod_cgid passes events on by itself.
	 */
	[DOCTOR_FIX_CGI_ROUTE] = { DOCTOR_SRV_APACHE,
	    "an .htaccess beside the program, with Options +ExecCGI, where "
	    "the server config is not yours (shared hosting)",
	    "AddHandler cgi-script .cgi",
	    "a tenant cannot turn off mod_fcgid's buffering: "
	    "FcgidOutputBufferSize is server/vhost-level and .htaccess "
	    "cannot set it. Run sse-outbox as CGI instead: upload it as "
	    "sse-outbox.cgi, its settings in sse-outbox.conf beside it; "
	    "CGI streams without any server setting." },
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
		if (!(f->reasons & DOCTOR_R_MANY_CHUNKS)) {
			doctor_add(out, max, &n, DOCTOR_FIX_FCGID);
			doctor_add(out, max, &n, DOCTOR_FIX_CGI_ROUTE);
		}
		if (!(f->reasons & DOCTOR_R_ONE_CHUNK))
			doctor_add(out, max, &n, DOCTOR_FIX_PROXY);
	}
	if (srv == DOCTOR_SRV_LIGHTTPD || srv == DOCTOR_SRV_UNKNOWN)
		doctor_add(out, max, &n, DOCTOR_FIX_LIGHTTPD);
	if (srv == DOCTOR_SRV_NGINX || srv == DOCTOR_SRV_UNKNOWN)
		doctor_add(out, max, &n, DOCTOR_FIX_NGINX);
	return n;
}
