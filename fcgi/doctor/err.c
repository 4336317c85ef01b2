/* SPDX-License-Identifier: BSD-2-Clause */
/* The doctor's error messages: one line into the caller's buffer. */
#include "err.h"

#include <stdio.h>

int
doctor_fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return -1;
}
