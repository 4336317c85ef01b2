/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for rowring.c: one writer, readers that never get a wrong
 * row (lapped, damaged, another writer, too large: told to read the
 * database instead). */
#include "rowring.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

struct ring_fixture {
	struct rowring_head h;
	unsigned char *data;
	struct rowring w;	/* the writer */
};

struct taken {
	long long ids[4096];
	char users[4096][16];
	char data[4096][32];
	int to[4096];
	int null_event[4096];
	int n;
	int stop_at;		/* -1 from fn at this count; 0: never */
};

static int
ring_setup(void **state)
{
	struct ring_fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->data = calloc(1, ROWRING_BYTES);
	assert_non_null(f->data);
	rowring_init(&f->w, &f->h, f->data);
	rowring_take_over(&f->w);
	*state = f;
	return 0;
}

static int
ring_teardown(void **state)
{
	struct ring_fixture *f = *state;

	free(f->data);
	free(f);
	return 0;
}

static void
put(struct ring_fixture *f, long long id, const char *user, const char *data)
{
	struct outbox_row row = { 0 };

	row.id = id;
	row.user_id = user;
	row.user_len = user ? strlen(user) : 0;
	row.to = user ? OUTBOX_TO_KEY : OUTBOX_TO_ALL;
	row.event = user ? "note" : NULL;
	row.event_len = user ? 4 : 0;
	row.data = data;
	row.data_len = strlen(data);
	rowring_append(&f->w, &row);
}

static int
take(void *ctx, const struct outbox_row *row)
{
	struct taken *t = ctx;

	if (t->stop_at && t->n == t->stop_at)
		return -1;
	t->ids[t->n] = row->id;
	snprintf(t->users[t->n], sizeof(t->users[0]), "%.*s",
	    (int)row->user_len, row->user_id ? row->user_id : "");
	snprintf(t->data[t->n], sizeof(t->data[0]), "%.*s",
	    (int)row->data_len, row->data);
	t->to[t->n] = (int)row->to;
	t->null_event[t->n] = row->event == NULL;
	t->n++;
	return 0;
}

static enum rowring_result
read_all(struct ring_fixture *f, struct rowring_pos *pos, long long after,
    struct taken *t, long long *last)
{
	struct rowring r;

	rowring_init(&r, &f->h, f->data);
	return rowring_read(&r, pos, after, take, t, last);
}

static void
test_published_rows_are_read_in_order(void **state)
{
	struct ring_fixture *f = *state;
	struct rowring_pos pos;
	struct taken *t = calloc(1, sizeof(*t));
	long long last;

	rowring_here(&f->w, &pos);
	put(f, 1, "alice", "{\"a\":1}");
	put(f, 2, NULL, "{\"all\":2}");
	put(f, 3, "bob", "{\"b\":3}");
	/* Not published yet: nothing to read. */
	assert_int_equal(read_all(f, &pos, 0, t, &last), ROWRING_OK);
	assert_int_equal(t->n, 0);
	rowring_publish(&f->w);
	assert_int_equal(read_all(f, &pos, 0, t, &last), ROWRING_OK);
	assert_int_equal(t->n, 3);
	assert_int_equal(last, 3);
	assert_int_equal(t->ids[0], 1);
	assert_string_equal(t->users[0], "alice");
	assert_string_equal(t->data[0], "{\"a\":1}");
	assert_int_equal(t->to[0], OUTBOX_TO_KEY);
	assert_false(t->null_event[0]);
	assert_int_equal(t->to[1], OUTBOX_TO_ALL);
	assert_true(t->null_event[1]);
	assert_string_equal(t->users[2], "bob");
	/* Read again: nothing new. */
	assert_int_equal(read_all(f, &pos, 3, t, &last), ROWRING_OK);
	assert_int_equal(t->n, 3);
	free(t);
}

static void
test_rows_already_had_are_skipped(void **state)
{
	struct ring_fixture *f = *state;
	struct rowring_pos pos;
	struct taken *t = calloc(1, sizeof(*t));
	long long last;

	rowring_here(&f->w, &pos);
	for (int i = 1; i <= 5; i++)
		put(f, i, "u", "x");
	rowring_publish(&f->w);
	assert_int_equal(read_all(f, &pos, 3, t, &last), ROWRING_OK);
	assert_int_equal(t->n, 2);
	assert_int_equal(t->ids[0], 4);
	assert_int_equal(last, 5);
	free(t);
}

static void
test_wraps_around_the_end(void **state)
{
	struct ring_fixture *f = *state;
	struct rowring_pos pos;
	struct taken *t = calloc(1, sizeof(*t));
	char data[1000];
	long long last = 0;
	long long id = 0;

	memset(data, 'd', sizeof(data) - 1);
	data[sizeof(data) - 1] = '\0';
	rowring_here(&f->w, &pos);
	/* Three times round the ring, read as it goes. */
	for (int round = 0; round < 3 * (int)(ROWRING_BYTES / 1040) / 500;
	    round++) {
		for (int i = 0; i < 500; i++)
			put(f, ++id, "u", data);
		rowring_publish(&f->w);
		t->n = 0;
		assert_int_equal(read_all(f, &pos, last, t, &last),
		    ROWRING_OK);
		assert_int_equal(t->n, 500);
		assert_int_equal(last, id);
	}
	assert_true(pos.at > 2 * (uint64_t)ROWRING_BYTES);
	free(t);
}

static void
test_a_lapped_reader_is_told(void **state)
{
	struct ring_fixture *f = *state;
	struct rowring_pos pos;
	struct taken *t = calloc(1, sizeof(*t));
	char data[4000];
	long long last;

	memset(data, 'd', sizeof(data) - 1);
	data[sizeof(data) - 1] = '\0';
	rowring_here(&f->w, &pos);
	for (int i = 1; i <= (int)(ROWRING_BYTES / 4000) + 10; i++)
		put(f, i, "u", data);
	rowring_publish(&f->w);
	assert_int_equal(read_all(f, &pos, 0, t, &last), ROWRING_LOST);
	assert_int_equal(t->n, 0);
	assert_false(pos.valid);
	/* A void position stays void until taken again. */
	assert_int_equal(read_all(f, &pos, 0, t, &last), ROWRING_LOST);
	rowring_here(&f->w, &pos);
	put(f, 100000, "u", "x");
	rowring_publish(&f->w);
	assert_int_equal(read_all(f, &pos, 0, t, &last), ROWRING_OK);
	assert_int_equal(t->n, 1);
	free(t);
}

static void
test_a_damaged_entry_is_never_delivered(void **state)
{
	struct ring_fixture *f = *state;
	struct rowring_pos pos;
	struct taken *t = calloc(1, sizeof(*t));
	long long last;
	size_t at;

	rowring_here(&f->w, &pos);
	at = (size_t)(pos.at % ROWRING_BYTES);
	put(f, 1, "alice", "secret-of-alice");
	put(f, 2, "bob", "hello-bob");
	rowring_publish(&f->w);
	/* One byte of the first entry's recipient changes: alice -> blice. */
	f->data[at + 40] = 'b';
	assert_int_equal(read_all(f, &pos, 0, t, &last), ROWRING_LOST);
	assert_int_equal(t->n, 0);
	free(t);
}

static void
test_a_damaged_length_is_refused(void **state)
{
	struct ring_fixture *f = *state;
	struct rowring_pos pos;
	struct taken *t = calloc(1, sizeof(*t));
	long long last;
	size_t at;
	uint32_t len = 12;	/* not a multiple of 8, under a header */

	rowring_here(&f->w, &pos);
	at = (size_t)(pos.at % ROWRING_BYTES);
	put(f, 1, "alice", "x");
	rowring_publish(&f->w);
	memcpy(f->data + at, &len, sizeof(len));
	assert_int_equal(read_all(f, &pos, 0, t, &last), ROWRING_LOST);
	assert_int_equal(t->n, 0);
	free(t);
}

static void
test_a_new_writer_voids_old_positions(void **state)
{
	struct ring_fixture *f = *state;
	struct rowring_pos pos;
	struct rowring next;
	struct taken *t = calloc(1, sizeof(*t));
	long long last;

	rowring_here(&f->w, &pos);
	put(f, 1, "u", "x");
	/* The writer dies before publishing; another takes over. */
	rowring_init(&next, &f->h, f->data);
	rowring_take_over(&next);
	assert_true(atomic_load(&f->h.head) >= f->w.pend);
	assert_int_equal(read_all(f, &pos, 0, t, &last), ROWRING_LOST);
	rowring_here(&next, &pos);
	f->w = next;
	put(f, 1, "u", "x");
	put(f, 2, "u", "y");
	rowring_publish(&f->w);
	assert_int_equal(read_all(f, &pos, 0, t, &last), ROWRING_OK);
	assert_int_equal(t->n, 2);
	free(t);
}

static void
test_a_row_too_large_is_read_from_the_database(void **state)
{
	struct ring_fixture *f = *state;
	struct rowring_pos pos;
	struct taken *t = calloc(1, sizeof(*t));
	char *big = malloc(ROWRING_ENTRY_MAX + 1);
	long long last;

	assert_non_null(big);
	memset(big, 'b', ROWRING_ENTRY_MAX);
	big[ROWRING_ENTRY_MAX] = '\0';
	rowring_here(&f->w, &pos);
	put(f, 1, "u", "small");
	put(f, 2, "u", big);
	put(f, 3, "u", "after");
	rowring_publish(&f->w);
	assert_int_equal(read_all(f, &pos, 0, t, &last), ROWRING_LOST);
	/* The rows before it were given; the caller reads on from last. */
	assert_int_equal(t->n, 1);
	assert_int_equal(last, 1);
	free(big);
	free(t);
}

static void
test_a_callback_can_stop(void **state)
{
	struct ring_fixture *f = *state;
	struct rowring_pos pos;
	struct taken *t = calloc(1, sizeof(*t));
	long long last;

	rowring_here(&f->w, &pos);
	for (int i = 1; i <= 4; i++)
		put(f, i, "u", "x");
	rowring_publish(&f->w);
	t->stop_at = 2;
	assert_int_equal(read_all(f, &pos, 0, t, &last), ROWRING_LOST);
	assert_int_equal(t->n, 2);
	assert_int_equal(last, 2);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_published_rows_are_read_in_order, ring_setup,
		    ring_teardown),
		cmocka_unit_test_setup_teardown(
		    test_rows_already_had_are_skipped, ring_setup,
		    ring_teardown),
		cmocka_unit_test_setup_teardown(test_wraps_around_the_end,
		    ring_setup, ring_teardown),
		cmocka_unit_test_setup_teardown(test_a_lapped_reader_is_told,
		    ring_setup, ring_teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_damaged_entry_is_never_delivered, ring_setup,
		    ring_teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_damaged_length_is_refused, ring_setup,
		    ring_teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_new_writer_voids_old_positions, ring_setup,
		    ring_teardown),
		cmocka_unit_test_setup_teardown(
		    test_a_row_too_large_is_read_from_the_database,
		    ring_setup, ring_teardown),
		cmocka_unit_test_setup_teardown(test_a_callback_can_stop,
		    ring_setup, ring_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
