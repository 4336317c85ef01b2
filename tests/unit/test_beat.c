/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for beat.c: the grid of a process's periodic wake-ups. */
#include "beat.h"

#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#define CLOSE(a, b) assert_true(fabs((a) - (b)) < 1e-9)

static void
test_at_rounds_up_onto_the_grid(void **state)
{
	(void)state;
	CLOSE(beat_at(10.2, 1.0, 0.25), 10.25);
	CLOSE(beat_at(10.3, 1.0, 0.25), 11.25);
	CLOSE(beat_at(0.0, 0.125, 0.0), 0.0);
	CLOSE(beat_at(1e6 + 0.01, 1.0, 0.5), 1e6 + 0.5);
}

static void
test_at_a_beat_is_that_beat(void **state)
{
	(void)state;
	/* Never later than needed: a time on the grid is its own beat. */
	CLOSE(beat_at(12.25, 1.0, 0.25), 12.25);
	CLOSE(beat_at(3.0, 0.5, 0.0), 3.0);
}

static void
test_at_is_never_early_nor_a_period_late(void **state)
{
	double t;

	(void)state;
	for (t = 0; t < 50; t += 0.0137) {
		double b = beat_at(t, 1.0, 0.618);

		assert_true(b >= t - 1e-9);
		assert_true(b < t + 1.0 + 1e-9);
	}
}

static void
test_times_within_one_period_share_a_beat(void **state)
{
	(void)state;
	/* What batches heartbeats: everything due in (b - period, b]. */
	CLOSE(beat_at(20.26, 1.0, 0.25), beat_at(21.25, 1.0, 0.25));
	assert_true(beat_at(21.26, 1.0, 0.25) > beat_at(21.25, 1.0, 0.25));
}

static void
test_phase_is_a_fraction(void **state)
{
	pid_t pid;

	(void)state;
	for (pid = 1; pid < 100000; pid += 7) {
		double f = beat_phase(pid);

		assert_true(f >= 0 && f < 1);
	}
}

static void
test_consecutive_pids_spread_over_the_period(void **state)
{
	/* 1,000 processes started one after another: every tenth of the
	 * period gets about a tenth of them, none crowds one instant. */
	unsigned bins[10] = { 0 };
	pid_t pid;
	unsigned i;

	(void)state;
	for (pid = 30000; pid < 31000; pid++)
		bins[(unsigned)(beat_phase(pid) * 10)]++;
	for (i = 0; i < 10; i++)
		assert_in_range(bins[i], 90, 110);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_at_rounds_up_onto_the_grid),
		cmocka_unit_test(test_at_a_beat_is_that_beat),
		cmocka_unit_test(test_at_is_never_early_nor_a_period_late),
		cmocka_unit_test(test_times_within_one_period_share_a_beat),
		cmocka_unit_test(test_phase_is_a_fraction),
		cmocka_unit_test(test_consecutive_pids_spread_over_the_period),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
