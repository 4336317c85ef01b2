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
	b->size = 0;
	b->cap = cap;
	b->failed = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	b->failed = 0;
}

void
buf_free(struct buf *b)
{
	if (!b)
		return;
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->size = 0;
}

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
	want = b->len + n;
	if (want <= b->size)
		return 0;
	size = b->size ? b->size : 256;
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
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}
