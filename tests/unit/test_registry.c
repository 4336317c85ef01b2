/* SPDX-License-Identifier: BSD-2-Clause */
/* The registry: killing streams from inside walks never frees them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "registry.h"

static int freed;

static struct stream *
make_stream(const char *key)
{
	struct stream *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->keys[0] = strdup(key);
	s->key_lens[0] = strlen(key);
	s->user = s->keys[0];
	s->user_len = s->key_lens[0];
	s->nkeys = 1;
	return s;
}

static void
on_free(void *ctx, struct stream *s)
{
	(void)ctx;
	freed++;
	free(s->keys[0]);
	free(s);
}

struct killer {
	struct registry *reg;
	struct stream **all;
	size_t n;
	int seen;
};

/* The walk's first visit kills every stream, itself and the next ones
 * included; a freed member would be read by the walk (ASan). */
static void
kill_all(void *ctx, struct stream *s)
{
	struct killer *k = ctx;

	(void)s;
	k->seen++;
	for (size_t i = 0; i < k->n; i++)
		registry_kill(k->reg, k->all[i], "test");
}

static void
test_kill_inside_key_walk(void **state)
{
	struct registry *reg = registry_new();
	struct stream *all[4];
	struct killer k = { reg, all, 4, 0 };

	(void)state;
	freed = 0;
	for (size_t i = 0; i < 4; i++) {
		all[i] = make_stream("alice");
		assert_int_equal(registry_add(reg, all[i], 1.0), 0);
	}
	registry_each_for_key(reg, "alice", 5, kill_all, &k);
	assert_int_equal(k.seen, 1);		/* the dead are skipped */
	assert_int_equal(registry_count(reg), 0);
	assert_int_equal(freed, 0);		/* nothing freed mid-walk */
	registry_reap(reg, on_free, NULL);
	assert_int_equal(freed, 4);
	registry_free(reg, on_free, NULL);
}

static void
test_kill_inside_ring_walk(void **state)
{
	struct registry *reg = registry_new();
	struct stream *all[3];
	struct killer k = { reg, all, 3, 0 };

	(void)state;
	freed = 0;
	for (size_t i = 0; i < 3; i++) {
		all[i] = make_stream(i == 1 ? "bob" : "alice");
		assert_int_equal(registry_add(reg, all[i], 1.0), 0);
	}
	registry_each(reg, kill_all, &k);
	assert_int_equal(k.seen, 1);
	assert_null(registry_oldest(reg));
	registry_reap(reg, on_free, NULL);
	assert_int_equal(freed, 3);
	registry_free(reg, on_free, NULL);
}

/* A stream on a work list is reaped only once it left the list. */
static void
test_reap_waits_for_work_lists(void **state)
{
	struct registry *reg = registry_new();
	struct stream *s = make_stream("alice");

	(void)state;
	freed = 0;
	assert_int_equal(registry_add(reg, s, 1.0), 0);
	registry_mark_dirty(reg, s);
	registry_kill(reg, s, "test");
	registry_reap(reg, on_free, NULL);
	assert_int_equal(freed, 0);
	assert_ptr_equal(registry_next_dirty(reg), s);
	registry_reap(reg, on_free, NULL);
	assert_int_equal(freed, 1);
	registry_free(reg, on_free, NULL);
}

struct toucher {
	struct registry *reg;
	int visits;
};

static void
touch_each(void *ctx, struct stream *s)
{
	struct toucher *t = ctx;

	t->visits++;
	registry_touch(t->reg, s, 2.0);
}

/* A walk that moves each stream to the end sees each once. */
static void
test_touch_inside_walk_visits_once(void **state)
{
	struct registry *reg = registry_new();
	struct toucher t = { reg, 0 };

	(void)state;
	freed = 0;
	for (int i = 0; i < 5; i++)
		assert_int_equal(registry_add(reg, make_stream("k"), 1.0), 0);
	registry_each(reg, touch_each, &t);
	assert_int_equal(t.visits, 5);
	registry_free(reg, on_free, NULL);
	assert_int_equal(freed, 5);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_inside_key_walk),
		cmocka_unit_test(test_kill_inside_ring_walk),
		cmocka_unit_test(test_reap_waits_for_work_lists),
		cmocka_unit_test(test_touch_inside_walk_visits_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
