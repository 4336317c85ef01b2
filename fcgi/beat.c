/* SPDX-License-Identifier: BSD-2-Clause */
/* A process's beat: the grid its periodic work wakes on. */
#include "beat.h"

#include <math.h>

double
beat_at(double t, double period, double phase)
{
	return ceil((t - phase) / period) * period + phase;
}

double
beat_phase(pid_t pid)
{
	/* The golden ratio's fraction: n * 0.618... mod 1 spreads any run
	 * of consecutive n evenly over [0, 1). */
	double x = (double)pid * 0.6180339887498949;

	return x - floor(x);
}
