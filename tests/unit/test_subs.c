/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for subs.c: the key -> members index. */
#include "subs.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* A string literal and its length, NUL bytes included. */
#define LIT(s) s, sizeof(s) - 1

#define MAX_SEEN 16

/* What subs_each reported. */
struct seen {
	void *members[MAX_SEEN];
	size_t n;
};

static void
seen_add(void *ctx, void *member)
{
	struct seen *s = ctx;

	assert_true(s->n < MAX_SEEN);
	s->members[s->n++] = member;
}

static size_t
seen_count(const struct seen *s, const void *member)
{
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++)
		n += s->members[i] == member;
	return n;
}

/* Assert that key holds exactly the members in want (NULL-terminated). */
static void
expect_members(struct subs *subs, const char *key, size_t len,
    void *const *want)
{
	struct seen s = { { NULL }, 0 };
	size_t n = 0;

	subs_each(subs, key, len, seen_add, &s);
	for (; want[n]; n++)
		assert_int_equal(seen_count(&s, want[n]), 1);
	assert_int_equal(s.n, n);
}

static void
test_add_each_remove(void **state)
{
	struct subs *subs = subs_new();
	int a;
	int b;
	int c;
	int d;

	(void)state;
	assert_non_null(subs);
	assert_int_equal(subs_key_count(subs), 0);
	expect_members(subs, LIT("u1"), (void *[]){ NULL });

	assert_int_equal(subs_add(subs, LIT("u1"), &a), 0);
	assert_int_equal(subs_add(subs, LIT("u1"), &b), 0);
	assert_int_equal(subs_add(subs, LIT("u1"), &c), 0);
	assert_int_equal(subs_add(subs, LIT("u2"), &d), 0);
	assert_int_equal(subs_key_count(subs), 2);
	expect_members(subs, LIT("u1"), (void *[]){ &a, &b, &c, NULL });
	expect_members(subs, LIT("u2"), (void *[]){ &d, NULL });
	expect_members(subs, LIT("u3"), (void *[]){ NULL });

	/* absent member, absent key: no-ops */
	subs_remove(subs, LIT("u1"), &d);
	subs_remove(subs, LIT("u3"), &a);
	assert_int_equal(subs_key_count(subs), 2);
	expect_members(subs, LIT("u1"), (void *[]){ &a, &b, &c, NULL });

	subs_remove(subs, LIT("u1"), &b);
	expect_members(subs, LIT("u1"), (void *[]){ &a, &c, NULL });
	assert_int_equal(subs_key_count(subs), 2);
	subs_remove(subs, LIT("u1"), &a);
	subs_remove(subs, LIT("u1"), &c);
	expect_members(subs, LIT("u1"), (void *[]){ NULL });
	assert_int_equal(subs_key_count(subs), 1);

	/* the key can come back after it was dropped */
	assert_int_equal(subs_add(subs, LIT("u1"), &b), 0);
	expect_members(subs, LIT("u1"), (void *[]){ &b, NULL });
	assert_int_equal(subs_key_count(subs), 2);

	subs_remove(subs, LIT("u2"), &d);
	subs_remove(subs, LIT("u1"), &b);
	assert_int_equal(subs_key_count(subs), 0);
	subs_remove(subs, LIT("u1"), &b);
	assert_int_equal(subs_key_count(subs), 0);
	subs_free(subs);
	subs_free(NULL);
}

/* One member may follow several keys (its user and channels). */
static void
test_member_under_several_keys(void **state)
{
	struct subs *subs = subs_new();
	int a;
	int b;

	(void)state;
	assert_non_null(subs);
	assert_int_equal(subs_add(subs, LIT("42"), &a), 0);
	assert_int_equal(subs_add(subs, LIT("room:7"), &a), 0);
	assert_int_equal(subs_add(subs, LIT("room:7"), &b), 0);
	assert_int_equal(subs_key_count(subs), 2);
	expect_members(subs, LIT("42"), (void *[]){ &a, NULL });
	expect_members(subs, LIT("room:7"), (void *[]){ &a, &b, NULL });
	subs_remove(subs, LIT("room:7"), &a);
	expect_members(subs, LIT("42"), (void *[]){ &a, NULL });
	expect_members(subs, LIT("room:7"), (void *[]){ &b, NULL });
	/* freed with members still in it */
	subs_free(subs);
}

struct key_case {
	const char *key;
	size_t len;
};

/* Keys that share prefixes or differ only after a NUL byte. */
static const struct key_case key_cases[] = {
	{ LIT("") },
	{ LIT("\0") },
	{ LIT("\0\0") },
	{ LIT("a") },
	{ LIT("a\0") },
	{ LIT("a\0b") },
	{ LIT("a\0c") },
	{ LIT("\0a") },
	{ LIT("use") },
	{ LIT("user") },
	{ LIT("user1") },
	{ LIT("user\0") },
	{ LIT("user\0" "1") },
	{ LIT("username") },
	{ LIT("User") },
	{ NULL, 0 },
};

static void
test_nul_and_prefix_keys(void **state)
{
	struct subs *subs = subs_new();
	int members[32];
	size_t n = 0;

	(void)state;
	assert_non_null(subs);
	for (const struct key_case *c = key_cases; c->key; c++, n++)
		assert_int_equal(subs_add(subs, c->key, c->len, &members[n]),
		    0);
	assert_int_equal(subs_key_count(subs), n);
	for (size_t i = 0; i < n; i++) {
		const struct key_case *c = &key_cases[i];

		expect_members(subs, c->key, c->len,
		    (void *[]){ &members[i], NULL });
	}
	/* removing each key leaves every other one alone */
	for (size_t i = 0; i < n; i++) {
		subs_remove(subs, key_cases[i].key, key_cases[i].len,
		    &members[i]);
		assert_int_equal(subs_key_count(subs), n - i - 1);
		for (size_t j = i + 1; j < n; j++)
			expect_members(subs, key_cases[j].key,
			    key_cases[j].len, (void *[]){ &members[j], NULL });
	}
	subs_free(subs);
}

/* subs_add copies the key: the caller's bytes may change afterwards. */
static void
test_key_copied(void **state)
{
	struct subs *subs = subs_new();
	char key[8];
	int a;

	(void)state;
	assert_non_null(subs);
	memcpy(key, "abc", 3);
	assert_int_equal(subs_add(subs, key, 3, &a), 0);
	memcpy(key, "xyz", 3);
	expect_members(subs, LIT("abc"), (void *[]){ &a, NULL });
	expect_members(subs, key, 3, (void *[]){ NULL });
	subs_free(subs);
}

#define MANY 10000

/* Far more keys than the first 64 buckets: the index grows, loses none. */
static void
test_many_keys(void **state)
{
	struct subs *subs = subs_new();
	int *members = calloc(MANY, sizeof(*members));
	char key[32];
	int len;

	(void)state;
	assert_non_null(subs);
	assert_non_null(members);
	for (int i = 0; i < MANY; i++) {
		len = snprintf(key, sizeof(key), "user-%d", i);
		assert_int_equal(subs_add(subs, key, (size_t)len, &members[i]),
		    0);
		assert_int_equal(subs_key_count(subs), (size_t)i + 1);
	}
	/* a second member on every tenth key */
	for (int i = 0; i < MANY; i += 10) {
		len = snprintf(key, sizeof(key), "user-%d", i);
		assert_int_equal(subs_add(subs, key, (size_t)len,
		    &members[(i + 1) % MANY]), 0);
	}
	assert_int_equal(subs_key_count(subs), MANY);
	for (int i = 0; i < MANY; i++) {
		len = snprintf(key, sizeof(key), "user-%d", i);
		if (i % 10 == 0)
			expect_members(subs, key, (size_t)len, (void *[]){
			    &members[i], &members[(i + 1) % MANY], NULL });
		else
			expect_members(subs, key, (size_t)len,
			    (void *[]){ &members[i], NULL });
	}
	expect_members(subs, LIT("user-10000"), (void *[]){ NULL });

	/* remove the odd keys, then check the even ones are intact */
	for (int i = 1; i < MANY; i += 2) {
		len = snprintf(key, sizeof(key), "user-%d", i);
		subs_remove(subs, key, (size_t)len, &members[i]);
	}
	assert_int_equal(subs_key_count(subs), MANY / 2);
	for (int i = 0; i < MANY; i++) {
		len = snprintf(key, sizeof(key), "user-%d", i);
		if (i % 2 == 1)
			expect_members(subs, key, (size_t)len,
			    (void *[]){ NULL });
		else if (i % 10 == 0)
			expect_members(subs, key, (size_t)len, (void *[]){
			    &members[i], &members[(i + 1) % MANY], NULL });
		else
			expect_members(subs, key, (size_t)len,
			    (void *[]){ &members[i], NULL });
	}

	/* a key with two members stays until both are gone */
	for (int i = 0; i < MANY; i += 2) {
		len = snprintf(key, sizeof(key), "user-%d", i);
		subs_remove(subs, key, (size_t)len, &members[i]);
	}
	assert_int_equal(subs_key_count(subs), MANY / 10);
	for (int i = 0; i < MANY; i += 10) {
		len = snprintf(key, sizeof(key), "user-%d", i);
		subs_remove(subs, key, (size_t)len, &members[(i + 1) % MANY]);
	}
	assert_int_equal(subs_key_count(subs), 0);
	subs_free(subs);
	free(members);
}

/* Every key hashes alike: only a byte comparison tells them apart. */
static uint64_t
collide_all(const char *key, size_t len)
{
	(void)key;
	(void)len;
	return 42;
}

static uint64_t (*saved_hash)(const char *, size_t);

static int
force_collisions(void **state)
{
	(void)state;
	saved_hash = subs_hash;
	subs_hash = collide_all;
	return 0;
}

static int
restore_hash(void **state)
{
	(void)state;
	subs_hash = saved_hash;
	return 0;
}

#define COLLIDING 300

/*
 * With every key in one chain (and past the growth of the bucket array,
 * which must keep the chain whole), distinct keys stay distinct: same
 * length, prefixes of each other, or differing only after a NUL.
 */
static void
test_colliding_keys_stay_distinct(void **state)
{
	struct subs *subs = subs_new();
	int members[COLLIDING];
	char key[32];
	int len;

	(void)state;
	assert_ptr_equal(subs_hash, collide_all);
	assert_non_null(subs);
	for (int i = 0; i < COLLIDING; i++) {
		len = snprintf(key, sizeof(key), "u%d", i);
		assert_int_equal(subs_add(subs, key, (size_t)len, &members[i]),
		    0);
	}
	assert_int_equal(subs_key_count(subs), COLLIDING);
	for (int i = 0; i < COLLIDING; i++) {
		len = snprintf(key, sizeof(key), "u%d", i);
		expect_members(subs, key, (size_t)len,
		    (void *[]){ &members[i], NULL });
	}
	/* absent keys that share the chain, a length, or a prefix */
	expect_members(subs, LIT("u"), (void *[]){ NULL });
	expect_members(subs, LIT("u300"), (void *[]){ NULL });
	expect_members(subs, LIT("v1"), (void *[]){ NULL });
	expect_members(subs, LIT("u1\0"), (void *[]){ NULL });
	/* removing under one key leaves the others alone */
	for (int i = 0; i < COLLIDING; i += 2) {
		len = snprintf(key, sizeof(key), "u%d", i);
		subs_remove(subs, key, (size_t)len, &members[i]);
		/* a member that is not under this key: a no-op */
		subs_remove(subs, key, (size_t)len, &members[i + 1]);
	}
	assert_int_equal(subs_key_count(subs), COLLIDING / 2);
	for (int i = 0; i < COLLIDING; i++) {
		len = snprintf(key, sizeof(key), "u%d", i);
		if (i % 2)
			expect_members(subs, key, (size_t)len,
			    (void *[]){ &members[i], NULL });
		else
			expect_members(subs, key, (size_t)len,
			    (void *[]){ NULL });
	}
	subs_free(subs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_each_remove),
		cmocka_unit_test(test_member_under_several_keys),
		cmocka_unit_test(test_nul_and_prefix_keys),
		cmocka_unit_test(test_key_copied),
		cmocka_unit_test(test_many_keys),
		/* the NUL and prefix cases again, all in one chain */
		cmocka_unit_test_setup_teardown(test_nul_and_prefix_keys,
		    force_collisions, restore_hash),
		cmocka_unit_test_setup_teardown(test_colliding_keys_stay_distinct,
		    force_collisions, restore_hash),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
