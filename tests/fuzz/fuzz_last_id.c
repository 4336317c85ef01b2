/* SPDX-License-Identifier: BSD-2-Clause */
/* libFuzzer target: the resume-point parser against strtoull. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"

static void
fail(const char *what, const char *s)
{
	fprintf(stderr, "fuzz_last_id oracle: %s for \"%.80s\"\n", what, s);
	abort();
}

/*
 * interface.md: "ASCII digits only (no sign, no spaces; leading zeros
 * allowed) with a value from 0 to 2^63-1. Anything else, the empty
 * string included, is 400." strtoull accepts signs and spaces, so the
 * digits are checked first.
 */
static int
ref_parse(const char *s, long long *id)
{
	unsigned long long v;
	char *end;

	if (*s == '\0')
		return -1;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno == ERANGE || *end != '\0' || v > (unsigned long long)INT64_MAX)
		return -1;
	*id = (long long)v;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);

int
LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *s = malloc(n + 1);
	long long got = -1;
	long long want = -2;
	int rc;
	int ref;

	if (!s)
		return 0;
	memcpy(s, d, n);
	s[n] = '\0';		/* a CGI variable ends at its first NUL */
	rc = request_parse_last_id(s, &got);
	ref = ref_parse(s, &want);
	if (rc != ref)
		fail(rc == 0 ? "accepted, the reference refuses" :
		    "refused, the reference accepts", s);
	if (rc == 0 && (got != want || got < 0))
		fail("value differs from the reference", s);
	free(s);
	return 0;
}
