/* SPDX-License-Identifier: BSD-2-Clause */
/* The file a database's processes share: published cursor, process slots. */
#ifndef FCGI_HOSTMAP_H
#define FCGI_HOSTMAP_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "mustcheck.h"
#include "rowring.h"

/*
 * <db>-sse, mmapped by every process that serves streams of db in the
 * host-wide mode: the cursor the leader published; per process, hashes of
 * the recipient keys its streams follow (whom to wake); and a ring of the
 * rows the leader read (rowring.h), which the woken processes take
 * instead of reading the database. The file has the database's owner and
 * at most its mode, so it holds nothing a process could not read from
 * the database itself. A damaged slot table costs a spurious or a missed
 * wake; a damaged ring entry is refused by its check. Either way a row
 * reaches a stream only after that stream's own process compared the
 * row's recipient with the stream's keys.
 *
 * Locks (OFD, so that they belong to the open file, die with the process
 * and do not fall when SQLite closes a descriptor): byte HOSTMAP_LOCK_INIT
 * while a process creates or checks the file, HOSTMAP_LOCK_LEAD held by
 * the leader, HOSTMAP_LOCK_SLOT + i by the owner of slot i. The offsets
 * are the same in every version (a lock needs no data under it), so a
 * process can tell whether a file of another version is still in use.
 */
#define HOSTMAP_MAGIC 0x65737373u	/* "ssse" */
#define HOSTMAP_VERSION 2
#define HOSTMAP_SLOTS 4096
#define HOSTMAP_KEYS 16
#define HOSTMAP_LOCK_INIT (1 << 20)
#define HOSTMAP_LOCK_LEAD (HOSTMAP_LOCK_INIT + 1)
#define HOSTMAP_LOCK_SLOT (HOSTMAP_LOCK_INIT + 64)

enum hostmap_slot_flags {
	HOSTMAP_ACTIVE = 1,	/* has streams: wants broadcasts */
	HOSTMAP_ALL = 2,	/* more keys than fit: wants every row */
};

struct hostmap_slot {
	_Atomic uint32_t pid;	/* 0: free */
	_Atomic uint32_t seq;	/* odd while the owner rewrites its keys */
	_Atomic uint32_t flags;
	_Atomic uint32_t nkeys;
	_Atomic uint32_t wakes;	/* bumped by the leader before each wake */
	uint32_t spare;
	_Atomic uint64_t keys[HOSTMAP_KEYS];	/* hostmap_hash of each */
	uint64_t spare2;
};

struct hostmap_head {
	uint32_t magic;
	uint32_t version;
	uint32_t size;
	uint32_t nslots;
	/* Every row up to cursor was read and its processes woken: a new
	 * leader starts here. target: read, wakes under way; followers
	 * catch up to it. -1: not known (a new or replaced database). */
	_Atomic int64_t cursor;
	_Atomic int64_t target;
	_Atomic uint64_t db_dev;	/* the database file they refer to */
	_Atomic uint64_t db_ino;
	_Atomic uint32_t epoch;		/* bumped when the database is replaced */
	_Atomic uint32_t leader_pid;
	_Atomic uint32_t high;		/* slots in use are below this */
	uint32_t spare;
	_Atomic uint64_t leaders;	/* takeovers so far */
	struct rowring_head ring;	/* the rows' ring: where it stands */
	uint8_t pad[32];
};

struct hostmap {
	int fd;
	size_t size;
	struct hostmap_head *head;
	struct hostmap_slot *slots;
	void *ring;		/* ROWRING_BYTES of rows, after the slots */
	int slot;		/* ours */
	uint64_t dev;		/* of the shared file: names wake sockets */
	uint64_t ino;
};

struct hostmap_place;

/*
 * Open (create with the owner and mode pl says: hostmap_place.h) and
 * check the shared file pl->path, and claim a slot. NULL with why: the
 * caller watches the store itself instead.
 */
struct hostmap *hostmap_open(const struct hostmap_place *pl, char *why,
    size_t whylen);
/* Frees the slot; closing gives up every lock, leadership included. */
void hostmap_close(struct hostmap *m);

/* Take the leader lock if it is free: 1 taken, 0 held elsewhere, -1. */
int hostmap_try_lead(struct hostmap *m) MUSTCHECK;
/* Wait for the leader lock: 0 once held, -1 on error. Blocks. */
int hostmap_wait_lead(struct hostmap *m) MUSTCHECK;

/* Does a live process hold slot i? (A dead one's lock died with it.) */
int hostmap_slot_held(struct hostmap *m, int i);

/* Rewrite our slot: its keys and flags, as one change for readers. */
void hostmap_publish_keys(struct hostmap *m, const uint64_t *keys,
    size_t nkeys, uint32_t flags);

/* Does slot i want the row for key (NULL: a broadcast)? */
int hostmap_slot_wants(struct hostmap *m, int i, uint64_t hash, int bcast);

/* The hash slots hold of a recipient key. */
uint64_t hostmap_hash(const char *key, size_t len);

#endif
