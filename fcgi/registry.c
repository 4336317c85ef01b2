/* SPDX-License-Identifier: BSD-2-Clause */
/* The streams of one event loop: who follows which key, in which order. */
#include "registry.h"

#include <stdlib.h>

#include "subs.h"

struct registry {
	struct subs *subs;		/* recipient key -> streams */
	struct stream ring;		/* activity order; sentinel */
	size_t alive;
	struct stream *dirty;		/* bytes to write */
	struct stream *catchup;		/* a backlog to read, FIFO: */
	struct stream *catchup_tail;	/* fair to many streams at once */
	struct stream *dead;		/* killed, not yet freed */
};

struct registry *
registry_new(void)
{
	struct registry *reg = calloc(1, sizeof(*reg));

	if (!reg)
		return NULL;
	reg->subs = subs_new();
	if (!reg->subs) {
		free(reg);
		return NULL;
	}
	reg->ring.prev = reg->ring.next = &reg->ring;
	return reg;
}

/*
 * Unlink s from the activity ring but leave s->next as it was: a walk
 * that stands on s (or saved it as its next step) still finds the way
 * forward, through nodes that are not freed before the reap.
 */
static void
registry_ring_unlink(struct stream *s)
{
	s->prev->next = s->next;
	s->next->prev = s->prev;
}

static void
registry_ring_append(struct registry *reg, struct stream *s)
{
	s->prev = reg->ring.prev;
	s->next = &reg->ring;
	reg->ring.prev->next = s;
	reg->ring.prev = s;
}

void
registry_free(struct registry *reg,
    void (*on_free)(void *ctx, struct stream *s), void *ctx)
{
	if (!reg)
		return;
	while (reg->ring.next != &reg->ring)
		registry_kill(reg, reg->ring.next, "event loop closed");
	reg->dirty = reg->catchup = NULL;
	while (reg->dead) {
		struct stream *s = reg->dead;

		reg->dead = s->dead_next;
		s->in_dirty = s->in_catchup = 0;
		for (size_t i = 0; i < s->nkeys && s->in_subs; i++)
			subs_remove(reg->subs, s->keys[i], s->key_lens[i], s);
		on_free(ctx, s);
	}
	subs_free(reg->subs);
	free(reg);
}

int
registry_add(struct registry *reg, struct stream *s, double now)
{
	size_t i;

	for (i = 0; i < s->nkeys; i++) {
		if (subs_add(reg->subs, s->keys[i], s->key_lens[i], s) == -1)
			break;
	}
	if (i < s->nkeys) {
		while (i-- > 0)
			subs_remove(reg->subs, s->keys[i], s->key_lens[i], s);
		return -1;
	}
	s->in_subs = 1;
	s->last_out = now;
	registry_ring_append(reg, s);
	reg->alive++;
	return 0;
}

void
registry_kill(struct registry *reg, struct stream *s, const char *why)
{
	if (s->dead)
		return;
	s->dead = 1;
	s->dead_why = why;
	registry_ring_unlink(s);
	reg->alive--;
	s->dead_next = reg->dead;
	reg->dead = s;
}

void
registry_reap(struct registry *reg,
    void (*on_free)(void *ctx, struct stream *s), void *ctx)
{
	struct stream *list = reg->dead;

	reg->dead = NULL;
	while (list) {
		struct stream *s = list;

		list = s->dead_next;
		if (s->in_dirty || s->in_catchup) {
			s->dead_next = reg->dead;	/* next time */
			reg->dead = s;
			continue;
		}
		for (size_t i = 0; i < s->nkeys; i++)
			subs_remove(reg->subs, s->keys[i], s->key_lens[i], s);
		s->in_subs = 0;
		on_free(ctx, s);
	}
}

size_t
registry_count(const struct registry *reg)
{
	return reg->alive;
}

void
registry_touch(struct registry *reg, struct stream *s, double now)
{
	s->last_out = now;
	if (s->dead)
		return;
	registry_ring_unlink(s);
	registry_ring_append(reg, s);
}

struct stream *
registry_oldest(struct registry *reg)
{
	return reg->ring.next == &reg->ring ? NULL : reg->ring.next;
}

void
registry_each(struct registry *reg,
    void (*fn)(void *ctx, struct stream *s), void *ctx)
{
	struct stream *s;
	struct stream *n;
	struct stream *last = reg->ring.prev;

	/* Streams touched during the walk move behind last: stop there so
	 * each is seen once. */
	if (last == &reg->ring)
		return;
	for (s = reg->ring.next; ; s = n) {
		int at_last = s == last;

		n = s->next;
		if (!s->dead)
			fn(ctx, s);
		if (at_last || n == &reg->ring)
			break;
	}
}

struct registry_key_walk {
	void (*fn)(void *ctx, struct stream *s);
	void *ctx;
};

static void
registry_key_member(void *ctx, void *member)
{
	struct registry_key_walk *w = ctx;
	struct stream *s = member;

	if (!s->dead)
		w->fn(w->ctx, s);
}

void
registry_each_for_key(struct registry *reg, const char *key, size_t len,
    void (*fn)(void *ctx, struct stream *s), void *ctx)
{
	struct registry_key_walk w = { fn, ctx };

	/* Safe: killing never changes the index; only the reap does. */
	subs_each(reg->subs, key, len, registry_key_member, &w);
}

void
registry_mark_dirty(struct registry *reg, struct stream *s)
{
	if (s->in_dirty || s->dead)
		return;
	s->in_dirty = 1;
	s->dirty_next = reg->dirty;
	reg->dirty = s;
}

void
registry_mark_catchup(struct registry *reg, struct stream *s)
{
	if (s->in_catchup || s->dead)
		return;
	s->in_catchup = 1;
	s->catchup_next = NULL;
	if (reg->catchup_tail)
		reg->catchup_tail->catchup_next = s;
	else
		reg->catchup = s;
	reg->catchup_tail = s;
}

int
registry_has_work(const struct registry *reg)
{
	return reg->dirty != NULL || reg->catchup != NULL;
}

int
registry_has_catchup(const struct registry *reg)
{
	return reg->catchup != NULL;
}

struct stream *
registry_next_dirty(struct registry *reg)
{
	struct stream *s = reg->dirty;

	if (!s)
		return NULL;
	reg->dirty = s->dirty_next;
	s->in_dirty = 0;
	return s;
}

struct stream *
registry_next_catchup(struct registry *reg)
{
	struct stream *s = reg->catchup;

	if (!s)
		return NULL;
	reg->catchup = s->catchup_next;
	if (!reg->catchup)
		reg->catchup_tail = NULL;
	s->in_catchup = 0;
	return s;
}
