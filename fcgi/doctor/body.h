/* SPDX-License-Identifier: BSD-2-Clause */
/* The doctor's reading of a probe body: HTTP framing removed, events timed. */
#ifndef FCGI_DOCTOR_BODY_H
#define FCGI_DOCTOR_BODY_H

#include <stddef.h>

#include "../mustcheck.h"
#include "head.h"

#define DOCTOR_PROBES 5		/* events in a probe stream (probe.h) */
#define DOCTOR_SPACING 0.3	/* seconds between them (probe.h) */
#define DOCTOR_LINE_MAX 512	/* event-stream lines kept (longer: cut) */

/* How the body's end is known. */
enum {
	DOCTOR_FRAME_CHUNKED,
	DOCTOR_FRAME_LENGTH,
	DOCTOR_FRAME_EOF
};

/* The response body as it arrived: HTTP framing removed, events timed. */
struct doctor_body {
	int framing;		/* DOCTOR_FRAME_* */
	int state;		/* chunk parser state (private) */
	long long left;		/* bytes left in the chunk / Content-Length */
	char size_line[32];	/* chunk-size line being read (private) */
	size_t size_len;
	int parse_events;	/* 0 when the body is compressed */
	char line[DOCTOR_LINE_MAX]; /* event-stream line being read */
	size_t line_len;
	int after_cr;		/* last byte was CR: an LF right after it ends
				   nothing */
	int is_probe;		/* current event has "event: probe" */
	int has_data;		/* current event has a data: line */
	int complete;		/* the body ended as HTTP framing says */
	int nchunks;		/* chunks with data (chunked framing) */
	int nreads;		/* body pieces fed (one per read) */
	long long bytes;	/* body bytes, framing removed */
	double first_at;	/* when the first body byte came; 0: none */
	double last_at;		/* when the last one came */
	int nprobes;		/* probe events received */
	double probe_at[DOCTOR_PROBES]; /* when each was complete */
	int nother;		/* other events (not a probe stream?) */
};

/*
 * Start reading a body framed as h says (chunked, Content-Length, or up
 * to the end of the connection); events are parsed unless h names a
 * Content-Encoding.
 */
void doctor_body_init(struct doctor_body *b, const struct doctor_head *h);

/*
 * Feed n bytes that arrived at time now (seconds, any clock). Returns 0,
 * or -1 with the reason in err when the chunked framing is broken.
 * Bytes after the end of the body are ignored.
 */
int doctor_body_feed(struct doctor_body *b, const char *p, size_t n,
    double now, char *err, size_t errlen) MUSTCHECK;

/* The end of the connection: completes a body read "to the end". */
void doctor_body_eof(struct doctor_body *b);

#endif
