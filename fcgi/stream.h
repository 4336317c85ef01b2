/* SPDX-License-Identifier: BSD-2-Clause */
/* One stream's life: headers, framed events, heartbeats, writes, end. */
#ifndef FCGI_STREAM_H
#define FCGI_STREAM_H

#include <stddef.h>

#include "buf.h"
#include "mustcheck.h"
#include "config.h"
#include "loop.h"
#include "request.h"
#include "resume.h"
#include "transport.h"

/* Stop taking live rows while this much is unwritten; catch up later. */
#define STREAM_WIRE_HIGH (64 * 1024)
/* The user's own key plus the channels a token may grant. */
#define STREAM_MAX_KEYS (1 + REQUEST_MAX_CHANNELS)
/* Hard cap of unwritten bytes: one batch of the largest rows fits. */
#define STREAM_WIRE_CAP (256 * 1024 * 1024)

enum stream_write_result {
	STREAM_DRAINED,		/* everything written */
	STREAM_BLOCKED,		/* the peer is slow: wait for POLLOUT */
	STREAM_GONE,		/* the peer went away */
};

/*
 * A stream is "the last id this client has" plus a wait. It never holds
 * rows beyond the bytes not yet written; the outbox is the queue.
 * The fields above the first line are set by stream_new and read-only
 * afterwards; each group below names the only files that write it.
 */
struct stream {
	unsigned long serial;		/* request number, for logs */
	struct transport tr;		/* where the bytes go */
	char *user;			/* the user: same memory as keys[0] */
	size_t user_len;
	char *keys[STREAM_MAX_KEYS];	/* owned: recipient keys followed; */
	size_t key_lens[STREAM_MAX_KEYS]; /* keys[0] is the user */
	size_t nkeys;
	int head_only;			/* HEAD: headers, then end */
	char *cors_origin;		/* owned: Origin allowed to read, or NULL */
	int announce;			/* send "id: <last_id>" first: the client
					 * gave no resume point */
	char reset[RESUME_DATA_LEN];	/* data of a "reset" event to send
					 * first (history was pruned), or "" */
	size_t padding;			/* opening comment size (CGI) */
	/* --- delivery: written by stream.c and deliver.c --- */
	long long last_id;		/* highest id framed for the client */
	struct buf wire;		/* framed, unwritten bytes */
	int synced;			/* all its rows up to the live cursor
					 * framed: it takes live rows */
	int ending;			/* end framed; close once written */
	/* --- written by quota.c, under its lock --- */
	int claimed;			/* counted for SSE_MAX_PER_USER */
	/* --- written by registry.c: membership and work lists --- */
	int in_subs;			/* indexed under its keys */
	int in_catchup;			/* on the catch-up list */
	int in_dirty;			/* on the to-write list */
	int dead;			/* killed: out of every walk */
	const char *dead_why;		/* why, for the log (static text) */
	double last_out;		/* last time bytes were framed */
	struct stream *prev, *next;	/* activity order (heartbeats) */
	struct stream *catchup_next;
	struct stream *dirty_next;
	struct stream *dead_next;
	/* --- written by hub.c: the connection in the event loop --- */
	struct loop_handler io;		/* its descriptor's handler */
	int want_out;			/* registered for EPOLLOUT */
	double end_at;			/* SSE_MAX_STREAM deadline, 0 = none */
	struct stream *submit_next;	/* hand-off from acceptor threads */
};

/* How a stream opens, decided by admission before the hub adopts it. */
struct stream_opening {
	long long start_id;		/* rows after this one are sent */
	const char *reset;		/* data of a first "reset" event, or
					 * NULL (copied) */
	int announce;			/* send "id: <start_id>" first */
	size_t padding;			/* opening comment (CGI) */
};

/*
 * Make a stream for an accepted request. Takes ownership of spec->user,
 * spec->channels and spec->cors_origin (they are cleared in spec);
 * duplicate keys are dropped. Returns NULL when out of memory, or when
 * the reset text does not fit (a bug: resume.h sizes it).
 */
struct stream *stream_new(unsigned long serial, const struct transport *tr,
    struct request_spec *spec, const struct stream_opening *open);
/* Release the memory (the hub closes the transport). s may be NULL. */
void stream_free(struct stream *s);

/*
 * Frame the response head: status, headers, the optional padding comment
 * (for servers that hold the first bytes of a CGI response), retry:, and
 * the reset event when s->reset is set.
 */
int stream_frame_head(struct stream *s, const struct config *cfg,
    size_t padding) MUSTCHECK;

/* Frame a "reset" event (no id: it must not move Last-Event-ID). */
int stream_frame_reset(struct stream *s, const char *data) MUSTCHECK;

/* Frame an event already in SSE text for row id; last_id becomes id. */
int stream_take(struct stream *s, const char *p, size_t n, long long id)
    MUSTCHECK;

/* Frame a reset event; the stream goes on after id (prune's mark). */
int stream_take_reset(struct stream *s, const char *data, long long id)
    MUSTCHECK;

/* Frame bytes that are already SSE text (an event, a comment). */
int stream_frame(struct stream *s, const char *p, size_t n) MUSTCHECK;

/* Frame the end of the response; the stream ends once it is written. */
int stream_frame_end(struct stream *s) MUSTCHECK;

/* Write as much of the wire as the peer takes without blocking. */
enum stream_write_result stream_write(struct stream *s);

/* A short printable form of the user for log lines (static storage per
 * thread, valid until the next call in the same thread). */
const char *stream_user_for_log(const char *user, size_t len);

#endif
