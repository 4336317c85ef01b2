/* SPDX-License-Identifier: BSD-2-Clause */
/* The doctor's report: what it saw and what to change, on stdout/stderr. */
#ifndef FCGI_DOCTOR_REPORT_H
#define FCGI_DOCTOR_REPORT_H

#include <stddef.h>

#include "body.h"
#include "head.h"
#include "verdict.h"

/* Room for any head field escaped: every byte may become \xNN. */
#define DOCTOR_ESC_MAX (4 * 160 + 4)

/*
 * s as printable ASCII, into out (size bytes, NUL-terminated, cut with
 * "..." when it does not fit): a byte below 0x20, 0x7f or above becomes
 * \xNN and a backslash \\, so a server's header cannot move the cursor,
 * retitle the terminal or forge a line of the report. "" becomes "-".
 * Returns out.
 */
const char *doctor_escape(const char *s, char *out, size_t size);

/* The head as received, every value escaped; delay: seconds to it. */
void doctor_print_head(const struct doctor_head *h, double delay);

/* An answer other than 200: what the status means, on stderr. */
void doctor_print_refused(const struct doctor_head *h, const char *cred);

/* A 200 that is not an event stream, on stderr. */
void doctor_print_not_stream(const struct doctor_head *h);

/* The probe events' times and the verdict (sent_at: request sent). */
void doctor_print_verdict(const struct doctor_head *h,
    const struct doctor_body *b, const struct doctor_finding *f,
    double sent_at);

/* The fixes for a held or compressed stream, most likely first. */
void doctor_print_advice(const struct doctor_head *h,
    const struct doctor_finding *f);

#endif
