/* SPDX-License-Identifier: BSD-2-Clause */
/* Notices commits to the database without polling: inotify on its files. */
#ifndef FCGI_WATCH_H
#define FCGI_WATCH_H

#include <stddef.h>

enum watch_event {
	WATCH_NOTHING = 0,	/* events for other files only */
	WATCH_COMMIT = 1,	/* the -wal (or the database) was written */
	WATCH_REPLACED = 2,	/* the database, its -wal or its -shm was
				 * removed or replaced: close the
				 * connection and open it again */
	WATCH_LOST = 4,		/* the directory itself went (removed or
				 * renamed): no more notifications until
				 * watch_rearm succeeds */
};

struct watch;

/*
 * Watch the directory of db_path for writes to the database and its -wal
 * file. Watching the directory, not the files, also sees a -wal that does
 * not exist yet and a database replaced by rename. A symbolic link is
 * resolved (realpath) first: SQLite keeps -wal and -shm next to the file
 * the link points to, so that is the directory watched and the -shm
 * whose lock is looked at. Returns NULL with err set when inotify is
 * unavailable or the directory cannot be watched; the caller then polls
 * instead.
 */
struct watch *watch_open(const char *db_path, char *err, size_t errlen);

/* w may be NULL. */
void watch_close(struct watch *w);

/* PROVISIONAL: add the directory watch again; 0 or -1. */
int watch_rearm(struct watch *w);

/*
 * Is the watch still on the database's directory as it is now? For a
 * slow periodic check: a removed directory that something still pins
 * (an open file in it) raises no notification. WATCH_NOTHING, or
 * WATCH_LOST | WATCH_REPLACED (then call watch_rearm as after a lost
 * notification).
 */
int watch_verify(struct watch *w);

/* The descriptor to wait on for readability. */
int watch_fd(const struct watch *w);

/*
 * Read every pending notification; returns a mask of enum watch_event.
 * WATCH_REPLACED: the database was deleted, renamed away or over, or its
 * -wal or -shm was deleted or renamed away (SQLite itself deletes them
 * only when the last connection closes, so with a connection open this
 * is an operator's "rm app.db-wal app.db-shm"; a caller with none open
 * may ignore it, or ask outbox_still_current). WATCH_LOST comes with
 * WATCH_REPLACED when the directory went: call watch_rearm until it
 * returns 0.
 */
int watch_drain(struct watch *w);

/*
 * After WATCH_LOST: resolve db_path again and watch its directory anew
 * (a re-created directory is another inode). 0 once watched (or when
 * nothing was lost); -1 while the directory cannot be watched (it does
 * not exist yet): try again later, e.g. once a second. Commits made
 * while nothing was watched were not reported: look at the database once
 * after it succeeds. watch_writer_active also tries it, at most once a
 * second, so a caller that keeps asking it needs no timer of its own.
 */
int watch_rearm(struct watch *w);

/*
 * Is another process inside a write transaction now? 1 yes, 0 no, -1
 * cannot tell (no -shm file: the database is not in WAL mode, or not
 * created yet; one stat call, no retry cost). Asks (F_GETLK, which takes
 * nothing) whether SQLite's WAL write lock, byte 120 of the -shm file,
 * is held. A writer updates the wal-index before it lets go of that
 * lock, so once it is free every commit whose -wal write raised a
 * notification is visible to readers. When the -shm path names another
 * file than the one looked at before (deleted, re-created with the
 * database or its directory), the new one is opened.
 */
int watch_writer_active(struct watch *w);

#endif
