/* SPDX-License-Identifier: BSD-2-Clause */
/* The doctor's HTTP client: one GET with a deadline, read as it arrives. */
#ifndef FCGI_DOCTOR_HTTP_H
#define FCGI_DOCTOR_HTTP_H

#include <stddef.h>

#include "../mustcheck.h"
#include "body.h"
#include "head.h"
#include "url.h"

#define DOCTOR_AUTH_MAX 1024	/* --token / --basic value, bytes */

/*
 * Base64 (RFC 4648, with padding) of n bytes of p into out, which must
 * hold 4 * ((n + 2) / 3) + 1 bytes. Returns 0, or -1 if out is too small.
 */
int doctor_base64_encode(const char *p, size_t n, char *out,
    size_t outlen) MUSTCHECK;


/* Seconds on a monotonic clock: the times in struct doctor_body. */
double doctor_now(void);

/*
 * The request into req (size bytes), as a browser's EventSource sends
 * it, with Authorization: Bearer token or Basic basic (USER:PASSWORD)
 * when given. Returns 0, or -1 with the reason in err.
 */
int doctor_http_request(const struct doctor_url *u, const char *token,
    const char *basic, char *req, size_t size, char *err,
    size_t errlen) MUSTCHECK;

/*
 * Connect to u before deadline (doctor_now() seconds). Returns the
 * socket (non-blocking; the caller closes it), or -1 with err set.
 */
int doctor_http_connect(const struct doctor_url *u, double deadline,
    char *err, size_t errlen) MUSTCHECK;

/* Send n bytes before deadline. Returns 0, or -1 with err set. */
int doctor_http_send(int fd, const char *p, size_t n, double deadline,
    char *err, size_t errlen) MUSTCHECK;

/*
 * Read the head, then the body until it ends, before deadline. Returns
 * 0 with h, b and *head_at filled, 1 when the status is not 200 (h
 * filled, b not), or -1 with err set.
 */
int doctor_http_exchange(int fd, double deadline, struct doctor_head *h,
    struct doctor_body *b, double *head_at, char *err,
    size_t errlen) MUSTCHECK;

#endif
