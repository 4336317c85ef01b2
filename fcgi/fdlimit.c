/* SPDX-License-Identifier: BSD-2-Clause */
/* The descriptor budget: RLIMIT_NOFILE and the number of streams it allows. */
#include "fdlimit.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

static long
fdlimit_value(rlim_t v)
{
	if (v == RLIM_INFINITY || v > (rlim_t)0x7fffffffL)
		return -1;
	return (long)v;
}

long
fdlimit_raise(long *before)
{
	struct rlimit rl;

	*before = -1;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return -1;
	*before = fdlimit_value(rl.rlim_cur);
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = { rl.rlim_max, rl.rlim_max };

		/* An unlimited hard limit may still be above fs.nr_open:
		 * then the soft limit stays as it is. */
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl.rlim_cur = rl.rlim_max;
	}
	return fdlimit_value(rl.rlim_cur);
}

long
fdlimit_cap(long max_streams, long limit)
{
	long room;

	if (limit < 0)
		return max_streams;
	room = limit - FDLIMIT_RESERVE;
	if (room < 1)
		room = 1;
	return room < max_streams ? room : max_streams;
}

int
fdlimit_exhausted(void)
{
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno == EMFILE || errno == ENFILE;
}
