/* Where a store's shared file lives, who may own it, what it names. */
#include "hostmap_place.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "outbox.h"
#include "pq_load.h"

#define HOSTMAP_PLACE_SHM "/dev/shm"
#define HOSTMAP_PLACE_TMP "/tmp"

/* What decides which outbox a URI reads, and the variable libpq takes
 * each from when the URI is silent. */
static const char *const hostmap_place_keys[][2] = {
	{ "service", "PGSERVICE" },
	{ "host", "PGHOST" },
	{ "hostaddr", "PGHOSTADDR" },
	{ "port", "PGPORT" },
	{ "dbname", "PGDATABASE" },
	{ "user", "PGUSER" },
	{ "options", "PGOPTIONS" },
};
#define HOSTMAP_PLACE_NKEYS \
	(sizeof(hostmap_place_keys) / sizeof(hostmap_place_keys[0]))

static uint64_t
hostmap_place_mix(uint64_t h, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;	/* FNV-1a, as hostmap_hash */
	}
	return h;
}

/* The hash of the URI's connection target: key=value\0 for each key. */
static int
hostmap_place_target(const char *uri, uint64_t *hash, char *why,
    size_t whylen)
{
	const char *vals[HOSTMAP_PLACE_NKEYS] = { 0 };
	PQconninfoOption *opts;
	char *msg = NULL;
	uint64_t h = 0xcbf29ce484222325ull;

	if (pq_load(why, whylen) == -1)
		return -1;
	opts = PQconninfoParse(uri, &msg);
	if (!opts) {
		/* Its message may quote the URI, password and all. */
		snprintf(why, whylen, "libpq cannot parse the URI%s",
		    msg ? "" : " (out of memory)");
		PQfreemem(msg);
		return -1;
	}
	for (PQconninfoOption *o = opts; o->keyword; o++)
		for (size_t k = 0; k < HOSTMAP_PLACE_NKEYS; k++)
			if (o->val && o->val[0] &&
			    strcmp(o->keyword, hostmap_place_keys[k][0]) == 0)
				vals[k] = o->val;
	for (size_t k = 0; k < HOSTMAP_PLACE_NKEYS; k++) {
		const char *v = vals[k] ? vals[k] :
		    getenv(hostmap_place_keys[k][1]);

		if (!v)
			v = "";
		h = hostmap_place_mix(h, hostmap_place_keys[k][0],
		    strlen(hostmap_place_keys[k][0]));
		h = hostmap_place_mix(h, "=", 1);
		h = hostmap_place_mix(h, v, strlen(v) + 1);	/* and \0 */
	}
	PQconninfoFree(opts);
	*hash = h;
	return 0;
}

static int
hostmap_place_pg(struct hostmap_place *pl, const char *uri, char *why,
    size_t whylen)
{
	struct stat st;
	const char *dir = HOSTMAP_PLACE_SHM;
	uint64_t h;

	if (hostmap_place_target(uri, &h, why, whylen) == -1)
		return -1;
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode))
		dir = HOSTMAP_PLACE_TMP;
	if (asprintf(&pl->path, "%s/sse-outbox-%u-%016llx", dir,
	    (unsigned)geteuid(), (unsigned long long)h) < 0) {
		pl->path = NULL;
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	pl->private = 1;
	pl->uid = geteuid();
	pl->gid = getegid();
	pl->mode = 0600;
	pl->id_dev = h;
	pl->id_ino = 0;
	return 0;
}

static int
hostmap_place_sqlite(struct hostmap_place *pl, const char *db, char *why,
    size_t whylen)
{
	struct stat st;

	if (stat(db, &st) == -1) {
		snprintf(why, whylen, "%s: %s", db, strerror(errno));
		return -1;
	}
	if (asprintf(&pl->path, "%s-sse", db) < 0) {
		pl->path = NULL;
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	pl->private = 0;
	pl->uid = st.st_uid;
	pl->gid = st.st_gid;
	pl->mode = st.st_mode & 0660;
	pl->id_dev = (uint64_t)st.st_dev;
	pl->id_ino = (uint64_t)st.st_ino;
	return 0;
}

int
hostmap_place_init(struct hostmap_place *pl, const char *db, char *why,
    size_t whylen)
{
	int rc;

	memset(pl, 0, sizeof(*pl));
	if (outbox_is_postgres(db))
		rc = hostmap_place_pg(pl, db, why, whylen);
	else
		rc = hostmap_place_sqlite(pl, db, why, whylen);
	if (rc == -1)
		hostmap_place_free(pl);
	return rc;
}

void
hostmap_place_free(struct hostmap_place *pl)
{
	free(pl->path);
	pl->path = NULL;
}
