/* SPDX-License-Identifier: BSD-2-Clause */
/* The event loop's mechanism: an epoll set, handlers, a sub-ms wait. */
#include "loop.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_EVENTS 256

/*
 * epoll_pwait2 (Linux 5.11) takes a timespec: the commit watcher needs
 * waits well under a millisecond. glibc has a wrapper only from 2.35, so
 * the system call is made directly, which builds on older systems too;
 * where the kernel lacks it (ENOSYS, or valgrind) the loop falls back to
 * epoll_wait's milliseconds for good.
 */
#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441	/* the same number on every architecture */
#endif

struct loop_timespec64 {	/* struct __kernel_timespec */
	long long tv_sec;
	long long tv_nsec;
};

struct loop {
	int ep;
	int no_pwait2;
	struct epoll_event evs[LOOP_MAX_EVENTS];
};

double
loop_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct loop *
loop_new(char *err, size_t errlen)
{
	struct loop *loop = calloc(1, sizeof(*loop));

	if (!loop) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* Waits are sub-millisecond: the default timer slack (50 us) of
	 * the thread that will wait would add a quarter to each. */
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	loop->ep = epoll_create1(EPOLL_CLOEXEC);
	if (loop->ep < 0) {
		snprintf(err, errlen, "epoll_create1: %s", strerror(errno));
		free(loop);
		return NULL;
	}
	return loop;
}

void
loop_free(struct loop *loop)
{
	if (!loop)
		return;
	close(loop->ep);
	free(loop);
}

static int
loop_ctl(struct loop *loop, int op, int fd, uint32_t events,
    struct loop_handler *h)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.ptr = h;
	return epoll_ctl(loop->ep, op, fd, &ev);
}

int
loop_add(struct loop *loop, int fd, uint32_t events, struct loop_handler *h)
{
	return loop_ctl(loop, EPOLL_CTL_ADD, fd, events, h);
}

int
loop_mod(struct loop *loop, int fd, uint32_t events, struct loop_handler *h)
{
	return loop_ctl(loop, EPOLL_CTL_MOD, fd, events, h);
}

void
loop_del(struct loop *loop, int fd)
{
	(void)epoll_ctl(loop->ep, EPOLL_CTL_DEL, fd, NULL);
}

static int
loop_epoll(struct loop *loop, double timeout)
{
	struct loop_timespec64 ts;
	int ms;
	int n;

	if (timeout < 0)
		timeout = 0;
	if (!loop->no_pwait2) {
		ts.tv_sec = (long long)timeout;
		ts.tv_nsec = (long long)((timeout - (double)ts.tv_sec) * 1e9);
		n = (int)syscall(SYS_epoll_pwait2, loop->ep, loop->evs,
		    LOOP_MAX_EVENTS, &ts, NULL, (size_t)0);
		if (n != -1 || errno != ENOSYS)
			return n;
		loop->no_pwait2 = 1;
	}
	/* Round up: waking early would only spin until the deadline. */
	ms = timeout > 3600.0 ? 3600 * 1000 :
	    (int)(timeout * 1000.0) + (timeout > 0);
	return epoll_wait(loop->ep, loop->evs, LOOP_MAX_EVENTS, ms);
}

int
loop_wait(struct loop *loop, double timeout)
{
	int n = loop_epoll(loop, timeout);

	if (n < 0)
		return errno == EINTR ? 0 : -1;
	for (int i = 0; i < n; i++) {
		struct loop_handler *h = loop->evs[i].data.ptr;

		h->fn(h, loop->evs[i].events);
	}
	return n;
}
