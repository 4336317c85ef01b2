/* SPDX-License-Identifier: BSD-2-Clause */
/* The doctor's diagnosis: streaming or held, and the fix for each server. */
#ifndef FCGI_DOCTOR_VERDICT_H
#define FCGI_DOCTOR_VERDICT_H

#include <stddef.h>

#include "body.h"
#include "head.h"

#define DOCTOR_MAX_ADVICE 6

enum doctor_verdict {
	DOCTOR_STREAMING,	/* the probe events came spread out */
	DOCTOR_BUFFERED,	/* held and sent together */
	DOCTOR_COMPRESSED,	/* compressed: cannot be read as it comes */
	DOCTOR_UNKNOWN		/* too few events to tell */
};

/* Why a stream is judged buffered or compressed (bits of reasons). */
#define DOCTOR_R_BURST		0x01	/* events arrived together */
#define DOCTOR_R_LENGTH		0x02	/* Content-Length on an event stream */
#define DOCTOR_R_ENCODED	0x04	/* a Content-Encoding */
#define DOCTOR_R_LATE_HEAD	0x08	/* the head came with the events */
#define DOCTOR_R_ONE_CHUNK	0x10	/* the whole body in one chunk */
#define DOCTOR_R_MANY_CHUNKS	0x20	/* several chunks, sent together */

struct doctor_finding {
	enum doctor_verdict verdict;
	unsigned reasons;	/* DOCTOR_R_* */
	double spread;		/* first to last probe event (or body piece
				   when compressed), seconds */
	double head_delay;	/* request sent to head received, seconds */
};

/*
 * Judge a finished probe: sent_at and head_at are when the request went
 * out and the head came (same clock as doctor_body_feed). Streaming
 * needs all DOCTOR_PROBES events spread over at least half their
 * intended 1.2 s, no Content-Length and no Content-Encoding.
 */
void doctor_judge(const struct doctor_head *h, const struct doctor_body *b,
    double sent_at, double head_at, struct doctor_finding *f);

enum doctor_server {
	DOCTOR_SRV_UNKNOWN,
	DOCTOR_SRV_APACHE,
	DOCTOR_SRV_LIGHTTPD,
	DOCTOR_SRV_NGINX
};

/* The web server a Server header names (its first product token). */
enum doctor_server doctor_server_of(const char *server);

/* One fix: the directive, where it goes, and why. Static strings. */
struct doctor_advice {
	enum doctor_server server;
	const char *where;	/* "Apache with mod_fcgid, ..." */
	const char *directive;	/* "FcgidOutputBufferSize 0" */
	const char *why;	/* one sentence */
};

/*
 * The fixes for a finding, most likely first, into out (at most max).
 * Clues beyond the Server header pick between them: Apache's mod_fcgid
 * sends a held body as one chunk, mod_proxy_fcgi as its many records.
 * Returns how many; 0 for a streaming path.
 */
size_t doctor_advise(const struct doctor_head *h,
    const struct doctor_finding *f, const struct doctor_advice **out,
    size_t max);

#endif
