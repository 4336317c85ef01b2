/* SPDX-License-Identifier: BSD-2-Clause */
/* The text/event-stream wire format: pure functions, no I/O. */
#include "sse.h"

#include <stdio.h>
#include <string.h>

/*
 * From the HTML Living Standard, 9.2.5 "Parsing an event stream":
 *
 *   end-of-line = ( cr lf / cr / lf )
 *   field       = 1*name-char [ colon *space *any-char ] end-of-line
 *
 * A line ends at CR LF, a lone CR or a lone LF, so those three are the only
 * bytes that can end a field early. Every piece of data between them gets
 * its own "data:" line; the parser joins them with LF. Nothing else in a
 * row can reach the start of a line, so no row can forge a field.
 */
static int
sse_append_data_lines(struct buf *b, const char *data, size_t len)
{
	size_t start = 0;
	size_t i = 0;

	while (i < len) {
		if (data[i] != '\r' && data[i] != '\n') {
			i++;
			continue;
		}
		(void)buf_append(b, "data: ", 6);
		(void)buf_append(b, data + start, i - start);
		(void)buf_append_char(b, '\n');
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			i++;
		i++;
		start = i;
	}
	(void)buf_append(b, "data: ", 6);
	(void)buf_append(b, data + start, len - start);
	return buf_append_char(b, '\n');
}

static int
sse_append_name(struct buf *b, const char *name, size_t len, int *cleaned)
{
	size_t kept = 0;

	for (size_t i = 0; i < len; i++)
		if (name[i] != '\r' && name[i] != '\n' && name[i] != '\0')
			kept++;
	if (cleaned)
		*cleaned = kept != len;
	if (kept == 0)
		return 0;
	(void)buf_append(b, "event: ", 7);
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (c != '\r' && c != '\n' && c != '\0')
			(void)buf_append_char(b, c);
	}
	return buf_append_char(b, '\n');
}

size_t
sse_event_size(long long id, const char *name, size_t name_len,
    const char *data, size_t data_len)
{
	size_t size = 1;	/* the blank line */
	size_t kept = 0;
	char num[24];

	if (id >= 0)
		size += 4 + (size_t)snprintf(num, sizeof(num), "%lld", id) + 1;
	for (size_t i = 0; name && i < name_len; i++)
		if (name[i] != '\r' && name[i] != '\n' && name[i] != '\0')
			kept++;
	if (kept > 0)
		size += 7 + kept + 1;
	/* Each piece costs "data: " and "\n"; CR LF ends one piece as
	 * a single break, and the pieces hold every other byte. */
	size += 7;
	for (size_t i = 0; data && i < data_len; i++) {
		if (data[i] == '\r' && i + 1 < data_len &&
		    data[i + 1] == '\n') {
			size += 7;
			i++;
		} else if (data[i] == '\r' || data[i] == '\n') {
			size += 7;
		} else {
			size++;
		}
	}
	return size;
}

int
sse_append_event(struct buf *b, long long id, const char *name,
    size_t name_len, const char *data, size_t data_len, int *name_cleaned)
{
	if (name_cleaned)
		*name_cleaned = 0;
	if (id >= 0) {
		(void)buf_append(b, "id: ", 4);
		(void)buf_append_i64(b, id);
		(void)buf_append_char(b, '\n');
	}
	if (name)
		(void)sse_append_name(b, name, name_len, name_cleaned);
	(void)sse_append_data_lines(b, data ? data : "", data ? data_len : 0);
	return buf_append_char(b, '\n');
}

int
sse_append_retry(struct buf *b, long ms)
{
	(void)buf_append(b, "retry: ", 7);
	(void)buf_append_i64(b, ms);
	return buf_append(b, "\n\n", 2);
}

int
sse_append_padding(struct buf *b, size_t n)
{
	(void)buf_append_char(b, ':');
	for (size_t i = 0; i < n; i++)
		(void)buf_append_char(b, ' ');
	return buf_append_char(b, '\n');
}
