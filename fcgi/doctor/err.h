/* SPDX-License-Identifier: BSD-2-Clause */
/* The doctor's error messages: one line into the caller's buffer. */
#ifndef FCGI_DOCTOR_ERR_H
#define FCGI_DOCTOR_ERR_H

#include <stddef.h>

#define DOCTOR_ERR_LEN 256

/* Write msg into err (errlen bytes, cut to fit); returns -1. */
int doctor_fail(char *err, size_t errlen, const char *msg);

#endif
