/* SPDX-License-Identifier: BSD-2-Clause */
/* One-line, levelled messages to stderr (the web server's error log). */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum log_level log_threshold = LOG_LEVEL_INFO;
static const char *log_name = "sse-outbox";

void
log_init(const char *progname, enum log_level threshold)
{
	log_name = progname;
	log_threshold = threshold;
}

/*
 * Format the whole line first and hand it to stderr in one write, so lines
 * from several threads never interleave in the web server's log.
 */
static void
log_vemit(const char *level, const char *fmt, va_list ap, const char *suffix)
{
	char line[1024];
	int n;
	int m;

	n = snprintf(line, sizeof(line), "%s[%ld]: %s: ", log_name,
	    (long)getpid(), level);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (m > 0)
		n += m;
	if ((size_t)n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	if (suffix) {
		m = snprintf(line + n, sizeof(line) - n, ": %s", suffix);
		if (m > 0)
			n += m;
		if ((size_t)n >= sizeof(line) - 1)
			n = sizeof(line) - 2;
	}
	/* Never let a newline from the message split the entry. */
	for (int i = 0; i < n; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

#define LOG_BODY(level, suffix) do { \
	va_list ap; \
	va_start(ap, fmt); \
	log_vemit(level, fmt, ap, suffix); \
	va_end(ap); \
} while (0)

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	char buf[256];
	const char *msg = strerror_r(saved, buf, sizeof(buf));

	if (log_threshold >= LOG_LEVEL_WARN)
		LOG_BODY("warning", msg);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	if (log_threshold >= LOG_LEVEL_WARN)
		LOG_BODY("warning", NULL);
}

void
log_errorx(const char *fmt, ...)
{
	LOG_BODY("error", NULL);
}

void
log_infox(const char *fmt, ...)
{
	LOG_BODY("info", NULL);
}

void
log_debugx(const char *fmt, ...)
{
	LOG_BODY("debug", NULL);
}
