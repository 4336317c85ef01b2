/* SPDX-License-Identifier: BSD-2-Clause */
/* What a process counts for the stats endpoint: written by the loop. */
#ifndef FCGI_COUNTERS_H
#define FCGI_COUNTERS_H

#include <stdatomic.h>

/* Updated by the event loop, read by the threads answering ?stats. */
struct counters {
	atomic_ulong streams;		/* streams adopted */
	atomic_ulong events;		/* rows framed for a stream */
	atomic_ulong bytes;		/* bytes written to streams */
	atomic_ulong heartbeats;
	atomic_ulong wakeups;		/* change notifications handled */
	atomic_ulong reads;		/* reads of new rows */
	atomic_llong newest_id;		/* the live cursor */
};

static inline void
counters_add(atomic_ulong *c, unsigned long n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

#endif
