/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for dynlib.c: a library found or not, a function it lacks. */
#include "dynlib.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

struct open_case {
	const char *label;
	const char *soname;
	const char *name;		/* the one function asked for */
	int rc;				/* expected */
	const char *const *says;	/* in err, NULL-terminated */
};

static const char *const says_missing[] = {
	"cannot load libsse-outbox-none.so.9", "install the package pkg-x",
	NULL
};
static const char *const says_lacks[] = {
	"libz.so.1 has no sse_outbox_no_such_function", "pkg-x", NULL
};
static const char *const says_nothing[] = { NULL };

static const struct open_case open_cases[] = {
	{ "a library that is not there names it and its package",
	  "libsse-outbox-none.so.9", "f", -1, says_missing },
	{ "a function the library lacks is named",
	  "libz.so.1", "sse_outbox_no_such_function", -1, says_lacks },
	{ "a function the library has resolves",
	  "libz.so.1", "zlibVersion", 0, says_nothing },
	{ NULL, NULL, NULL, 0, NULL }
};

static void
test_open(void **state)
{
	(void)state;
	for (const struct open_case *c = open_cases; c->label; c++) {
		const char *names[1] = { c->name };
		void *syms[1] = { NULL };
		char err[512] = "";
		int rc = dynlib_open(c->soname, "pkg-x", names, syms, 1, err,
		    sizeof(err));

		if (rc != c->rc)
			fail_msg("%s: rc %d, err %s", c->label, rc, err);
		if (rc == 0 && !syms[0])
			fail_msg("%s: no address", c->label);
		for (const char *const *s = c->says; *s; s++)
			if (!strstr(err, *s))
				fail_msg("%s: \"%s\" not in \"%s\"", c->label,
				    *s, err);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
