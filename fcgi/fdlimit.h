/* SPDX-License-Identifier: BSD-2-Clause */
/* The descriptor budget: RLIMIT_NOFILE and the number of streams it allows. */
#ifndef FCGI_FDLIMIT_H
#define FCGI_FDLIMIT_H

/*
 * Descriptors kept for everything but the streams: stdio, the listening
 * socket, epoll, eventfd, inotify, the database connections of the hub
 * and of each acceptor (file, -wal, -shm), connections being accepted.
 */
#define FDLIMIT_RESERVE 64

/*
 * Raise the soft RLIMIT_NOFILE to the hard limit where allowed. Returns
 * the soft limit in force afterwards (-1: unlimited or unknown); *before
 * gets the soft limit found (-1 likewise).
 */
long fdlimit_raise(long *before);

/*
 * The stream cap that fits limit: max_streams, or limit less
 * FDLIMIT_RESERVE when that is lower (at least 1). limit -1 means no
 * limit. In FastCGI mode each stream holds one descriptor. Pure.
 */
long fdlimit_cap(long max_streams, long limit);

/* Has the process run out of descriptors (EMFILE or ENFILE) just now? */
int fdlimit_exhausted(void);

#endif
