/* SPDX-License-Identifier: BSD-2-Clause */
/* Growable byte buffer with a hard cap and a sticky failure flag. */
#ifndef FCGI_BUF_H
#define FCGI_BUF_H

#include <stddef.h>

/*
 * The allocation starts off bytes before data: consuming a prefix only
 * moves data forward. An append that finds no room at the end moves
 * the bytes held back to the start when that frees at least half the
 * buffer (or at the cap), else grows it: a long backlog sent in small
 * pieces costs O(1) a byte, not a move of the rest after every write.
 */
struct buf {
	char *data;		/* first byte held; NULL until first append */
	size_t len;		/* bytes held, from data on */
	size_t off;		/* bytes consumed before data (allocated) */
	size_t size;		/* bytes allocated, off included */
	size_t cap;		/* never grows past this */
	int failed;		/* set once an append did not fit or malloc failed */
};

/* Embed and init with a cap; nothing is allocated until needed. */
void buf_init(struct buf *b, size_t cap);
/* Forget the contents but keep the memory for reuse. */
void buf_reset(struct buf *b);
/* Release the memory; b may be NULL. */
void buf_free(struct buf *b);

/* Append n bytes; -1 (and failed set) if the cap or memory runs out. */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_append_char(struct buf *b, char c);
/* Append a decimal signed 64-bit number. */
int buf_append_i64(struct buf *b, long long v);
/*
 * Drop the first n bytes (after a partial write): data moves forward;
 * O(1) amortised. Pointers into the old contents are invalid after it.
 */
void buf_consume(struct buf *b, size_t n);

#endif
