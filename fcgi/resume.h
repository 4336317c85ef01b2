/* SPDX-License-Identifier: BSD-2-Clause */
/* Where a stream starts, and when a "reset" event must come first. */
#ifndef FCGI_RESUME_H
#define FCGI_RESUME_H

#include <stddef.h>

/* Room for any reset data resume_reset_data writes (about 100 bytes). */
#define RESUME_DATA_LEN 160

struct resume_start {
	long long start;		/* rows with a higher id are sent */
	int reset;			/* 1: a reset event comes first */
	char data[RESUME_DATA_LEN];	/* its data when reset, else "" */
};

/*
 * Decide where a new stream starts. has_resume and resume are the
 * client's resume point; high is the highest id the database ever gave
 * (it survives deleted rows), pruned the highest id `sse-outbox prune`
 * deleted (0 if none). Without a resume point: at high, no reset. Below
 * pruned: reset "pruned", start after pruned. Above high (another
 * database's id): one reset "unknown-id", and every row still there is
 * new to the client: start after pruned, so that no second reset
 * follows. Otherwise: at the resume point. Pure; fills *out.
 */
void resume_decide(int has_resume, long long resume, long long high,
    long long pruned, struct resume_start *out);

/*
 * A waiting stream whose last id fell below pruned while it waited.
 * Returns 1 when a reset is due (its data written into data, size
 * bytes; the stream goes on after pruned), else 0. Pure.
 */
int resume_check_pruned(long long last_id, long long pruned, char *data,
    size_t size);

/*
 * Write the data of a reset event into out (size bytes):
 * {"reason":"<reason>","last_event_id":<last_id>,"<what>":<value>}.
 * reason and what are the program's own words, not client data.
 * Returns 0, or -1 when out was too small (out then holds "").
 */
int resume_reset_data(char *out, size_t size, const char *reason,
    long long last_id, const char *what, long long value);

#endif
