/* SPDX-License-Identifier: BSD-2-Clause */
/* The caps of a process, counted across threads: streams, per user. */
#ifndef FCGI_QUOTA_H
#define FCGI_QUOTA_H

#include "stream.h"

struct quota;

struct quota *quota_new(void);
void quota_free(struct quota *q);

/* Count one more stream (accepted, not yet ended); the new count. */
long quota_reserve_slot(struct quota *q);
void quota_release_slot(struct quota *q);
long quota_slots(struct quota *q);

/*
 * Count s against its user's cap (max, 0 = no limit). 0, or -1 when the
 * user already holds max streams in this process. Thread-safe.
 */
int quota_claim_user(struct quota *q, struct stream *s, long max);
/* Forget a claimed stream (a no-op for one never claimed). */
void quota_unclaim_user(struct quota *q, struct stream *s);

#endif
