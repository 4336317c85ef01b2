/* SPDX-License-Identifier: BSD-2-Clause */
/* The doctor's credential: from an option, a file or the environment. */
#ifndef FCGI_DOCTOR_CRED_H
#define FCGI_DOCTOR_CRED_H

#include <stddef.h>

#include "http.h"

/* Room for one credential: DOCTOR_AUTH_MAX bytes, a line end, a NUL. */
#define DOCTOR_CRED_SIZE (DOCTOR_AUTH_MAX + 3)

/*
 * Read the credential in path ("-" is standard input) into buf (size
 * bytes, at least DOCTOR_CRED_SIZE): its first line, without the line
 * end; nothing may follow but blank lines. what names the option in
 * messages. Returns 0, or -1 with one line in err (which never quotes
 * the file's contents). The caller wipes buf when done.
 */
int doctor_cred_read_file(const char *what, const char *path, char *buf,
    size_t size, char *err, size_t errlen);

#endif
