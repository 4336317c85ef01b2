/* SPDX-License-Identifier: BSD-2-Clause */
/* Growable byte buffer with a hard cap and a sticky failure flag. */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_init(struct buf *b, size_t cap)
{
	b->data = NULL;
	b->len = 0;
	b->off = 0;
	b->size = 0;
	b->cap = cap;
	b->failed = 0;
}

void
buf_reset(struct buf *b)
{
	if (b->data)
		b->data -= b->off;
	b->off = 0;
	b->len = 0;
	b->failed = 0;
}

void
buf_free(struct buf *b)
{
	if (!b)
		return;
	if (b->data)
		free(b->data - b->off);
	b->data = NULL;
	b->len = 0;
	b->off = 0;
	b->size = 0;
}

/* Move the bytes held to the start of the allocation. */
static void
buf_compact(struct buf *b)
{
	if (b->off == 0)
		return;
	memmove(b->data - b->off, b->data, b->len);
	b->data -= b->off;
	b->off = 0;
}

/* Room for n more bytes after the ones held. */
static int
buf_make_room(struct buf *b, size_t n)
{
	size_t want;
	size_t size;
	char *p;

	if (b->failed)
		return -1;
	if (n > b->cap || b->len > b->cap - n) {
		b->failed = 1;
		return -1;
	}
	if (b->off + b->len + n <= b->size)
		return 0;
	/*
	 * Move the bytes held back to the start when that leaves at least
	 * half the buffer free: the move (len bytes) is paid for by the
	 * half filled since the last move or growth. At the cap, moving is
	 * the only way to make room. Otherwise grow, at least twofold.
	 */
	want = b->len + n;
	buf_compact(b);
	if (want <= b->size / 2 || (want <= b->size && b->size == b->cap))
		return 0;
	size = b->size ? 2 * b->size : 256;
	while (size < want)
		size *= 2;
	if (size > b->cap)
		size = b->cap;
	p = realloc(b->data, size);
	if (!p) {
		b->failed = 1;
		return -1;
	}
	b->data = p;
	b->size = size;
	return 0;
}

int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)
		return b->failed ? -1 : 0;
	if (buf_make_room(b, n) == -1)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_append_char(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int
buf_append_i64(struct buf *b, long long v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%lld", v);

	return buf_append(b, num, (size_t)n);
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		if (b->data)
			b->data -= b->off;
		b->off = 0;
		b->len = 0;
		return;
	}
	b->data += n;
	b->off += n;
	b->len -= n;
}
