/* SPDX-License-Identifier: BSD-2-Clause */
/* The event loop's mechanism: an epoll set, handlers, a sub-ms wait. */
#ifndef FCGI_LOOP_H
#define FCGI_LOOP_H

#include <stddef.h>
#include <stdint.h>

#include "mustcheck.h"

/*
 * What a registered descriptor calls when epoll reports it. The owner of
 * the descriptor embeds the handler and keeps it alive until loop_del.
 * fn may mark things for later but must not free the memory of another
 * handler: events for several descriptors arrive in one batch.
 */
struct loop_handler {
	void (*fn)(struct loop_handler *h, uint32_t events);
	void *ctx;		/* the owner's, for fn */
};

struct loop;

/* NULL with err on failure. */
struct loop *loop_new(char *err, size_t errlen);
void loop_free(struct loop *loop);

/* Register, change or forget fd (events: EPOLLIN, EPOLLOUT, ...). */
int loop_add(struct loop *loop, int fd, uint32_t events,
    struct loop_handler *h) MUSTCHECK;
int loop_mod(struct loop *loop, int fd, uint32_t events,
    struct loop_handler *h) MUSTCHECK;
void loop_del(struct loop *loop, int fd);

/*
 * Wait up to timeout seconds (0: do not wait; sub-millisecond precision
 * where the kernel has epoll_pwait2) and call the handlers of the ready
 * descriptors. Returns the number of events, 0 when interrupted by a
 * signal, or -1 when waiting itself failed (errno set): the loop cannot
 * go on.
 */
int loop_wait(struct loop *loop, double timeout);

/* Monotonic seconds. */
double loop_now(void);

#endif
