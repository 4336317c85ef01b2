/* SPDX-License-Identifier: BSD-2-Clause */
/* A process's beat: the grid its periodic work wakes on. */
#ifndef FCGI_BEAT_H
#define FCGI_BEAT_H

#include <sys/types.h>

/* Seconds between beats: heartbeats (hub.c) and the look at the
 * database under inotify (changes_sqlite.c) share them, one wake-up. */
#define BEAT_PERIOD 1.0

/*
 * The first instant at or after t on a grid of period seconds offset by
 * phase (0 <= phase < period). Periodic work put on one grid wakes a
 * process once for all of it, and the web server that relays what it
 * writes then wakes for a batch, not for each write.
 */
double beat_at(double t, double period, double phase);

/*
 * A process's offset on such grids, as a fraction of the period in
 * [0, 1): processes that each serve one stream wake at their own
 * instants, not a thousand at once. Consecutive PIDs land far apart.
 */
double beat_phase(pid_t pid);

#endif
