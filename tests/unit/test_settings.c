/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for settings_unsafe: who may own and write a settings file. */
#include "settings.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#define EUID 33		/* the web server's user, as the program runs */
#define PROG 1001	/* the tenant who owns the program */
#define OTHER 1002	/* another tenant */

struct unsafe_case {
	const char *label;
	mode_t file_mode;	/* with the type bits */
	uid_t file_uid;
	mode_t dir_mode;
	uid_t dir_uid;
	const char *why;	/* part of the reason, or NULL: trusted */
};

static const struct unsafe_case unsafe_cases[] = {
	{ "tenant's own, 644 in 755", S_IFREG | 0644, PROG, 0755, PROG,
	    NULL },
	{ "runs as its owner (suEXEC), 600 in 711", S_IFREG | 0600, EUID,
	    0711, EUID, NULL },
	{ "root's", S_IFREG | 0644, 0, 0755, 0, NULL },
	{ "world-writable file", S_IFREG | 0666, PROG, 0755, PROG,
	    "writable by group or others" },
	{ "group-writable file", S_IFREG | 0664, PROG, 0755, PROG,
	    "writable by group or others" },
	{ "another tenant's file", S_IFREG | 0644, OTHER, 0755, PROG,
	    "owned by another user" },
	{ "world-writable directory", S_IFREG | 0644, PROG, 0777, PROG,
	    "its directory is writable" },
	{ "sticky is not enough", S_IFREG | 0644, PROG, 01777, 0,
	    "its directory is writable" },
	{ "group-writable directory", S_IFREG | 0644, PROG, 0775, PROG,
	    "its directory is writable" },
	{ "another tenant's directory", S_IFREG | 0644, PROG, 0755, OTHER,
	    "its directory is owned by another user" },
	{ "a directory", S_IFDIR | 0755, PROG, 0755, PROG,
	    "not a regular file" },
	{ "a FIFO", S_IFIFO | 0644, PROG, 0755, PROG, "not a regular file" },
	{ NULL, 0, 0, 0, 0, NULL },
};

static void
test_unsafe(void **state)
{
	(void)state;
	for (const struct unsafe_case *c = unsafe_cases; c->label; c++) {
		struct stat file;
		struct stat dir;
		const char *why;

		memset(&file, 0, sizeof(file));
		memset(&dir, 0, sizeof(dir));
		file.st_mode = c->file_mode;
		file.st_uid = c->file_uid;
		dir.st_mode = S_IFDIR | c->dir_mode;
		dir.st_uid = c->dir_uid;
		why = settings_unsafe(&file, &dir, EUID, PROG);
		if (!c->why && why)
			fail_msg("%s: refused: %s", c->label, why);
		if (c->why && (!why || !strstr(why, c->why)))
			fail_msg("%s: '%s'", c->label, why ? why : "trusted");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unsafe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
