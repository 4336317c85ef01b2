/* SPDX-License-Identifier: BSD-2-Clause */
/* The settings file beside the program: where it is, and whether to trust it. */
#include "settings.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/*
 * The program's own path, absolute, into prog (size bytes). By a bare
 * name it is the file of that name in the working directory, if there
 * is one (how web servers start CGI programs). 0, or -1.
 */
static int
settings_program(const char *argv0, char *prog, size_t size)
{
	char cwd[SETTINGS_PATH_MAX];
	struct stat st;
	ssize_t n;
	int len;

	if (!argv0 || !*argv0 || (!strchr(argv0, '/') &&
	    lstat(argv0, &st) == -1)) {
		n = readlink("/proc/self/exe", prog, size - 1);
		if (n <= 0 || (size_t)n >= size - 1)
			return -1;
		prog[n] = '\0';
		return 0;
	}
	if (argv0[0] == '/') {
		len = snprintf(prog, size, "%s", argv0);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			return -1;
		if (argv0[0] == '.' && argv0[1] == '/')
			argv0 += 2;
		len = snprintf(prog, size, "%s/%s", strcmp(cwd, "/") == 0 ?
		    "" : cwd, argv0);
	}
	return len < 0 || (size_t)len >= size ? -1 : 0;
}

int
settings_locate(const char *argv0, char *conf, size_t size, uid_t *prog_uid,
    char *err, size_t errlen)
{
	char prog[SETTINGS_PATH_MAX];
	struct stat st;
	const char *base;
	const char *dot;
	size_t stem;
	int n;

	if (settings_program(argv0, prog, sizeof(prog)) == -1) {
		snprintf(err, errlen, "settings: cannot tell the program's "
		    "own path");
		return -1;
	}
	if (lstat(prog, &st) == -1) {
		snprintf(err, errlen, "settings: %s: %s", prog,
		    strerror(errno));
		return -1;
	}
	*prog_uid = st.st_uid;
	base = strrchr(prog, '/') + 1;
	dot = strrchr(base, '.');
	/* A leading dot names a hidden file, not an extension. */
	stem = dot && dot != base ? (size_t)(dot - prog) : strlen(prog);
	n = snprintf(conf, size, "%.*s.conf", (int)stem, prog);
	if (n < 0 || (size_t)n >= size) {
		snprintf(err, errlen, "settings: path too long");
		return -1;
	}
	return 0;
}

const char *
settings_unsafe(const struct stat *file, const struct stat *dir, uid_t euid,
    uid_t prog_uid)
{
	if (!S_ISREG(file->st_mode))
		return "not a regular file";
	if (file->st_uid != 0 && file->st_uid != euid &&
	    file->st_uid != prog_uid)
		return "owned by another user than the one the program runs "
		    "as, the program's owner or root";
	if (file->st_mode & (S_IWGRP | S_IWOTH))
		return "writable by group or others (chmod go-w it)";
	if (dir->st_uid != 0 && dir->st_uid != euid &&
	    dir->st_uid != prog_uid)
		return "its directory is owned by another user than the one "
		    "the program runs as, the program's owner or root";
	if (dir->st_mode & (S_IWGRP | S_IWOTH))
		return "its directory is writable by group or others (chmod "
		    "go-w the directory)";
	return NULL;
}

int
settings_read(const char *path, uid_t prog_uid, char **text, size_t *len,
    char *err, size_t errlen)
{
	char dirpath[SETTINGS_PATH_MAX];
	struct stat st;
	struct stat dst;
	const char *why;
	const char *slash;
	char *buf = NULL;
	size_t used = 0;
	ssize_t n;
	int fd;
	int rc = -1;

	*text = NULL;
	*len = 0;
	/* O_NONBLOCK: a FIFO planted there must not hang the start. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW |
	    O_NONBLOCK);
	if (fd == -1 && errno == ENOENT)
		return 0;
	if (fd == -1 && errno == ELOOP) {
		snprintf(err, errlen, "%s: refused: a symbolic link (put the "
		    "file itself there)", path);
		return -1;
	}
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	slash = strrchr(path, '/');
	if (!slash)
		snprintf(dirpath, sizeof(dirpath), ".");
	else if (slash == path)
		snprintf(dirpath, sizeof(dirpath), "/");
	else
		snprintf(dirpath, sizeof(dirpath), "%.*s",
		    (int)(slash - path), path);
	if (fstat(fd, &st) == -1 || stat(dirpath, &dst) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	why = settings_unsafe(&st, &dst, geteuid(), prog_uid);
	if (why) {
		snprintf(err, errlen, "%s: refused: %s", path, why);
		goto out;
	}
	buf = malloc(CONFIG_FILE_MAX + 2);
	if (!buf) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	for (;;) {
		n = read(fd, buf + used, CONFIG_FILE_MAX + 1 - used);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		used += (size_t)n;
		if (used > CONFIG_FILE_MAX) {
			snprintf(err, errlen, "%s: larger than %d bytes: not a "
			    "settings file", path, CONFIG_FILE_MAX);
			goto out;
		}
	}
	buf[used] = '\0';
	*text = buf;
	*len = used;
	buf = NULL;
	rc = 1;
out:
	if (buf) {
		explicit_bzero(buf, used);
		free(buf);
	}
	close(fd);
	return rc;
}
