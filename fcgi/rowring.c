/* SPDX-License-Identifier: BSD-2-Clause */
/* Rows one process read, for the other processes of its host to take. */
#include "rowring.h"

#include <stdlib.h>
#include <string.h>

#include "fnv.h"

/*
 * An entry: this header, then the recipient, event and data bytes,
 * padded to 8. A WRAP entry fills the end of the ring when the next row
 * does not fit there (only its first 8 bytes are written); a BIG entry
 * stands for a row over ROWRING_ENTRY_MAX.
 */
enum rowring_kind {
	ROWRING_ROW = 1,
	ROWRING_WRAP = 2,
	ROWRING_BIG = 3,
};

#define ROWRING_NONE UINT32_MAX	/* a NULL recipient or event */
#define ROWRING_COPY 4096	/* entries up to this are copied on the
				 * stack */

struct rowring_entry {
	uint32_t len;		/* whole entry, a multiple of 8 */
	uint32_t kind;
	int64_t id;
	uint32_t to;
	uint32_t user_len;	/* ROWRING_NONE: NULL */
	uint32_t event_len;	/* ROWRING_NONE: NULL */
	uint32_t data_len;
	uint64_t check;		/* fnv of the entry with check = 0 */
};

_Static_assert(sizeof(struct rowring_entry) == 40, "entry layout");
_Static_assert(ROWRING_BYTES % 8 == 0, "ring size");

static size_t
rowring_round(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static uint32_t
rowring_len_of(const char *p, size_t len)
{
	return p ? (uint32_t)len : ROWRING_NONE;
}

static size_t
rowring_bytes_of(uint32_t len)
{
	return len == ROWRING_NONE ? 0 : len;
}

static uint64_t
rowring_check(const struct rowring_entry *e, const unsigned char *payload,
    size_t plen)
{
	struct rowring_entry head = *e;

	head.check = 0;
	return fnv_add(fnv_add(FNV_START, &head, sizeof(head)), payload,
	    plen);
}

void
rowring_init(struct rowring *r, struct rowring_head *h, void *data)
{
	r->h = h;
	r->data = data;
	r->pend = atomic_load(&h->head);
}

void
rowring_take_over(struct rowring *r)
{
	uint64_t at = atomic_load(&r->h->reserve);

	/* A writer that died may have written up to its reserve: start
	 * past it, and void every position taken before. */
	if (at < atomic_load(&r->h->head))
		at = atomic_load(&r->h->head);
	r->pend = (at + 7) & ~(uint64_t)7;
	atomic_fetch_add(&r->h->gen, 1);
	atomic_store(&r->h->reserve, r->pend);
	atomic_store(&r->h->head, r->pend);
}

/* Say how far the writer goes before writing there (a seqlock's
 * increment: readers check it after copying). */
static void
rowring_reserve(struct rowring *r, uint64_t end)
{
	atomic_store_explicit(&r->h->reserve, end, memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

void
rowring_append(struct rowring *r, const struct outbox_row *row)
{
	struct rowring_entry e = { 0 };
	size_t ulen = row->user_id ? row->user_len : 0;
	size_t elen = row->event ? row->event_len : 0;
	size_t plen = ulen + elen + row->data_len;
	size_t need = rowring_round(sizeof(e) + plen);
	size_t off = (size_t)(r->pend % ROWRING_BYTES);
	size_t wrap = 0;

	e.kind = ROWRING_ROW;
	e.id = row->id;
	e.to = (uint32_t)row->to;
	if (need > ROWRING_ENTRY_MAX || plen > UINT32_MAX / 2) {
		e.kind = ROWRING_BIG;
		need = sizeof(e);
		plen = ulen = elen = 0;
	} else {
		e.user_len = rowring_len_of(row->user_id, row->user_len);
		e.event_len = rowring_len_of(row->event, row->event_len);
		e.data_len = (uint32_t)row->data_len;
	}
	if (off + need > ROWRING_BYTES)
		wrap = ROWRING_BYTES - off;
	rowring_reserve(r, r->pend + wrap + need);
	if (wrap) {
		struct rowring_entry w = { .len = (uint32_t)wrap,
		    .kind = ROWRING_WRAP };

		memcpy(r->data + off, &w, 8);
		r->pend += wrap;
		off = 0;
	}
	e.len = (uint32_t)need;
	if (e.kind == ROWRING_ROW) {
		unsigned char *p = r->data + off + sizeof(e);

		/* memcpy from NULL is undefined even for 0 bytes. */
		if (ulen)
			memcpy(p, row->user_id, ulen);
		if (elen)
			memcpy(p + ulen, row->event, elen);
		if (row->data_len)
			memcpy(p + ulen + elen, row->data, row->data_len);
		e.check = rowring_check(&e, p, plen);
	} else {
		e.check = rowring_check(&e, NULL, 0);
	}
	memcpy(r->data + off, &e, sizeof(e));
	r->pend += need;
}

void
rowring_publish(struct rowring *r)
{
	atomic_store_explicit(&r->h->head, r->pend, memory_order_release);
}

void
rowring_here(const struct rowring *r, struct rowring_pos *pos)
{
	/* The generation first: a takeover between the two loads leaves
	 * the position void (a generation behind), never wrong. */
	pos->gen = atomic_load(&r->h->gen);
	pos->at = atomic_load(&r->h->head);
	pos->valid = 1;
}

/* Did the writer come round over [at, at + ROWRING_BYTES) meanwhile? */
static int
rowring_lapped(const struct rowring *r, uint64_t at)
{
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(&r->h->reserve, memory_order_relaxed) >
	    at + ROWRING_BYTES;
}

/* The row an intact, checked entry holds. -1: it is not one. */
static int
rowring_decode(const struct rowring_entry *e, const unsigned char *payload,
    struct outbox_row *row)
{
	size_t ulen = rowring_bytes_of(e->user_len);
	size_t elen = rowring_bytes_of(e->event_len);
	size_t plen = ulen + elen + e->data_len;

	if (e->kind != ROWRING_ROW ||
	    rowring_round(sizeof(*e) + plen) != e->len ||
	    e->to > OUTBOX_TO_NOBODY ||
	    rowring_check(e, payload, plen) != e->check)
		return -1;
	row->id = e->id;
	row->to = (enum outbox_to)e->to;
	row->user_id = e->user_len == ROWRING_NONE ? NULL :
	    (const char *)payload;
	row->user_len = ulen;
	row->event = e->event_len == ROWRING_NONE ? NULL :
	    (const char *)payload + ulen;
	row->event_len = elen;
	row->data = (const char *)payload + ulen + elen;
	row->data_len = e->data_len;
	return 0;
}

enum rowring_result
rowring_read(const struct rowring *r, struct rowring_pos *pos,
    long long after, outbox_row_fn fn, void *ctx, long long *last)
{
	unsigned char small[ROWRING_COPY];
	unsigned char *copy = small;
	enum rowring_result res = ROWRING_LOST;
	uint64_t end = atomic_load_explicit(&r->h->head,
	    memory_order_acquire);
	uint64_t at = pos->at;

	*last = after;
	if (!pos->valid || atomic_load(&r->h->gen) != pos->gen || end < at)
		goto out;
	while (at < end) {
		size_t off = (size_t)(at % ROWRING_BYTES);
		struct rowring_entry e;
		struct outbox_row row;

		if (at % 8 != 0 || rowring_lapped(r, at))
			goto out;
		memcpy(&e, r->data + off, 8);
		if (e.kind == ROWRING_WRAP) {
			if (e.len != ROWRING_BYTES - off || rowring_lapped(r, at))
				goto out;
			at += e.len;
			continue;
		}
		if (e.len < sizeof(e) || e.len > ROWRING_ENTRY_MAX ||
		    e.len % 8 != 0 || off + e.len > ROWRING_BYTES ||
		    at + e.len > end)
			goto out;
		if (e.len > ROWRING_COPY && copy == small &&
		    !(copy = malloc(ROWRING_ENTRY_MAX)))
			goto out;
		memcpy(copy, r->data + off, e.len);
		if (rowring_lapped(r, at))
			goto out;
		memcpy(&e, copy, sizeof(e));
		if (e.id <= *last) {
			/* Already had (a writer's reread after a
			 * takeover, or rows the caller read itself). */
			at += e.len;
			continue;
		}
		if (rowring_decode(&e, copy + sizeof(e), &row) == -1)
			goto out;	/* BIG, or damaged */
		if (fn(ctx, &row) == -1)
			goto out;
		*last = row.id;
		at += e.len;
	}
	res = ROWRING_OK;
out:
	if (copy != small)
		free(copy);
	pos->at = at;
	pos->valid = res == ROWRING_OK;
	return res;
}
