/* SPDX-License-Identifier: BSD-2-Clause */
/* Where a stream starts, and when a "reset" event must come first. */
#include "resume.h"

#include <stdio.h>

int
resume_reset_data(char *out, size_t size, const char *reason,
    long long last_id, const char *what, long long value)
{
	int n;

	if (size == 0)
		return -1;
	n = snprintf(out, size, "{\"reason\":\"%s\",\"last_event_id\":%lld,"
	    "\"%s\":%lld}", reason, last_id, what, value);
	if (n < 0 || (size_t)n >= size) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}

void
resume_decide(int has_resume, long long resume, long long high,
    long long pruned, struct resume_start *out)
{
	out->reset = 0;
	out->data[0] = '\0';
	if (!has_resume) {
		/* The newest id ever given, not max(id): after pruning
		 * everything the table is empty but ids go on from there. */
		out->start = high;
		return;
	}
	if (resume > high) {
		/* Another database's id. The rows up to pruned are gone for
		 * everyone: starting after them says so once, here, instead
		 * of a second "pruned" reset from the hub. */
		out->start = pruned;
		out->reset = 1;
		(void)resume_reset_data(out->data, sizeof(out->data),
		    "unknown-id", resume, "newest_id", high);
		return;
	}
	if (resume < pruned) {
		out->start = pruned;
		out->reset = 1;
		(void)resume_reset_data(out->data, sizeof(out->data),
		    "pruned", resume, "pruned_through", pruned);
		return;
	}
	out->start = resume;
}

int
resume_check_pruned(long long last_id, long long pruned, char *data,
    size_t size)
{
	if (last_id >= pruned)
		return 0;
	(void)resume_reset_data(data, size, "pruned", last_id,
	    "pruned_through", pruned);
	return 1;
}
