/* SPDX-License-Identifier: BSD-2-Clause */
/* The caps of a process, counted across threads: streams, per user. */
#include "quota.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "subs.h"

struct quota {
	atomic_long slots;		/* streams accepted and not ended */
	pthread_mutex_t lock;		/* guards per_user */
	struct subs *per_user;		/* user -> its streams */
};

struct quota *
quota_new(void)
{
	struct quota *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->per_user = subs_new();
	if (!q->per_user) {
		free(q);
		return NULL;
	}
	atomic_init(&q->slots, 0);
	pthread_mutex_init(&q->lock, NULL);
	return q;
}

void
quota_free(struct quota *q)
{
	if (!q)
		return;
	subs_free(q->per_user);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

long
quota_reserve_slot(struct quota *q)
{
	return atomic_fetch_add(&q->slots, 1) + 1;
}

void
quota_release_slot(struct quota *q)
{
	atomic_fetch_sub(&q->slots, 1);
}

long
quota_slots(struct quota *q)
{
	return atomic_load(&q->slots);
}

static void
quota_count_member(void *ctx, void *member)
{
	(void)member;
	(*(long *)ctx)++;
}

int
quota_claim_user(struct quota *q, struct stream *s, long max)
{
	long held = 0;
	int rc = 0;

	if (max <= 0)
		return 0;
	pthread_mutex_lock(&q->lock);
	subs_each(q->per_user, s->user, s->user_len, quota_count_member,
	    &held);
	if (held >= max ||
	    subs_add(q->per_user, s->user, s->user_len, s) == -1)
		rc = -1;
	else
		s->claimed = 1;
	pthread_mutex_unlock(&q->lock);
	return rc;
}

void
quota_unclaim_user(struct quota *q, struct stream *s)
{
	if (!s->claimed)
		return;
	pthread_mutex_lock(&q->lock);
	subs_remove(q->per_user, s->user, s->user_len, s);
	pthread_mutex_unlock(&q->lock);
	s->claimed = 0;
}
