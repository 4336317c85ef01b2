/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests of the stats text (Prometheus exposition format). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "stats.h"

struct status_case {
	int status;
	int index;
};

static const struct status_case status_cases[] = {
	{ 400, 0 }, { 401, 1 }, { 405, 2 }, { 414, 3 }, { 429, 4 },
	{ 503, 5 }, { 500, 6 }, { 200, 6 }, { -1, 6 },
	{ 0, -1 },	/* sentinel */
};

static void
test_status_index(void **state)
{
	(void)state;
	for (const struct status_case *c = status_cases; c->index >= 0; c++)
		assert_int_equal(stats_status_index(c->status), c->index);
}

static const char *const expected_lines[] = {
	"# TYPE sse_outbox_open_streams gauge\n",
	"sse_outbox_open_streams{pid=\"77\"} 3\n",
	"sse_outbox_streams_total{pid=\"77\"} 10\n",
	"sse_outbox_events_total{pid=\"77\"} 1234\n",
	"sse_outbox_bytes_total{pid=\"77\"} 99999999999\n",
	"sse_outbox_heartbeats_total{pid=\"77\"} 5\n",
	"sse_outbox_watcher_wakeups_total{pid=\"77\"} 6\n",
	"sse_outbox_watcher_reads_total{pid=\"77\"} 7\n",
	"sse_outbox_newest_id{pid=\"77\"} 9223372036854775807\n",
	"# TYPE sse_outbox_refused_total counter\n",
	"sse_outbox_refused_total{pid=\"77\",status=\"400\"} 1\n",
	"sse_outbox_refused_total{pid=\"77\",status=\"401\"} 2\n",
	"sse_outbox_refused_total{pid=\"77\",status=\"429\"} 5\n",
	"sse_outbox_refused_total{pid=\"77\",status=\"503\"} 6\n",
	"sse_outbox_refused_total{pid=\"77\",status=\"other\"} 7\n",
	NULL,
};

static void
test_format(void **state)
{
	struct hub_stats st = {
		.open_streams = 3, .streams_total = 10, .events = 1234,
		.bytes = 99999999999UL, .heartbeats = 5, .wakeups = 6,
		.reads = 7, .newest_id = INT64_MAX,
	};
	const unsigned long refused[STATS_STATUSES] = { 1, 2, 3, 4, 5, 6, 7 };
	struct buf b;

	(void)state;
	buf_init(&b, 1 << 16);
	assert_int_equal(stats_format(&b, &st, refused, 77), 0);
	assert_int_equal(buf_append_char(&b, '\0'), 0);
	for (const char *const *l = expected_lines; *l; l++)
		assert_non_null(strstr(b.data, *l));
	/* Every line ends with LF and no line is a partial sample. */
	assert_int_equal(b.data[b.len - 2], '\n');
	buf_free(&b);
}

static void
test_format_full_buffer(void **state)
{
	struct hub_stats st = { 0 };
	const unsigned long refused[STATS_STATUSES] = { 0 };
	struct buf b;

	(void)state;
	buf_init(&b, 100);
	assert_int_equal(stats_format(&b, &st, refused, 1), -1);
	assert_true(b.failed);
	buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status_index),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_full_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
