/* SPDX-License-Identifier: BSD-2-Clause */
/* The doctor's report: what it saw and what to change, on stdout/stderr. */
#include "report.h"

#include <stdio.h>
#include <string.h>

/* Bytes c takes once escaped. */
static size_t
doctor_escaped_len(unsigned char c)
{
	if (c == '\\')
		return 2;
	return c < 0x20 || c >= 0x7f ? 4 : 1;
}

const char *
doctor_escape(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789abcdef";
	size_t total = 0;
	size_t o = 0;
	size_t keep;

	if (size == 0)
		return out;
	if (*s == '\0')
		s = "-";
	for (const char *p = s; *p; p++)
		total += doctor_escaped_len((unsigned char)*p);
	/* Cut: keep room for "..." and the NUL. */
	keep = total < size ? total : size > 4 ? size - 4 : 0;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		size_t need = doctor_escaped_len(c);

		if (o + need > keep)
			break;
		if (need == 1) {
			out[o++] = (char)c;
		} else if (need == 2) {
			out[o++] = '\\';
			out[o++] = '\\';
		} else {
			out[o++] = '\\';
			out[o++] = 'x';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	if (*s && o + 3 < size) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

void
doctor_print_head(const struct doctor_head *h, double delay)
{
	char e[DOCTOR_ESC_MAX];

	printf("  status:            HTTP/1.%d %d, head after %.2f s\n",
	    h->minor, h->status, delay);
	printf("  Server:            %s\n",
	    doctor_escape(h->server, e, sizeof(e)));
	printf("  Content-Type:      %s\n",
	    doctor_escape(h->content_type, e, sizeof(e)));
	printf("  Transfer-Encoding: %s\n",
	    doctor_escape(h->transfer_encoding, e, sizeof(e)));
	if (h->content_length >= 0)
		printf("  Content-Length:    %lld\n", h->content_length);
	else
		printf("  Content-Length:    -\n");
	printf("  Content-Encoding:  %s\n",
	    doctor_escape(h->content_encoding, e, sizeof(e)));
	printf("  X-Accel-Buffering: %s\n",
	    doctor_escape(h->x_accel_buffering, e, sizeof(e)));
}

void
doctor_print_refused(const struct doctor_head *h, const char *cred)
{
	char e[DOCTOR_ESC_MAX];
	const char *hint;

	switch (h->status) {
	case 401:
		fprintf(stderr, "sse-outbox doctor: 401: the credential was "
		    "refused (%s)%s%s\n", cred,
		    h->www_authenticate[0] ? "; the server asks for " : "",
		    h->www_authenticate[0] ? doctor_escape(h->www_authenticate,
		    e, sizeof(e)) : "");
		return;
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
}

void
doctor_print_not_stream(const struct doctor_head *h)
{
	char e[DOCTOR_ESC_MAX];

	fprintf(stderr, "sse-outbox doctor: not an event stream "
	    "(Content-Type: %s): the URL does not reach sse-outbox\n",
	    doctor_escape(h->content_type, e, sizeof(e)));
}

void
doctor_print_verdict(const struct doctor_head *h,
    const struct doctor_body *b, const struct doctor_finding *f,
    double sent_at)
{
	char e[DOCTOR_ESC_MAX];

	printf("  probe events:      %d of %d (sent %d ms apart)", b->nprobes,
	    DOCTOR_PROBES, (int)(DOCTOR_SPACING * 1000));
	if (b->nprobes > 0)
		printf(", received at");
	for (int i = 0; i < b->nprobes; i++)
		printf(" %.2f", b->probe_at[i] - sent_at);
	printf("%s\n", b->nprobes > 0 ? " s" : "");
	doctor_escape(h->content_encoding, e, sizeof(e));
	switch (f->verdict) {
	case DOCTOR_STREAMING:
		printf("verdict: streaming: the events arrived over %.2f s, "
		    "one by one, as they were sent\n", f->spread);
		break;
	case DOCTOR_COMPRESSED:
		printf("verdict: compressed (Content-Encoding: %s): the data "
		    "came over %.2f s, but a compressing filter may hold "
		    "events wherever it is not told to flush\n", e,
		    f->spread);
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
			printf(" compressed (Content-Encoding: %s);", e);
		printf(" a browser would get events late, or never\n");
		break;
	case DOCTOR_UNKNOWN:
		break;
	}
	if (f->verdict != DOCTOR_UNKNOWN && strstr(h->upgrade, "h2"))
		printf("note: the server offers HTTP/2 too (Upgrade: %s); "
		    "this check used HTTP/1.1\n",
		    doctor_escape(h->upgrade, e, sizeof(e)));
}

void
doctor_print_advice(const struct doctor_head *h,
    const struct doctor_finding *f)
{
	const struct doctor_advice *advice[DOCTOR_MAX_ADVICE];
	char e[DOCTOR_ESC_MAX];
	size_t n = doctor_advise(h, f, advice, DOCTOR_MAX_ADVICE);

	if (doctor_server_of(h->server) == DOCTOR_SRV_UNKNOWN)
		printf("server: '%s' is not one the doctor knows; the usual "
		    "causes, by server:\n",
		    doctor_escape(h->server, e, sizeof(e)));
	for (size_t i = 0; i < n; i++)
		printf("fix: %s\n     in %s:\n     %s\n",
		    advice[i]->directive, advice[i]->where, advice[i]->why);
}
