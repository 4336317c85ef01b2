/* SPDX-License-Identifier: BSD-2-Clause */
/* Rows one process read, for the other processes of its host to take. */
#ifndef FCGI_ROWRING_H
#define FCGI_ROWRING_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "outbox.h"

/*
 * A ring of rows in shared memory with one writer (the host's leader)
 * and any number of readers (its followers). The writer appends each row
 * it read and publishes them together; a reader takes the rows after its
 * own position, up to what was published, without locks and without
 * ever stopping the writer: the writer announces how far it is about to
 * write (reserve) before writing, so a reader that copied an entry can
 * tell whether the writer came round over it meanwhile (then it reads
 * the database instead). Each entry also carries a check of its bytes:
 * a damaged ring is refused, never delivered.
 *
 * Positions are byte offsets that only grow (the ring's place is the
 * position modulo RING_BYTES). A row too large for the ring is an entry
 * saying so: readers read that one from the database.
 */
#define ROWRING_BYTES (2u << 20)
#define ROWRING_ENTRY_MAX (ROWRING_BYTES / 16)

/* In the shared file: where the ring stands. */
struct rowring_head {
	_Atomic uint64_t head;		/* published: readers stop here */
	_Atomic uint64_t reserve;	/* the writer may write below this */
	_Atomic uint32_t gen;		/* a new writer: old positions void */
	uint32_t spare;
};

struct rowring {
	struct rowring_head *h;
	unsigned char *data;		/* ROWRING_BYTES */
	uint64_t pend;			/* writer: appended, not published */
};

enum rowring_result {
	ROWRING_OK = 0,		/* every published row was taken */
	ROWRING_LOST = -1,	/* lapped, damaged, from another writer, or
				 * a row too large for the ring: read the
				 * database instead */
};

/* A view of the ring at h, data. */
void rowring_init(struct rowring *r, struct rowring_head *h, void *data);

/* Writer: from here on this process writes; positions readers hold
 * from an earlier writer become void. */
void rowring_take_over(struct rowring *r);
/* Writer: append a row (published by rowring_publish). */
void rowring_append(struct rowring *r, const struct outbox_row *row);
/* Writer: readers may take what was appended. */
void rowring_publish(struct rowring *r);

/* Reader: a position from which every row published later is read. */
struct rowring_pos {
	uint64_t at;
	uint32_t gen;
	int valid;
};
void rowring_here(const struct rowring *r, struct rowring_pos *pos);

/*
 * Reader: call fn for each row published after pos, in order, then
 * move pos past them. Rows whose id is at most after are skipped. Any
 * result but ROWRING_OK leaves pos void (take a new one with
 * rowring_here); *last is the id of the last row given to fn or skipped
 * (after when none). fn returning -1 stops with ROWRING_LOST.
 */
enum rowring_result rowring_read(const struct rowring *r,
    struct rowring_pos *pos, long long after, outbox_row_fn fn, void *ctx,
    long long *last);

#endif
