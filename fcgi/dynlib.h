/* SPDX-License-Identifier: BSD-2-Clause */
/* A shared library opened at run time, its functions resolved by name. */
#ifndef FCGI_DYNLIB_H
#define FCGI_DYNLIB_H

#include <stddef.h>

#include "mustcheck.h"

/*
 * Open soname (RTLD_NOW | RTLD_LOCAL: nothing it defines can stand in
 * for our own symbols or another library's) and store the address of
 * names[i] in syms[i] for each of the n names. The library stays loaded
 * for the life of the process. 0, or -1 with err naming soname, the
 * Debian package that ships it (package) and what the loader said, or
 * the first name it lacks. Not thread-safe: callers run it once
 * (pthread_once).
 */
int dynlib_open(const char *soname, const char *package,
    const char *const *names, void **syms, size_t n, char *err,
    size_t errlen) MUSTCHECK;

#endif
