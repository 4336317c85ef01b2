/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for sse.c: framing, and reading it back as a browser would. */
#include "sse.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"

#define BIG_CAP (64 * 1024 * 1024)

/* A string literal and its length, NUL bytes included. */
#define LIT(s) s, sizeof(s) - 1

/* ---- a reader per the HTML Living Standard, 9.2.6 ---- */

/*
 * "Interpreting an event stream": lines end at CR LF, a lone CR or a lone
 * LF; an empty line dispatches; a line starting with ':' is a comment;
 * otherwise the field name runs to the first ':' and one leading space
 * of the value is dropped. "data" appends the value and a LF to the data
 * buffer, "event" sets the type, "id" (without NUL) sets the last event
 * ID, "retry" sets the delay. At dispatch an empty data buffer fires
 * nothing, else its final LF is removed. An unterminated last line is
 * discarded. Bytes are handled as bytes: UTF-8 decoding never turns CR,
 * LF or ':' into anything else.
 */
struct parsed {
	int events;		/* events dispatched */
	int id_fields;		/* every field line, by name */
	int event_fields;
	int data_fields;
	int retry_fields;
	int other_fields;
	int comments;
	size_t unterminated;	/* bytes of a last line without an end */
	struct buf type;	/* event type buffer */
	struct buf data;	/* data buffer */
	struct buf id;		/* last event ID buffer */
	struct buf ev_type;	/* the last dispatched event */
	struct buf ev_data;
	struct buf ev_id;
};

static void
parsed_init(struct parsed *p)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->type, BIG_CAP);
	buf_init(&p->data, BIG_CAP);
	buf_init(&p->id, BIG_CAP);
	buf_init(&p->ev_type, BIG_CAP);
	buf_init(&p->ev_data, BIG_CAP);
	buf_init(&p->ev_id, BIG_CAP);
}

static void
parsed_free(struct parsed *p)
{
	buf_free(&p->type);
	buf_free(&p->data);
	buf_free(&p->id);
	buf_free(&p->ev_type);
	buf_free(&p->ev_data);
	buf_free(&p->ev_id);
}

static void
copy_buf(struct buf *to, const struct buf *from)
{
	buf_reset(to);
	assert_int_equal(buf_append(to, from->data, from->len), 0);
}

static void
parse_dispatch(struct parsed *p)
{
	if (p->data.len == 0) {
		buf_reset(&p->type);
		return;
	}
	if (p->data.data[p->data.len - 1] == '\n')
		p->data.len--;
	p->events++;
	copy_buf(&p->ev_type, &p->type);
	copy_buf(&p->ev_data, &p->data);
	copy_buf(&p->ev_id, &p->id);
	buf_reset(&p->type);
	buf_reset(&p->data);
}

static void
parse_field(struct parsed *p, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	if (name_len == 5 && memcmp(name, "event", 5) == 0) {
		p->event_fields++;
		buf_reset(&p->type);
		assert_int_equal(buf_append(&p->type, value, value_len), 0);
	} else if (name_len == 4 && memcmp(name, "data", 4) == 0) {
		p->data_fields++;
		assert_int_equal(buf_append(&p->data, value, value_len), 0);
		assert_int_equal(buf_append_char(&p->data, '\n'), 0);
	} else if (name_len == 2 && memcmp(name, "id", 2) == 0) {
		p->id_fields++;
		if (!memchr(value, '\0', value_len)) {
			buf_reset(&p->id);
			assert_int_equal(buf_append(&p->id, value, value_len),
			    0);
		}
	} else if (name_len == 5 && memcmp(name, "retry", 5) == 0) {
		p->retry_fields++;
	} else {
		p->other_fields++;
	}
}

static void
parse_line(struct parsed *p, const char *line, size_t len)
{
	const char *colon;
	const char *value;
	size_t value_len;

	if (len == 0) {
		parse_dispatch(p);
		return;
	}
	if (line[0] == ':') {
		p->comments++;
		return;
	}
	colon = memchr(line, ':', len);
	if (!colon) {
		parse_field(p, line, len, "", 0);
		return;
	}
	value = colon + 1;
	value_len = len - (size_t)(value - line);
	if (value_len > 0 && value[0] == ' ') {
		value++;
		value_len--;
	}
	parse_field(p, line, (size_t)(colon - line), value, value_len);
}

static void
parse_stream(struct parsed *p, const char *s, size_t len)
{
	size_t start = 0;
	size_t i = 0;

	while (i < len) {
		if (s[i] != '\r' && s[i] != '\n') {
			i++;
			continue;
		}
		parse_line(p, s + start, i - start);
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
			i++;
		i++;
		start = i;
	}
	p->unterminated = len - start;
}

/* What a browser rebuilds from data: CR LF and lone CR become LF. */
static void
normalise_eol(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '\r') {
			assert_int_equal(buf_append_char(out, s[i]), 0);
			continue;
		}
		assert_int_equal(buf_append_char(out, '\n'), 0);
		if (i + 1 < len && s[i + 1] == '\n')
			i++;
	}
}

/* An event name as it must arrive: CR, LF and NUL dropped. */
static void
clean_name(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != '\r' && s[i] != '\n' && s[i] != '\0')
			assert_int_equal(buf_append_char(out, s[i]), 0);
}

static size_t
count_byte(const char *s, size_t len, char c)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += s[i] == c;
	return n;
}

/*
 * Frame one event, read it back, and check that exactly one event with
 * this id, name and data arrives, and no other field at all.
 */
static void
check_round_trip(long long id, const char *name, size_t name_len,
    const char *data, size_t data_len)
{
	struct buf out;
	struct buf want_name;
	struct buf want_data;
	struct buf want_id;
	struct parsed p;
	int cleaned = -1;

	buf_init(&out, BIG_CAP);
	buf_init(&want_name, BIG_CAP);
	buf_init(&want_data, BIG_CAP);
	buf_init(&want_id, 64);
	parsed_init(&p);

	assert_int_equal(sse_append_event(&out, id, name, name_len, data,
	    data_len, &cleaned), 0);
	if (name)
		clean_name(&want_name, name, name_len);
	normalise_eol(&want_data, data, data_len);
	assert_int_equal(buf_append_i64(&want_id, id), 0);
	assert_int_equal(cleaned, name ? want_name.len != name_len : 0);

	parse_stream(&p, out.data, out.len);
	assert_int_equal(p.unterminated, 0);
	assert_int_equal(p.events, 1);
	assert_int_equal(p.id_fields, 1);
	assert_int_equal(p.event_fields, want_name.len > 0);
	assert_int_equal(p.data_fields,
	    count_byte(want_data.data, want_data.len, '\n') + 1);
	assert_int_equal(p.retry_fields, 0);
	assert_int_equal(p.other_fields, 0);
	assert_int_equal(p.comments, 0);
	assert_int_equal(p.ev_id.len, want_id.len);
	assert_memory_equal(p.ev_id.data, want_id.data, want_id.len);
	assert_int_equal(p.ev_type.len, want_name.len);
	if (want_name.len > 0)
		assert_memory_equal(p.ev_type.data, want_name.data,
		    want_name.len);
	assert_int_equal(p.ev_data.len, want_data.len);
	if (want_data.len > 0)
		assert_memory_equal(p.ev_data.data, want_data.data,
		    want_data.len);
	/* nothing left over for a next event to pick up */
	assert_int_equal(p.data.len, 0);
	assert_int_equal(p.type.len, 0);

	parsed_free(&p);
	buf_free(&want_id);
	buf_free(&want_data);
	buf_free(&want_name);
	buf_free(&out);
}

/* ---- exact framing ---- */

struct data_case {
	const char *label;
	const char *data;
	size_t len;
	const char *want;	/* the data: lines */
	size_t want_len;
};

static const struct data_case data_cases[] = {
	{ "one line", LIT("a"), LIT("data: a\n") },
	{ "LF", LIT("a\nb"), LIT("data: a\ndata: b\n") },
	{ "CR", LIT("a\rb"), LIT("data: a\ndata: b\n") },
	{ "CR LF", LIT("a\r\nb"), LIT("data: a\ndata: b\n") },
	{ "LF CR is two ends", LIT("a\n\rb"),
	    LIT("data: a\ndata: \ndata: b\n") },
	{ "CR CR LF", LIT("a\r\r\nb"), LIT("data: a\ndata: \ndata: b\n") },
	{ "mixed", LIT("1\n2\r3\r\n4\n\r5"),
	    LIT("data: 1\ndata: 2\ndata: 3\ndata: 4\ndata: \ndata: 5\n") },
	{ "trailing LF", LIT("a\n"), LIT("data: a\ndata: \n") },
	{ "trailing CR", LIT("a\r"), LIT("data: a\ndata: \n") },
	{ "trailing CR LF", LIT("a\r\n"), LIT("data: a\ndata: \n") },
	{ "trailing LF CR", LIT("a\n\r"), LIT("data: a\ndata: \ndata: \n") },
	{ "leading LF", LIT("\na"), LIT("data: \ndata: a\n") },
	{ "empty line inside", LIT("a\n\nb"),
	    LIT("data: a\ndata: \ndata: b\n") },
	{ "only LF", LIT("\n"), LIT("data: \ndata: \n") },
	{ "only CR", LIT("\r"), LIT("data: \ndata: \n") },
	{ "only CR LF", LIT("\r\n"), LIT("data: \ndata: \n") },
	{ "only LF LF", LIT("\n\n"), LIT("data: \ndata: \ndata: \n") },
	{ "only CR CR", LIT("\r\r"), LIT("data: \ndata: \ndata: \n") },
	{ "only LF CR", LIT("\n\r"), LIT("data: \ndata: \ndata: \n") },
	{ "only CR LF CR LF", LIT("\r\n\r\n"),
	    LIT("data: \ndata: \ndata: \n") },
	{ "empty", LIT(""), LIT("data: \n") },
	{ "leading space kept", LIT(" a"), LIT("data:  a\n") },
	{ "colon first", LIT(":a"), LIT("data: :a\n") },
	{ "NUL passes", LIT("a\0b"), LIT("data: a\0b\n") },
	{ "forged fields", LIT("x\nid: 9\n\nevent: e\rretry: 1"),
	    LIT("data: x\ndata: id: 9\ndata: \ndata: event: e\n"
	    "data: retry: 1\n") },
	{ "JSON", LIT("{\"text\":\"hi\"}"),
	    LIT("data: {\"text\":\"hi\"}\n") },
	{ NULL, NULL, 0, NULL, 0 },
};

static void
test_data_lines(void **state)
{
	const struct data_case *c;

	(void)state;
	for (c = data_cases; c->label; c++) {
		struct buf b;
		struct buf want;
		int cleaned = -1;

		print_message("%s\n", c->label);
		buf_init(&b, 4096);
		buf_init(&want, 4096);
		assert_int_equal(buf_append_str(&want, "id: 1\n"), 0);
		assert_int_equal(buf_append(&want, c->want, c->want_len), 0);
		assert_int_equal(buf_append_char(&want, '\n'), 0);
		assert_int_equal(sse_append_event(&b, 1, NULL, 0, c->data,
		    c->len, &cleaned), 0);
		assert_int_equal(cleaned, 0);
		assert_int_equal(b.len, want.len);
		assert_memory_equal(b.data, want.data, want.len);
		check_round_trip(1, NULL, 0, c->data, c->len);
		buf_free(&want);
		buf_free(&b);
	}
}

/* NULL data is taken as empty: still one "data: " line. */
static void
test_null_data(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 4096);
	assert_int_equal(sse_append_event(&b, 3, NULL, 0, NULL, 0, NULL), 0);
	assert_int_equal(b.len, strlen("id: 3\ndata: \n\n"));
	assert_memory_equal(b.data, "id: 3\ndata: \n\n", b.len);
	buf_free(&b);
}

struct name_case {
	const char *label;
	const char *name;
	size_t len;
	const char *want;	/* "event:" line, or "" for none */
	int cleaned;
};

static const struct name_case name_cases[] = {
	{ "NULL", NULL, 0, "", 0 },
	{ "empty", LIT(""), "", 0 },
	{ "plain", LIT("notice"), "event: notice\n", 0 },
	{ "LF inside", LIT("no\ntice"), "event: notice\n", 1 },
	{ "CR inside", LIT("no\rtice"), "event: notice\n", 1 },
	{ "NUL inside", LIT("no\0tice"), "event: notice\n", 1 },
	{ "CR LF at the end", LIT("notice\r\n"), "event: notice\n", 1 },
	{ "leading LF", LIT("\nnotice"), "event: notice\n", 1 },
	{ "forged id", LIT("x\r\nid: 5"), "event: xid: 5\n", 1 },
	{ "only LF", LIT("\n"), "", 1 },
	{ "only CR", LIT("\r"), "", 1 },
	{ "only NUL", LIT("\0"), "", 1 },
	{ "only CR LF NUL", LIT("\r\n\0"), "", 1 },
	{ "colon and space kept", LIT("a: b"), "event: a: b\n", 0 },
	{ NULL, NULL, 0, NULL, 0 },
};

static void
test_event_names(void **state)
{
	const struct name_case *c;

	(void)state;
	for (c = name_cases; c->label; c++) {
		struct buf b;
		struct buf want;
		int cleaned = -1;

		print_message("%s\n", c->label);
		buf_init(&b, 4096);
		buf_init(&want, 4096);
		assert_int_equal(buf_append_str(&want, "id: 7\n"), 0);
		assert_int_equal(buf_append_str(&want, c->want), 0);
		assert_int_equal(buf_append_str(&want, "data: d\n\n"), 0);
		assert_int_equal(sse_append_event(&b, 7, c->name, c->len,
		    "d", 1, &cleaned), 0);
		assert_int_equal(cleaned, c->cleaned);
		assert_int_equal(b.len, want.len);
		assert_memory_equal(b.data, want.data, want.len);

		/* name_cleaned may be NULL */
		buf_reset(&b);
		assert_int_equal(sse_append_event(&b, 7, c->name, c->len,
		    "d", 1, NULL), 0);
		assert_int_equal(b.len, want.len);
		assert_memory_equal(b.data, want.data, want.len);
		check_round_trip(7, c->name, c->len, "d", 1);
		buf_free(&want);
		buf_free(&b);
	}
}

struct id_case {
	long long id;
	const char *want;
};

static const struct id_case id_cases[] = {
	{ 0, "id: 0\n" },
	{ 1, "id: 1\n" },
	{ 42, "id: 42\n" },
	{ INT64_MAX, "id: 9223372036854775807\n" },
	{ 0, NULL },
};

static void
test_ids(void **state)
{
	const struct id_case *c;

	(void)state;
	for (c = id_cases; c->want; c++) {
		struct buf b;
		size_t n = strlen(c->want);

		buf_init(&b, 4096);
		assert_int_equal(sse_append_event(&b, c->id, "e", 1, "x", 1,
		    NULL), 0);
		assert_true(b.len > n);
		assert_memory_equal(b.data, c->want, n);
		check_round_trip(c->id, "e", 1, "x", 1);
		buf_free(&b);
	}
}

/* A 1 MiB row: every line arrives, nothing is lost or cut. */
static void
test_big_row(void **state)
{
	const size_t size = 1024 * 1024;
	char *data = malloc(size);
	struct buf b;
	struct parsed p;
	size_t lines;
	size_t i;

	(void)state;
	assert_non_null(data);
	/* lines of 63 bytes; every fourth one ends in CR LF */
	for (i = 0; i < size; i++)
		data[i] = (char)('a' + i % 26);
	lines = 0;
	for (i = 63; i < size; i += 64) {
		data[i] = '\n';
		if (lines % 4 == 3)
			data[i - 1] = '\r';
		lines++;
	}
	buf_init(&b, BIG_CAP);
	assert_int_equal(sse_append_event(&b, 5, "big", 3, data, size, NULL),
	    0);
	/* 16384 line ends, the last at the very end: 16385 data lines */
	assert_int_equal(lines, size / 64);
	parsed_init(&p);
	parse_stream(&p, b.data, b.len);
	assert_int_equal(p.events, 1);
	assert_int_equal(p.data_fields, lines + 1);
	assert_int_equal(p.unterminated, 0);
	buf_free(&b);
	parsed_free(&p);
	check_round_trip(5, "big", 3, data, size);

	/* one 1 MiB line without any break */
	memset(data, 'z', size);
	buf_init(&b, BIG_CAP);
	assert_int_equal(sse_append_event(&b, 6, NULL, 0, data, size, NULL),
	    0);
	assert_int_equal(b.len, strlen("id: 6\ndata: ") + size + 2);
	assert_int_equal(count_byte(b.data, b.len, '\n'), 3);
	buf_free(&b);
	check_round_trip(6, NULL, 0, data, size);
	free(data);
}

struct overflow_case {
	const char *label;
	const char *name;
	size_t name_len;
	const char *data;
	size_t data_len;
};

static const struct overflow_case overflow_cases[] = {
	{ "short", NULL, 0, LIT("x") },
	{ "empty data", NULL, 0, LIT("") },
	{ "with a name", LIT("notice"), LIT("{\"a\":1}") },
	{ "many lines", LIT("n\r"), LIT("a\nb\r\nc\rd\n\n") },
	{ NULL, NULL, 0, NULL, 0 },
};

/*
 * An event fits a buffer whose cap is its exact size; one byte less and
 * the append fails with the sticky flag set, at every prefix length.
 */
static void
test_cap_overflow(void **state)
{
	const struct overflow_case *c;

	(void)state;
	for (c = overflow_cases; c->label; c++) {
		struct buf b;
		size_t need;

		print_message("%s\n", c->label);
		buf_init(&b, 4096);
		assert_int_equal(sse_append_event(&b, 99, c->name, c->name_len,
		    c->data, c->data_len, NULL), 0);
		need = b.len;
		buf_free(&b);

		buf_init(&b, need);
		assert_int_equal(sse_append_event(&b, 99, c->name, c->name_len,
		    c->data, c->data_len, NULL), 0);
		assert_int_equal(b.failed, 0);
		buf_free(&b);

		for (size_t cap = 0; cap < need; cap++) {
			buf_init(&b, cap);
			assert_int_equal(sse_append_event(&b, 99, c->name,
			    c->name_len, c->data, c->data_len, NULL), -1);
			assert_int_equal(b.failed, 1);
			assert_true(b.len <= cap);
			buf_free(&b);
		}
	}
}

/* A buffer that has failed stays failed for the next event. */
static void
test_failed_is_sticky(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b, 8);
	assert_int_equal(sse_append_event(&b, 1, NULL, 0, "abcdef", 6, NULL),
	    -1);
	assert_int_equal(b.failed, 1);
	assert_int_equal(sse_append_event(&b, 1, NULL, 0, "", 0, NULL), -1);
	assert_int_equal(sse_append_retry(&b, 1), -1);
	assert_int_equal(sse_append_padding(&b, 0), -1);
	buf_free(&b);
}

struct retry_case {
	long ms;
	const char *want;
};

static const struct retry_case retry_cases[] = {
	{ 0, "retry: 0\n\n" },
	{ 3000, "retry: 3000\n\n" },
	{ 86400000, "retry: 86400000\n\n" },
	{ 0, NULL },
};

static void
test_retry(void **state)
{
	const struct retry_case *c;

	(void)state;
	for (c = retry_cases; c->want; c++) {
		struct buf b;
		struct parsed p;

		buf_init(&b, 4096);
		assert_int_equal(sse_append_retry(&b, c->ms), 0);
		assert_int_equal(b.len, strlen(c->want));
		assert_memory_equal(b.data, c->want, b.len);
		parsed_init(&p);
		parse_stream(&p, b.data, b.len);
		assert_int_equal(p.retry_fields, 1);
		assert_int_equal(p.events, 0);
		assert_int_equal(p.unterminated, 0);
		parsed_free(&p);
		buf_free(&b);

		buf_init(&b, strlen(c->want) - 1);
		assert_int_equal(sse_append_retry(&b, c->ms), -1);
		assert_int_equal(b.failed, 1);
		buf_free(&b);
	}
}

static const size_t padding_sizes[] = { 0, 1, 2, 2048, 8192, SIZE_MAX };

static void
test_padding(void **state)
{
	(void)state;
	for (const size_t *n = padding_sizes; *n != SIZE_MAX; n++) {
		struct buf b;
		struct parsed p;

		buf_init(&b, 65536);
		assert_int_equal(sse_append_padding(&b, *n), 0);
		assert_int_equal(b.len, *n + 2);
		assert_int_equal(b.data[0], ':');
		assert_int_equal(count_byte(b.data, b.len, ' '), *n);
		assert_int_equal(b.data[b.len - 1], '\n');
		parsed_init(&p);
		parse_stream(&p, b.data, b.len);
		assert_int_equal(p.comments, 1);
		assert_int_equal(p.events, 0);
		assert_int_equal(p.unterminated, 0);
		parsed_free(&p);
		buf_free(&b);

		buf_init(&b, *n + 1);
		assert_int_equal(sse_append_padding(&b, *n), -1);
		assert_int_equal(b.failed, 1);
		buf_free(&b);
	}
}

/* A whole stream as sent: padding, retry, comments and events in turn. */
static void
test_stream_sequence(void **state)
{
	struct buf b;
	struct parsed p;

	(void)state;
	buf_init(&b, 65536);
	assert_int_equal(sse_append_padding(&b, 16), 0);
	assert_int_equal(sse_append_retry(&b, 3000), 0);
	assert_int_equal(sse_append_event(&b, 1, NULL, 0, "a\r", 2, NULL), 0);
	assert_int_equal(sse_append_padding(&b, 0), 0);
	assert_int_equal(sse_append_event(&b, 2, "n\n", 2, "\r\n", 2, NULL),
	    0);
	assert_int_equal(sse_append_event(&b, 3, "", 0, "", 0, NULL), 0);
	parsed_init(&p);
	parse_stream(&p, b.data, b.len);
	assert_int_equal(p.events, 3);
	assert_int_equal(p.comments, 2);
	assert_int_equal(p.retry_fields, 1);
	assert_int_equal(p.id_fields, 3);
	assert_int_equal(p.event_fields, 1);
	assert_int_equal(p.other_fields, 0);
	assert_int_equal(p.unterminated, 0);
	assert_int_equal(p.ev_id.len, 1);
	assert_memory_equal(p.ev_id.data, "3", 1);
	assert_int_equal(p.ev_data.len, 0);
	assert_int_equal(p.ev_type.len, 0);
	parsed_free(&p);
	buf_free(&b);
}

/* ---- property: random rows always read back exactly ---- */

/* xorshift64*: fixed seed, so a failure can be replayed. */
static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* Pieces that matter to the wire format, mixed with random bytes. */
static const char *const tricky[] = {
	"\r", "\n", "\r\n", "\n\r", "\r\r", "\n\n", ":", " ", "  ", "\0",
	"id: 9", "event: x", "retry: 1", "data:", "data: y", ": c",
	"\xef\xbb\xbf", "\xc3\xa9", "\xff", NULL,
};

static size_t
random_bytes(uint64_t *seed, char *out, size_t max)
{
	size_t want = (size_t)(rng_next(seed) % (max + 1));
	size_t n = 0;

	while (n < want) {
		uint64_t r = rng_next(seed);

		if (r % 3 == 0) {
			size_t k = 0;
			const char *t;
			size_t tl;

			while (tricky[k])
				k++;
			t = tricky[(r >> 8) % k];
			tl = *t ? strlen(t) : 1;	/* "\0" is one byte */
			if (n + tl > want)
				break;
			memcpy(out + n, t, tl);
			n += tl;
		} else {
			out[n++] = (char)(r >> 16);
		}
	}
	return n;
}

static void
test_random_round_trip(void **state)
{
	uint64_t seed = 0x5ee0b0c5ULL;
	char data[256];
	char name[32];

	(void)state;
	for (int i = 0; i < 20000; i++) {
		size_t data_len = random_bytes(&seed, data, sizeof(data));
		size_t name_len = random_bytes(&seed, name, sizeof(name));
		uint64_t r = rng_next(&seed);
		long long id;

		switch (r % 4) {
		case 0:
			id = 0;
			break;
		case 1:
			id = INT64_MAX;
			break;
		default:
			id = (long long)(rng_next(&seed) >> 1);
			break;
		}
		check_round_trip(id, (r >> 8) % 5 == 0 ? NULL : name,
		    name_len, data, data_len);
	}
}

/* sse_event_size predicts exactly what sse_append_event appends. */
static void
test_event_size_matches(void **state)
{
	static const struct {
		long long id;
		const char *name;
		size_t name_len;
		const char *data;
	} cases[] = {
		{ 1, NULL, 0, "" }, { 42, "m", 1, "a" }, { -1, "reset", 5, "{}" },
		{ 9223372036854775807LL, "e\r\nv", 4, "a\r\nb\rc\nd" },
		{ 7, "\r\n", 2, "\n\n\r\r\n" }, { 0, "", 0, "x\r" },
		{ 12345, "\0x", 2, "trailing\r\n" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b;

		buf_init(&b, 1 << 20);
		assert_int_equal(sse_append_event(&b, cases[i].id,
		    cases[i].name, cases[i].name_len, cases[i].data,
		    strlen(cases[i].data), NULL), 0);
		assert_int_equal(sse_event_size(cases[i].id, cases[i].name,
		    cases[i].name_len, cases[i].data, strlen(cases[i].data)),
		    b.len);
		buf_free(&b);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_lines),
		cmocka_unit_test(test_null_data),
		cmocka_unit_test(test_event_names),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_big_row),
		cmocka_unit_test(test_cap_overflow),
		cmocka_unit_test(test_failed_is_sticky),
		cmocka_unit_test(test_retry),
		cmocka_unit_test(test_padding),
		cmocka_unit_test(test_stream_sequence),
		cmocka_unit_test(test_random_round_trip),
		cmocka_unit_test(test_event_size_matches),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
