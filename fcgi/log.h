/* SPDX-License-Identifier: BSD-2-Clause */
/* One-line, levelled messages to stderr (the web server's error log). */
#ifndef FCGI_LOG_H
#define FCGI_LOG_H

enum log_level {
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARN = 1,
	LOG_LEVEL_INFO = 2,
	LOG_LEVEL_DEBUG = 3,
};

extern enum log_level log_threshold;	/* messages above it are dropped */

/* Tag every line with the program name and pid; call once at startup. */
void log_init(const char *progname, enum log_level threshold);

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* log_warn appends strerror(errno) and leaves errno unchanged. */
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_errorx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_infox(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debugx(const char *fmt, ...) LOG_PRINTF(1, 2);

/* Arguments are not evaluated unless the level is enabled. */
#define log_info(...) do { \
	if (log_threshold >= LOG_LEVEL_INFO) log_infox(__VA_ARGS__); \
} while (0)
#define log_debug(...) do { \
	if (log_threshold >= LOG_LEVEL_DEBUG) log_debugx(__VA_ARGS__); \
} while (0)

#endif
