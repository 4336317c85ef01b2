/* SPDX-License-Identifier: BSD-2-Clause */
/* Which streams follow which recipient key: a hash of key -> members. */
#include "subs.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fnv.h"

struct subs_member {
	void *member;
	struct subs_member *next;
};

struct subs_key {
	uint64_t hash;
	char *key;			/* owned copy */
	size_t len;
	struct subs_member *members;
	struct subs_key *next;		/* bucket chain */
};

struct subs {
	struct subs_key **buckets;
	size_t nbuckets;		/* a power of two */
	size_t nkeys;
};

/* FNV-1a: short keys, no adversary can see the table's layout. */
static uint64_t
subs_fnv1a(const char *key, size_t len)
{
	return fnv_add(FNV_START, key, len);
}

uint64_t (*subs_hash)(const char *key, size_t len) = subs_fnv1a;

struct subs *
subs_new(void)
{
	struct subs *subs = calloc(1, sizeof(*subs));

	if (!subs)
		return NULL;
	subs->nbuckets = 64;
	subs->buckets = calloc(subs->nbuckets, sizeof(*subs->buckets));
	if (!subs->buckets) {
		free(subs);
		return NULL;
	}
	return subs;
}

void
subs_free(struct subs *subs)
{
	if (!subs)
		return;
	for (size_t i = 0; i < subs->nbuckets; i++) {
		struct subs_key *k = subs->buckets[i];

		while (k) {
			struct subs_key *next = k->next;
			struct subs_member *m = k->members;

			while (m) {
				struct subs_member *mn = m->next;

				free(m);
				m = mn;
			}
			free(k->key);
			free(k);
			k = next;
		}
	}
	free(subs->buckets);
	free(subs);
}

static struct subs_key **
subs_slot(struct subs *subs, const char *key, size_t len, uint64_t h)
{
	struct subs_key **pk = &subs->buckets[h & (subs->nbuckets - 1)];

	while (*pk && !((*pk)->hash == h && (*pk)->len == len &&
	    memcmp((*pk)->key, key, len) == 0))
		pk = &(*pk)->next;
	return pk;
}

static void
subs_grow(struct subs *subs)
{
	size_t n = subs->nbuckets * 2;
	struct subs_key **b = calloc(n, sizeof(*b));

	if (!b)
		return;		/* keep the longer chains; still correct */
	for (size_t i = 0; i < subs->nbuckets; i++) {
		struct subs_key *k = subs->buckets[i];

		while (k) {
			struct subs_key *next = k->next;

			k->next = b[k->hash & (n - 1)];
			b[k->hash & (n - 1)] = k;
			k = next;
		}
	}
	free(subs->buckets);
	subs->buckets = b;
	subs->nbuckets = n;
}

int
subs_add(struct subs *subs, const char *key, size_t len, void *member)
{
	uint64_t h = subs_hash(key, len);
	struct subs_key **pk = subs_slot(subs, key, len, h);
	struct subs_member *m = malloc(sizeof(*m));

	if (!m)
		return -1;
	if (!*pk) {
		struct subs_key *k = calloc(1, sizeof(*k));

		if (!k || !(k->key = malloc(len ? len : 1))) {
			free(k);
			free(m);
			return -1;
		}
		memcpy(k->key, key, len);
		k->len = len;
		k->hash = h;
		*pk = k;
		subs->nkeys++;
	}
	m->member = member;
	m->next = (*pk)->members;
	(*pk)->members = m;
	if (subs->nkeys > subs->nbuckets)
		subs_grow(subs);
	return 0;
}

void
subs_remove(struct subs *subs, const char *key, size_t len, void *member)
{
	uint64_t h = subs_hash(key, len);
	struct subs_key **pk = subs_slot(subs, key, len, h);
	struct subs_member **pm;

	if (!*pk)
		return;
	for (pm = &(*pk)->members; *pm; pm = &(*pm)->next) {
		if ((*pm)->member == member) {
			struct subs_member *m = *pm;

			*pm = m->next;
			free(m);
			break;
		}
	}
	if (!(*pk)->members) {
		struct subs_key *k = *pk;

		*pk = k->next;
		free(k->key);
		free(k);
		subs->nkeys--;
	}
}

void
subs_each(struct subs *subs, const char *key, size_t len,
    void (*fn)(void *ctx, void *member), void *ctx)
{
	uint64_t h = subs_hash(key, len);
	struct subs_key *k = *subs_slot(subs, key, len, h);

	for (struct subs_member *m = k ? k->members : NULL; m; m = m->next)
		fn(ctx, m->member);
}

size_t
subs_key_count(const struct subs *subs)
{
	return subs->nkeys;
}
