/* One stream's life: headers, framed events, heartbeats, writes, end. */
#ifndef FCGI_STREAM_H
#define FCGI_STREAM_H

#include <stddef.h>

#include "buf.h"
#include "config.h"
#include "request.h"
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
 * The hub owns every stream and all fields below the line.
 */
struct stream {
	unsigned long serial;		/* request number, for logs */
	struct transport tr;		/* where the bytes go */
	char *user;			/* the user: same memory as keys[0] */
	size_t user_len;
	char *keys[STREAM_MAX_KEYS];	/* owned: recipient keys followed; */
	size_t key_lens[STREAM_MAX_KEYS]; /* keys[0] is the user */
	size_t nkeys;
	long long last_id;		/* highest id framed for the client */
	int head_only;			/* HEAD: headers, then end */
	char *cors_origin;		/* owned: Origin allowed to read, or NULL */
	int announce;			/* send "id: <last_id>" first: the client
					 * gave no resume point */
	char *reset;			/* owned: data of a "reset" event to send
					 * first (history was pruned), or NULL */
	/* --- hub state --- */
	struct buf wire;		/* framed, unwritten bytes */
	int synced;			/* all its rows up to the hub cursor framed */
	int ending;			/* end framed; close once written */
	int want_out;			/* registered for EPOLLOUT */
	int in_catchup;			/* on the hub's catch-up list */
	int in_dirty;			/* on the hub's to-write list */
	int claimed;			/* counted for SSE_MAX_PER_USER */
	size_t padding;			/* opening comment size (CGI) */
	double started;			/* monotonic seconds */
	double end_at;			/* SSE_MAX_STREAM deadline, 0 = none */
	double last_out;		/* last time bytes were framed */
	struct stream *prev, *next;	/* activity order (heartbeats) */
	struct stream *catchup_next;
	struct stream *dirty_next;
	struct stream *submit_next;
};

/*
 * Make a stream for an accepted request. Takes ownership of spec->user,
 * spec->channels and spec->cors_origin (they are cleared in spec);
 * duplicate keys are dropped. Returns NULL when out of memory.
 */
struct stream *stream_new(unsigned long serial, const struct transport *tr,
    struct request_spec *spec, long long start_id);
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
