/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for resume.c: start point, reset decision, reset data. */
#include "resume.h"

#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

struct decide_case {
	const char *label;
	int has_resume;
	long long resume;
	long long high;		/* highest id ever given */
	long long pruned;	/* pruned_through */
	long long start;	/* expected */
	const char *data;	/* expected reset data, NULL = no reset */
};

static const struct decide_case decide_cases[] = {
	{ "no resume point: at the newest id", 0, 0, 42, 10, 42, NULL },
	{ "no resume point, empty outbox", 0, 0, 0, 0, 0, NULL },
	{ "no resume point, all pruned", 0, 0, 7, 7, 7, NULL },
	{ "resume at the newest id", 1, 42, 42, 10, 42, NULL },
	{ "resume in the middle", 1, 20, 42, 10, 20, NULL },
	{ "resume at pruned_through: nothing lost", 1, 10, 42, 10, 10, NULL },
	{ "resume from 0, nothing pruned", 1, 0, 42, 0, 0, NULL },
	{ "resume just below pruned", 1, 9, 42, 10, 10,
	  "{\"reason\":\"pruned\",\"last_event_id\":9,"
	  "\"pruned_through\":10}" },
	{ "resume from 0 after a prune", 1, 0, 42, 10, 10,
	  "{\"reason\":\"pruned\",\"last_event_id\":0,"
	  "\"pruned_through\":10}" },
	{ "above every id, nothing pruned", 1, 1000, 3, 0, 0,
	  "{\"reason\":\"unknown-id\",\"last_event_id\":1000,"
	  "\"newest_id\":3}" },
	/* The double reset: one "unknown-id" reset, and the stream starts
	 * after pruned so the hub has no "pruned" reset left to send. */
	{ "above every id after a prune: one reset", 1, 1000, 42, 10, 10,
	  "{\"reason\":\"unknown-id\",\"last_event_id\":1000,"
	  "\"newest_id\":42}" },
	{ "above an empty, fully pruned outbox", 1, 8, 7, 7, 7,
	  "{\"reason\":\"unknown-id\",\"last_event_id\":8,"
	  "\"newest_id\":7}" },
	{ "largest resume point", 1, LLONG_MAX, 5, 0, 0,
	  "{\"reason\":\"unknown-id\",\"last_event_id\":9223372036854775807,"
	  "\"newest_id\":5}" },
	{ NULL, 0, 0, 0, 0, 0, NULL },
};

static void
test_decide(void **state)
{
	(void)state;
	for (const struct decide_case *c = decide_cases; c->label; c++) {
		struct resume_start rs;
		char pruned_data[RESUME_DATA_LEN];

		memset(&rs, 'x', sizeof(rs));
		resume_decide(c->has_resume, c->resume, c->high, c->pruned,
		    &rs);
		print_message("%s\n", c->label);
		assert_true(rs.start == c->start);
		assert_int_equal(rs.reset, c->data != NULL);
		assert_string_equal(rs.data, c->data ? c->data : "");
		/* Whatever the start point, the hub's own check finds no
		 * second reset due for a stream that starts there. */
		assert_int_equal(resume_check_pruned(rs.start, c->pruned,
		    pruned_data, sizeof(pruned_data)), 0);
	}
}

struct pruned_case {
	const char *label;
	long long last_id;
	long long pruned;
	int due;
	const char *data;
};

static const struct pruned_case pruned_cases[] = {
	{ "level with pruned", 10, 10, 0, NULL },
	{ "above pruned", 11, 10, 0, NULL },
	{ "nothing pruned", 0, 0, 0, NULL },
	{ "fell below", 4, 10, 1,
	  "{\"reason\":\"pruned\",\"last_event_id\":4,\"pruned_through\":10}" },
	{ "from zero", 0, 1, 1,
	  "{\"reason\":\"pruned\",\"last_event_id\":0,\"pruned_through\":1}" },
	{ NULL, 0, 0, 0, NULL },
};

static void
test_check_pruned(void **state)
{
	(void)state;
	for (const struct pruned_case *c = pruned_cases; c->label; c++) {
		char data[RESUME_DATA_LEN] = "untouched";

		print_message("%s\n", c->label);
		assert_int_equal(resume_check_pruned(c->last_id, c->pruned,
		    data, sizeof(data)), c->due);
		if (c->due)
			assert_string_equal(data, c->data);
	}
}

/* The largest data there can be fits RESUME_DATA_LEN; a short buffer
 * is refused whole, never cut into half a JSON object. */
static void
test_reset_data_bounds(void **state)
{
	char data[RESUME_DATA_LEN];
	char small[16];

	(void)state;
	assert_int_equal(resume_reset_data(data, sizeof(data), "unknown-id",
	    LLONG_MAX, "pruned_through", LLONG_MIN), 0);
	assert_true(strlen(data) < sizeof(data));
	assert_int_equal(resume_reset_data(small, sizeof(small), "pruned", 1,
	    "pruned_through", 2), -1);
	assert_string_equal(small, "");
	assert_int_equal(resume_reset_data(small, 0, "pruned", 1,
	    "pruned_through", 2), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_check_pruned),
		cmocka_unit_test(test_reset_data_bounds),
	};

	return cmocka_run_group_tests_name("resume", tests, NULL, NULL);
}
