/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for buf.c: growth, the hard cap, the sticky flag, numbers. */
#include "buf.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Growing one byte at a time keeps every byte, and size covers len. */
static void
test_growth(void **state)
{
	struct buf b;
	size_t i;

	(void)state;
	buf_init(&b, 1 << 20);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.size, 0);
	for (i = 0; i < 100000; i++) {
		assert_int_equal(buf_append_char(&b, (char)(i % 251)), 0);
		assert_true(b.size >= b.len);
		assert_true(b.size <= b.cap);
	}
	assert_int_equal(b.len, 100000);
	for (i = 0; i < b.len; i++)
		assert_int_equal((unsigned char)b.data[i], i % 251);
	assert_int_equal(b.failed, 0);
	buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

/* One big append past the first allocation grows in one step. */
static void
test_growth_big_append(void **state)
{
	static char big[5000];
	struct buf b;

	(void)state;
	memset(big, 'x', sizeof(big));
	buf_init(&b, 1 << 20);
	assert_int_equal(buf_append_str(&b, "ab"), 0);
	assert_int_equal(buf_append(&b, big, sizeof(big)), 0);
	assert_int_equal(b.len, 2 + sizeof(big));
	assert_memory_equal(b.data, "ab", 2);
	assert_memory_equal(b.data + 2, big, sizeof(big));
	buf_free(&b);
}

struct cap_case {
	const char *label;
	size_t cap;
	size_t first;		/* bytes appended first */
	int first_rc;
	size_t second;		/* then these */
	int second_rc;
	size_t len;		/* bytes held at the end */
};

static const struct cap_case cap_cases[] = {
	{ "cap 0 refuses a byte", 0, 1, -1, 0, -1, 0 },
	{ "cap 0, empty append", 0, 0, 0, 0, 0, 0 },
	{ "exactly the cap", 10, 10, 0, 0, 0, 10 },
	{ "one past the cap", 10, 11, -1, 0, -1, 0 },
	{ "fills, then one more", 10, 10, 0, 1, -1, 10 },
	{ "two appends to the cap", 10, 4, 0, 6, 0, 10 },
	{ "second overflows", 10, 5, 0, 6, -1, 5 },
	{ "cap under the first block", 100, 100, 0, 0, 0, 100 },
	{ "cap over the first block", 300, 300, 0, 1, -1, 300 },
	{ NULL, 0, 0, 0, 0, 0, 0 },
};

/* The cap is a hard limit: a refused append leaves the contents alone. */
static void
test_cap(void **state)
{
	static char bytes[512];
	const struct cap_case *c;

	(void)state;
	memset(bytes, 'q', sizeof(bytes));
	for (c = cap_cases; c->label; c++) {
		struct buf b;

		buf_init(&b, c->cap);
		print_message("%s\n", c->label);
		assert_int_equal(buf_append(&b, bytes, c->first),
		    c->first_rc);
		assert_int_equal(buf_append(&b, bytes, c->second),
		    c->second_rc);
		assert_int_equal(b.len, c->len);
		assert_int_equal(b.failed, c->second_rc == -1);
		assert_true(b.size <= c->cap);
		buf_free(&b);
	}
}

/* After one failure every append fails, even one that would fit. */
static void
test_sticky_failed(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(buf_append_str(&b, "abcd"), 0);
	assert_int_equal(buf_append_str(&b, "efghi"), -1);
	assert_int_equal(b.failed, 1);
	assert_int_equal(b.len, 4);
	assert_int_equal(buf_append_char(&b, 'e'), -1);
	assert_int_equal(buf_append(&b, "", 0), -1);
	assert_int_equal(buf_append_str(&b, ""), -1);
	assert_int_equal(buf_append_i64(&b, 1), -1);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "abcd", 4);

	/* reset forgets the failure along with the contents */
	buf_reset(&b);
	assert_int_equal(b.failed, 0);
	assert_int_equal(b.len, 0);
	assert_int_equal(buf_append_str(&b, "12345678"), 0);
	assert_memory_equal(b.data, "12345678", 8);
	buf_free(&b);
}

/* reset keeps the memory for reuse. */
static void
test_reset_keeps_memory(void **state)
{
	struct buf b;
	char *before;
	size_t size;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(buf_append_str(&b, "hello"), 0);
	before = b.data;
	size = b.size;
	buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_ptr_equal(b.data, before);
	assert_int_equal(b.size, size);
	assert_int_equal(buf_append_str(&b, "world"), 0);
	assert_memory_equal(b.data, "world", 5);
	buf_free(&b);
	buf_free(&b);
	buf_free(NULL);
}

struct consume_case {
	const char *label;
	const char *content;
	size_t n;
	const char *left;
};

static const struct consume_case consume_cases[] = {
	{ "nothing", "hello world", 0, "hello world" },
	{ "a prefix", "hello world", 6, "world" },
	{ "all but one", "hello world", 10, "d" },
	{ "exactly all", "hello world", 11, "" },
	{ "more than all", "hello world", 1000, "" },
	{ "from empty", "", 5, "" },
	{ NULL, NULL, 0, NULL },
};

static void
test_consume(void **state)
{
	const struct consume_case *c;

	(void)state;
	for (c = consume_cases; c->label; c++) {
		struct buf b;
		size_t left = strlen(c->left);

		print_message("%s\n", c->label);
		buf_init(&b, 1024);
		assert_int_equal(buf_append_str(&b, c->content), 0);
		buf_consume(&b, c->n);
		assert_int_equal(b.len, left);
		if (left > 0)
			assert_memory_equal(b.data, c->left, left);
		/* what remains can still grow */
		assert_int_equal(buf_append_str(&b, "!"), 0);
		assert_int_equal(b.len, left + 1);
		assert_int_equal(b.data[left], '!');
		buf_free(&b);
	}
}

/*
 * Bytes moved inside the buffer by a call, seen from outside: data
 * should stay put (append) or move forward by what was consumed; if it
 * did not, the len bytes held were copied (memmove or realloc).
 */
static size_t
moved_by(const char *before, size_t forward, const struct buf *b)
{
	if (b->len == 0 || b->data == before + forward)
		return 0;
	return b->len;
}

/*
 * A large backlog sent in many small pieces (partial writes) costs each
 * byte one move at most, not one per piece: 1 MiB in 7-byte pieces moved
 * 75 GB before.
 */
static void
test_consume_many_small_is_linear(void **state)
{
	enum { TOTAL = 1 << 20, PIECE = 7 };
	struct buf b;
	char *block = malloc(TOTAL);
	size_t moved = 0;
	size_t done = 0;

	(void)state;
	assert_non_null(block);
	for (size_t i = 0; i < TOTAL; i++)
		block[i] = (char)(i % 251);
	buf_init(&b, TOTAL);
	assert_int_equal(buf_append(&b, block, TOTAL), 0);
	while (b.len > 0) {
		const char *before = b.data;
		size_t n = b.len < PIECE ? b.len : PIECE;

		buf_consume(&b, n);
		done += n;
		moved += moved_by(before, n, &b);
		assert_int_equal(b.len, TOTAL - done);
		if (b.len > 0)
			assert_int_equal((unsigned char)b.data[0],
			    done % 251);
	}
	assert_int_equal(done, TOTAL);
	assert_true(moved <= TOTAL);
	/* Empty again: the next append starts at the allocation. */
	assert_int_equal(b.off, 0);
	assert_int_equal(buf_append_str(&b, "x"), 0);
	assert_int_equal(b.off, 0);
	buf_free(&b);
	free(block);
}

/*
 * A stream's life: rows appended, partial writes consumed, the backlog
 * kept around 64 KiB. The contents stay right, and the bytes moved
 * (compaction and growth) stay within a small multiple of the bytes
 * appended.
 */
static void
test_backlog_sliding_is_linear(void **state)
{
	enum { ROW = 1000, ROWS = 20000, HIGH = 64 * 1024 };
	static const size_t pieces[] = { 333, 4096, 1, 65536, 17 };
	struct buf b;
	char row[ROW];
	size_t appended = 0;
	size_t consumed = 0;
	size_t moved = 0;
	size_t turn = 0;

	(void)state;
	buf_init(&b, 256 * 1024 * 1024);
	for (int r = 0; r < ROWS; r++) {
		const char *before = b.data;

		for (size_t i = 0; i < ROW; i++)
			row[i] = (char)((appended + i) % 251);
		assert_int_equal(buf_append(&b, row, ROW), 0);
		appended += ROW;
		if (before && b.data != before)
			moved += b.len - ROW;
		while (b.len > HIGH || (r % 7 == 0 && b.len > 0)) {
			size_t n = pieces[turn++ % 5];

			if (n > b.len)
				n = b.len;
			before = b.data;
			buf_consume(&b, n);
			consumed += n;
			moved += moved_by(before, n, &b);
		}
		assert_int_equal(b.len, appended - consumed);
		for (size_t i = 0; i < b.len; i += 97)
			assert_int_equal((unsigned char)b.data[i],
			    (consumed + i) % 251);
		assert_true(b.off + b.len <= b.size);
		assert_true(b.size <= 4 * HIGH);
	}
	assert_true(moved <= 2 * appended);
	buf_free(&b);
}

/* At the cap the consumed prefix is given back rather than refusing. */
static void
test_cap_reuses_consumed_prefix(void **state)
{
	static char bytes[1000];
	struct buf b;

	(void)state;
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (char)('a' + i % 26);
	buf_init(&b, 1000);
	assert_int_equal(buf_append(&b, bytes, 1000), 0);
	buf_consume(&b, 600);
	assert_int_equal(b.len, 400);
	assert_memory_equal(b.data, bytes + 600, 400);
	assert_int_equal(buf_append(&b, bytes, 500), 0);
	assert_int_equal(b.len, 900);
	assert_true(b.size <= b.cap);
	assert_memory_equal(b.data, bytes + 600, 400);
	assert_memory_equal(b.data + 400, bytes, 500);
	/* Over the cap counts what is held, not what was consumed. */
	assert_int_equal(buf_append(&b, bytes, 101), -1);
	assert_int_equal(b.len, 900);
	/* reset and free after a consume give back the whole allocation */
	buf_consume(&b, 10);
	buf_reset(&b);
	assert_int_equal(b.off, 0);
	assert_int_equal(buf_append(&b, bytes, 1000), 0);
	assert_memory_equal(b.data, bytes, 1000);
	buf_consume(&b, 999);
	buf_free(&b);
	assert_null(b.data);
}

struct i64_case {
	long long v;
	const char *text;
};

static const struct i64_case i64_cases[] = {
	{ 0, "0" },
	{ 1, "1" },
	{ -1, "-1" },
	{ 9, "9" },
	{ 10, "10" },
	{ 1234567890123LL, "1234567890123" },
	{ INT64_MAX, "9223372036854775807" },
	{ INT64_MIN, "-9223372036854775808" },
	{ INT64_MIN + 1, "-9223372036854775807" },
	{ 0, NULL },
};

static void
test_i64(void **state)
{
	const struct i64_case *c;

	(void)state;
	for (c = i64_cases; c->text; c++) {
		struct buf b;

		buf_init(&b, 64);
		assert_int_equal(buf_append_char(&b, '['), 0);
		assert_int_equal(buf_append_i64(&b, c->v), 0);
		assert_int_equal(buf_append_char(&b, ']'), 0);
		assert_int_equal(b.len, strlen(c->text) + 2);
		assert_memory_equal(b.data + 1, c->text, strlen(c->text));
		assert_int_equal(b.data[b.len - 1], ']');
		buf_free(&b);
	}
}

/* A number that does not fit is refused whole, not cut. */
static void
test_i64_cap(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 19);
	assert_int_equal(buf_append_i64(&b, INT64_MIN), -1);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.failed, 1);
	buf_free(&b);

	buf_init(&b, 20);
	assert_int_equal(buf_append_i64(&b, INT64_MIN), 0);
	assert_int_equal(b.len, 20);
	buf_free(&b);
}

static void
test_append_str_char(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 64);
	assert_int_equal(buf_append_str(&b, "ab"), 0);
	assert_int_equal(buf_append_str(&b, ""), 0);
	assert_int_equal(buf_append_char(&b, '\0'), 0);
	assert_int_equal(buf_append_char(&b, 'c'), 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "ab\0c", 4);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_growth_big_append),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_sticky_failed),
		cmocka_unit_test(test_reset_keeps_memory),
		cmocka_unit_test(test_consume),
		cmocka_unit_test(test_consume_many_small_is_linear),
		cmocka_unit_test(test_backlog_sliding_is_linear),
		cmocka_unit_test(test_cap_reuses_consumed_prefix),
		cmocka_unit_test(test_i64),
		cmocka_unit_test(test_i64_cap),
		cmocka_unit_test(test_append_str_char),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
