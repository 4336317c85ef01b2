/* SPDX-License-Identifier: BSD-2-Clause */
/* The streams of one event loop: who follows which key, in which order. */
#ifndef FCGI_REGISTRY_H
#define FCGI_REGISTRY_H

#include <stddef.h>

#include "buf.h"
#include "mustcheck.h"
#include "stream.h"

/*
 * The registry owns every adopted stream and the links in struct stream
 * marked "registry". A stream leaves in two steps: registry_kill takes it
 * out of every walk at once (walks never see it again) but frees nothing,
 * so a walk in progress can go on; registry_reap, called between turns
 * when no walk is running, frees it. That way no code path can free a
 * stream that a caller is walking.
 */
struct registry;

struct registry *registry_new(void);
/* Reap everything, alive or not, through on_free. */
void registry_free(struct registry *reg,
    void (*on_free)(void *ctx, struct stream *s), void *ctx);

/* Adopt s: activity order and its recipient keys. 0, or -1 (memory). */
int registry_add(struct registry *reg, struct stream *s, double now)
    MUSTCHECK;

/* Take s out of every walk; why goes to the log when it is reaped. */
void registry_kill(struct registry *reg, struct stream *s, const char *why);

/* Free the killed streams that no work list holds any more. */
void registry_reap(struct registry *reg,
    void (*on_free)(void *ctx, struct stream *s), void *ctx);

/* Streams alive (adopted, not killed). */
size_t registry_count(const struct registry *reg);

/* s was written to now: it moves to the end of the activity order. */
void registry_touch(struct registry *reg, struct stream *s, double now);

/* The live stream written to least recently, or NULL. */
struct stream *registry_oldest(struct registry *reg);

/*
 * Call fn for every live stream, or for those following key. fn may
 * touch, mark or kill streams (its own or others), never free them.
 */
void registry_each(struct registry *reg,
    void (*fn)(void *ctx, struct stream *s), void *ctx);
void registry_each_for_key(struct registry *reg, const char *key,
    size_t len, void (*fn)(void *ctx, struct stream *s), void *ctx);

/* Work lists: bytes to write, a backlog to read. Idempotent. */
void registry_mark_dirty(struct registry *reg, struct stream *s);
void registry_mark_catchup(struct registry *reg, struct stream *s);
int registry_has_work(const struct registry *reg);
int registry_has_catchup(const struct registry *reg);

/* Pop one stream off a work list (NULL when empty). Killed streams are
 * popped too: the caller skips them. */
struct stream *registry_next_dirty(struct registry *reg);
struct stream *registry_next_catchup(struct registry *reg);

#endif
