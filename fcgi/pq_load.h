/* SPDX-License-Identifier: BSD-2-Clause */
/* libpq, loaded when SSE_DB names PostgreSQL: no SQLite process maps it. */
#ifndef FCGI_PQ_LOAD_H
#define FCGI_PQ_LOAD_H

#include <stddef.h>

#include "mustcheck.h"

/*
 * Load libpq.so.5 and resolve every libpq function the program calls
 * (pq_load.c defines them, each forwarding to the library's). Only the
 * first call loads; later ones return its result. Thread-safe. 0, or -1
 * with err saying what is missing (and that the package is libpq5).
 * Call it before the first PQ* call: outbox.c and changes.c do, before
 * any PostgreSQL store or source is opened.
 */
int pq_load(char *err, size_t errlen) MUSTCHECK;

#endif
