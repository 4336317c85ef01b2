/* Notices commits to the database without polling: inotify on its files. */
#ifndef FCGI_WATCH_H
#define FCGI_WATCH_H

#include <stddef.h>

enum watch_event {
	WATCH_NOTHING = 0,	/* events for other files only */
	WATCH_COMMIT = 1,	/* the -wal (or the database) was written */
	WATCH_REPLACED = 2,	/* the database file was removed or replaced */
	WATCH_LOST = 4,		/* PROVISIONAL: the directory watch is gone */
};

struct watch;

/*
 * Watch the directory of db_path for writes to the database and its -wal
 * file. Watching the directory, not the files, also sees a -wal that does
 * not exist yet and a database replaced by rename. Returns NULL with err
 * set when inotify is unavailable; the caller then polls instead.
 */
struct watch *watch_open(const char *db_path, char *err, size_t errlen);
void watch_close(struct watch *w);

/* PROVISIONAL: add the directory watch again; 0 or -1. */
int watch_rearm(struct watch *w);

/* The descriptor to wait on for readability. */
int watch_fd(const struct watch *w);

/* Read every pending notification; returns a mask of enum watch_event. */
int watch_drain(struct watch *w);

/*
 * Is another process inside a write transaction now? 1 yes, 0 no, -1
 * unknown. Asks (F_GETLK, which takes nothing) whether SQLite's WAL write
 * lock, byte 120 of the -shm file, is held. A writer updates the
 * wal-index before it lets go of that lock, so once it is free every
 * commit whose -wal write raised a notification is visible to readers.
 */
int watch_writer_active(struct watch *w);

#endif
