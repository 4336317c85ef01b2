/* `sse-outbox doctor`: do events reach a browser as they are written? */
#ifndef FCGI_DOCTOR_H
#define FCGI_DOCTOR_H

#include <stddef.h>

#include "mustcheck.h"

#define DOCTOR_ERR_LEN 256
#define DOCTOR_PROBES 5		/* events in a probe stream (probe.h) */
#define DOCTOR_SPACING 0.3	/* seconds between them (probe.h) */
#define DOCTOR_HEAD_MAX 16384	/* response head larger than this: error */
#define DOCTOR_LINE_MAX 512	/* event-stream lines kept (longer: cut) */
#define DOCTOR_MAX_ADVICE 6

/* Where to connect and what to ask for, from an http:// URL. */
struct doctor_url {
	char host[256];		/* name or address, IPv6 without [] */
	char port[6];		/* decimal, "80" when the URL has none */
	char authority[270];	/* host[:port] as written: the Host header */
	char target[4096];	/* path and query, as sent */
};

/*
 * Split url ("http://host[:port][/path][?query]") into u. https:// and
 * anything else is refused with a one-line reason in err (the doctor
 * speaks plain HTTP: run it on the server, against the local address).
 * Returns 0 or -1.
 */
int doctor_url_parse(const char *url, struct doctor_url *u, char *err,
    size_t errlen) MUSTCHECK;

/*
 * Append name=value to u's query, value percent-encoded (RFC 3986
 * unreserved characters kept). Returns 0, or -1 when it does not fit.
 */
int doctor_url_add_param(struct doctor_url *u, const char *name,
    const char *value, char *err, size_t errlen) MUSTCHECK;

/*
 * Base64 (RFC 4648, with padding) of n bytes of p into out, which must
 * hold 4 * ((n + 2) / 3) + 1 bytes. Returns 0, or -1 if out is too small.
 */
int doctor_base64_encode(const char *p, size_t n, char *out,
    size_t outlen) MUSTCHECK;

/* What the doctor reads from the response head. */
struct doctor_head {
	int status;			/* 200, 401, ... */
	int minor;			/* HTTP/1.minor */
	char server[160];		/* "" when absent */
	char content_type[128];
	char content_encoding[64];
	char transfer_encoding[64];
	char x_accel_buffering[32];
	char upgrade[64];
	char www_authenticate[128];
	char retry_after[32];
	long long content_length;	/* -1 when absent */
};

/*
 * Parse a response head: the status line and header lines up to, not
 * including, the empty line (CR LF or LF line ends). Header names are
 * matched without regard to case; values longer than a field are cut.
 * Returns 0, or -1 with the reason in err.
 */
int doctor_head_parse(const char *p, size_t len, struct doctor_head *h,
    char *err, size_t errlen) MUSTCHECK;

/* The response body as it arrived: HTTP framing removed, events timed. */
struct doctor_body {
	int framing;		/* DOCTOR_FRAME_* (private) */
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

/* sse-outbox doctor URL [options]: returns the exit status (0, 1, 2). */
int doctor_main(int argc, char **argv);

#endif
