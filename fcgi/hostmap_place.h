/* Where a store's shared file lives, who may own it, what it names. */
#ifndef FCGI_HOSTMAP_PLACE_H
#define FCGI_HOSTMAP_PLACE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mustcheck.h"

/*
 * What hostmap_open needs to know of the store, worked out here so that
 * hostmap.c knows no store:
 *
 * - An SQLite file: <db>-sse beside it, made with the database's owner,
 *   group and mode (its writers are the file's), its identity the
 *   database's device and inode (a replaced database resets the cursor).
 * - A PostgreSQL URI has no file. The map goes to a place of our own:
 *   /dev/shm/sse-outbox-<euid>-<16 hex> (/tmp without /dev/shm), the
 *   hex a hash of the connection target: service, host, hostaddr, port,
 *   dbname, user and options as libpq parses the URI (a missing one from
 *   its PG* environment variable), never the password. Other settings
 *   (sslmode, timeouts, application_name) do not change which outbox is
 *   read, so all of a host's processes of one database share one map
 *   whatever else their URI says. Made 0600; an existing file must be a
 *   regular file owned by us and writable by nobody else (private).
 */
struct hostmap_place {
	char *path;		/* the shared file */
	int private;		/* ours alone: owned by us, 0600 */
	uid_t uid;		/* a new file gets this owner, group, mode */
	gid_t gid;
	mode_t mode;
	uint64_t id_dev;	/* the store: the header's db_dev, db_ino */
	uint64_t id_ino;
};

/* Fill pl for the store db (SSE_DB). -1 with why: no shared file. */
int hostmap_place_init(struct hostmap_place *pl, const char *db, char *why,
    size_t whylen) MUSTCHECK;
void hostmap_place_free(struct hostmap_place *pl);

#endif
