/* How the event loop learns of commits: the source for SSE_DB's store. */
#include "changes.h"

#include "outbox.h"

struct changes *
changes_open(const char *path, char *why, size_t whylen)
{
	if (outbox_is_postgres(path))
		return changes_pg_open(path, why, whylen);
	return changes_sqlite_open(path, why, whylen);
}
