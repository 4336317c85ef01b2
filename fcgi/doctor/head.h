/* SPDX-License-Identifier: BSD-2-Clause */
/* The doctor's reading of a response head: status and the headers it judges. */
#ifndef FCGI_DOCTOR_HEAD_H
#define FCGI_DOCTOR_HEAD_H

#include <stddef.h>

#include "../mustcheck.h"

#define DOCTOR_HEAD_MAX 16384	/* response head larger than this: error */

/* What the doctor reads from the response head. */
struct doctor_head {
	int status;			/* 200, 401, ... */
	int minor;			/* HTTP/1.minor */
	char server[160];		/* "" when absent */
	char content_type[128];
	char content_encoding[64];
	char transfer_encoding[64];
	char x_accel_buffering[32];
	char upgrade[64];
	char www_authenticate[128];
	char retry_after[32];
	long long content_length;	/* -1 when absent */
};

/*
 * Parse a response head: the status line and header lines up to, not
 * including, the empty line (CR LF or LF line ends). Header names are
 * matched without regard to case; values longer than a field are cut.
 * Returns 0, or -1 with the reason in err.
 */
int doctor_head_parse(const char *p, size_t len, struct doctor_head *h,
    char *err, size_t errlen) MUSTCHECK;

#endif
