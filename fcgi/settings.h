/* SPDX-License-Identifier: BSD-2-Clause */
/* The settings file beside the program: where it is, and whether to trust it. */
#ifndef FCGI_SETTINGS_H
#define FCGI_SETTINGS_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "mustcheck.h"

#define SETTINGS_PATH_MAX 4096

/*
 * Where the settings file of this program is: the program's path with
 * its extension (".cgi", ".fcgi", anything after the last '.' of the
 * file name) replaced by ".conf", or ".conf" added when it has none:
 * /srv/t/sse-outbox.cgi -> /srv/t/sse-outbox.conf, /usr/local/bin/
 * sse-outbox -> /usr/local/bin/sse-outbox.conf. The program's path is
 * argv0 when it holds a '/'; else argv0 in the working directory when
 * such a file exists there (CGI, suEXEC and mod_fcgid start a program by
 * its bare name in its own directory); else /proc/self/exe. A relative
 * path is made absolute. *prog_uid is the owner of the program file
 * itself (a symbolic link's own owner). Returns 0, or -1 with
 * "settings: reason" in err.
 */
int settings_locate(const char *argv0, char *conf, size_t size,
    uid_t *prog_uid, char *err, size_t errlen) MUSTCHECK;

/*
 * Why a settings file must not be believed, or NULL when it may: file
 * and dir are the stat of the file and of its directory. Only these may
 * own either of them: root, euid (the user the program runs as) and
 * prog_uid (who owns the program: they choose what runs anyway). Neither
 * may be writable by group or others, as suEXEC demands of a script and
 * its directory; the file must be a regular file. Pure: no I/O.
 */
const char *settings_unsafe(const struct stat *file, const struct stat *dir,
    uid_t euid, uid_t prog_uid);

/*
 * Read the settings file at path, after settings_unsafe approved it and
 * its directory (a symbolic link is refused). Returns 1 with the
 * contents in *text (NUL-terminated, *len bytes, caller frees), 0 when
 * there is no file at path, or -1 with "path: reason" in err.
 */
int settings_read(const char *path, uid_t prog_uid, char **text,
    size_t *len, char *err, size_t errlen) MUSTCHECK;

#endif
