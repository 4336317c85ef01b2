/* SPDX-License-Identifier: BSD-2-Clause */
/* How the event loop learns of commits: the source for SSE_DB's store. */
#include "changes.h"

#include "outbox.h"
#include "pq_load.h"

struct changes *
changes_open(const char *path, char *why, size_t whylen)
{
	if (outbox_is_postgres(path)) {
		/* main.c checked at start-up that libpq loads. */
		if (pq_load(why, whylen) == -1)
			return NULL;
		return changes_pg_open(path, why, whylen);
	}
	return changes_sqlite_open(path, why, whylen);
}
