/* SPDX-License-Identifier: BSD-2-Clause */
/* The doctor's credential: from an option, a file or the environment. */
#include "cred.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Read at most size - 1 bytes of fd into buf; the count, or -1. */
static ssize_t
doctor_cred_slurp(int fd, char *buf, size_t size)
{
	size_t used = 0;

	while (used + 1 < size) {
		ssize_t n = read(fd, buf + used, size - 1 - used);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	return (ssize_t)used;
}

int
doctor_cred_read_file(const char *what, const char *path, char *buf,
    size_t size, char *err, size_t errlen)
{
	int fd;
	ssize_t n;
	size_t len;
	int saved;

	fd = strcmp(path, "-") == 0 ? STDIN_FILENO :
	    open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "%s %.200s: %s", what, path,
		    strerror(errno));
		return -1;
	}
	n = doctor_cred_slurp(fd, buf, size);
	saved = errno;
	if (fd != STDIN_FILENO)
		close(fd);
	if (n == -1) {
		snprintf(err, errlen, "%s %.200s: %s", what, path,
		    strerror(saved));
		return -1;
	}
	len = strcspn(buf, "\r\n");
	/* One line: a second one is a mistake (two passwords?), not a
	 * choice to make here. */
	if (buf[len + strspn(buf + len, "\r\n")] != '\0' ||
	    memchr(buf, '\0', (size_t)n) != NULL) {
		explicit_bzero(buf, size);
		snprintf(err, errlen, "%s %.200s: must hold one line", what,
		    path);
		return -1;
	}
	buf[len] = '\0';
	if (len == 0 || len > DOCTOR_AUTH_MAX) {
		explicit_bzero(buf, size);
		snprintf(err, errlen, "%s %.200s: %s", what, path, len == 0 ?
		    "is empty" : "is too long");
		return -1;
	}
	return 0;
}
