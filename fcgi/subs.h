/* SPDX-License-Identifier: BSD-2-Clause */
/* Which streams follow which recipient key: a hash of key -> members. */
#ifndef FCGI_SUBS_H
#define FCGI_SUBS_H

#include <stddef.h>
#include <stdint.h>

struct subs;

/* The hash of a key. Keys are matched by their bytes, the hash only picks
 * the bucket, so any function is correct: the unit test points this at a
 * constant to make every key collide. Change it only while no index
 * exists. */
extern uint64_t (*subs_hash)(const char *key, size_t len);

struct subs *subs_new(void);
/* Frees the index, not the members. subs may be NULL. */
void subs_free(struct subs *subs);

/* Add member under key (the key bytes are copied). Returns 0 or -1. */
int subs_add(struct subs *subs, const char *key, size_t len, void *member);
/* Remove member from key; a no-op when absent. */
void subs_remove(struct subs *subs, const char *key, size_t len,
    void *member);

/* Call fn(ctx, member) for every member under key. fn must not change
 * the index. */
void subs_each(struct subs *subs, const char *key, size_t len,
    void (*fn)(void *ctx, void *member), void *ctx);

/* Number of distinct keys (for stats and tests). */
size_t subs_key_count(const struct subs *subs);

#endif
