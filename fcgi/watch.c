/* SPDX-License-Identifier: BSD-2-Clause */
/* Notices commits to the database without polling: inotify on its files. */
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct watch {
	int fd;			/* inotify instance, non-blocking */
	int wd;			/* the directory's watch; -1 once lost */
	char *db_path;		/* as configured, resolved again on rearm */
	char *dir;		/* directory watched, links resolved */
	char *base;		/* database file name, without directory */
	size_t base_len;
	char *shm_path;		/* the database's -shm file */
	int shm_fd;		/* open on first use; see watch_writer_active */
	dev_t shm_dev;		/* the file shm_fd is open on */
	ino_t shm_ino;
	double next_rearm;	/* watch_writer_active's next try, lost */
	dev_t dir_dev;		/* the directory the watch is on */
	ino_t dir_ino;
};

/*
 * SQLite's WAL locks live at byte 120 of the -shm file (the unix VFS's
 * UNIX_SHM_BASE); slot 0 is WAL_WRITE_LOCK.
 */
#define WATCH_WAL_WRITE_LOCK 120

#define WATCH_MASK (IN_MODIFY | IN_CREATE | IN_DELETE | IN_MOVED_TO | \
	IN_MOVED_FROM | IN_CLOSE_WRITE | IN_DELETE_SELF | IN_MOVE_SELF | \
	IN_ONLYDIR)

static double
watch_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Set dir, base and shm_path from db_path with symbolic links resolved,
 * as SQLite resolves them to name -wal and -shm: the file itself when it
 * exists, else its directory. 0, or -1 (out of memory).
 */
static int
watch_resolve(struct watch *w)
{
	char *real = realpath(w->db_path, NULL);
	const char *path = real ? real : w->db_path;
	const char *slash = strrchr(path, '/');
	char *dir = NULL;
	char *rdir = NULL;
	char *base = NULL;
	char *shm = NULL;
	int rc = -1;

	if (slash)
		dir = strndup(path, slash == path ? 1 :
		    (size_t)(slash - path));
	else
		dir = strdup(".");
	base = strdup(slash ? slash + 1 : path);
	if (!dir || !base)
		goto out;
	if (!real) {
		rdir = realpath(dir, NULL);
		if (rdir) {
			free(dir);
			dir = rdir;
		}
	}
	if (asprintf(&shm, "%s%s%s-shm", strcmp(dir, "/") == 0 ? "" : dir,
	    "/", base) < 0) {
		shm = NULL;
		goto out;
	}
	free(w->dir);
	free(w->base);
	free(w->shm_path);
	w->dir = dir;
	w->base = base;
	w->base_len = strlen(base);
	w->shm_path = shm;
	dir = base = NULL;
	rc = 0;
out:
	free(real);
	free(dir);
	free(base);
	return rc;
}

/* Remember which directory the watch is on, for watch_verify. */
static void
watch_note_dir(struct watch *w)
{
	struct stat st;

	if (w->wd < 0 || stat(w->dir, &st) == -1) {
		w->dir_dev = 0;
		w->dir_ino = 0;
		return;
	}
	w->dir_dev = st.st_dev;
	w->dir_ino = st.st_ino;
}

struct watch *
watch_open(const char *db_path, char *err, size_t errlen)
{
	struct watch *w = calloc(1, sizeof(*w));

	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->fd = -1;
	w->wd = -1;
	w->shm_fd = -1;
	w->db_path = strdup(db_path);
	if (!w->db_path || watch_resolve(w) == -1) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		snprintf(err, errlen, "inotify_init1: %s", strerror(errno));
		goto out;
	}
	w->wd = inotify_add_watch(w->fd, w->dir, WATCH_MASK);
	watch_note_dir(w);
	if (w->wd < 0) {
		snprintf(err, errlen, "inotify_add_watch %s: %s", w->dir,
		    strerror(errno));
		goto out;
	}
	return w;
out:
	watch_close(w);
	return NULL;
}

void
watch_close(struct watch *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	/*
	 * Closing any descriptor of a file drops every POSIX lock this
	 * process holds on it, SQLite's own included; so shm_fd is closed
	 * only here, when the process is done with the database, or when
	 * its file is no longer the -shm (watch_writer_active).
	 */
	if (w->shm_fd >= 0)
		close(w->shm_fd);
	free(w->db_path);
	free(w->dir);
	free(w->shm_path);
	free(w->base);
	free(w);
}

int
watch_fd(const struct watch *w)
{
	return w->fd;
}

int
watch_rearm(struct watch *w)
{
	if (w->wd >= 0)
		return 0;
	if (watch_resolve(w) == -1)
		return -1;
	w->wd = inotify_add_watch(w->fd, w->dir, WATCH_MASK);
	watch_note_dir(w);
	return w->wd < 0 ? -1 : 0;
}

int
watch_verify(struct watch *w)
{
	struct stat st;

	if (w->wd >= 0 && stat(w->dir, &st) == 0 && st.st_dev == w->dir_dev &&
	    st.st_ino == w->dir_ino)
		return WATCH_NOTHING;
	/*
	 * Removed or replaced without the notification: inotify reports
	 * a deleted directory only once nothing pins it, and an open file
	 * in it (another process's, or one of ours) does.
	 */
	if (w->wd >= 0) {
		(void)inotify_rm_watch(w->fd, w->wd);
		w->wd = -1;
	}
	return WATCH_LOST | WATCH_REPLACED;
}

/*
 * Is name the database itself (0), its -wal (1), its -shm (2), or
 * something else (-1)?
 */
static int
watch_which(const struct watch *w, const char *name)
{
	if (strncmp(name, w->base, w->base_len) != 0)
		return -1;
	if (name[w->base_len] == '\0')
		return 0;
	if (strcmp(name + w->base_len, "-wal") == 0)
		return 1;
	if (strcmp(name + w->base_len, "-shm") == 0)
		return 2;
	return -1;
}

/* What one notification about the watched directory means. */
static int
watch_event_mask(struct watch *w, const struct inotify_event *ie)
{
	int which;

	if (ie->mask & IN_Q_OVERFLOW)
		return WATCH_COMMIT;
	if (ie->wd != w->wd || w->wd < 0)
		return WATCH_NOTHING;	/* a watch given up before */
	if (ie->mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF |
	    IN_UNMOUNT)) {
		/* A renamed directory is still watched: stop that. */
		if (!(ie->mask & IN_IGNORED))
			(void)inotify_rm_watch(w->fd, w->wd);
		w->wd = -1;
		return WATCH_LOST | WATCH_REPLACED | WATCH_COMMIT;
	}
	which = ie->len ? watch_which(w, ie->name) : -1;
	switch (which) {
	case 0:
		if (ie->mask & (IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO |
		    IN_CREATE))
			return WATCH_REPLACED | WATCH_COMMIT;
		return WATCH_COMMIT;
	case 1:
		if (ie->mask & (IN_DELETE | IN_MOVED_FROM))
			return WATCH_REPLACED | WATCH_COMMIT;
		return WATCH_COMMIT;
	case 2:
		/* Written through mmap, which raises nothing: only its
		 * removal matters. */
		if (ie->mask & (IN_DELETE | IN_MOVED_FROM))
			return WATCH_REPLACED | WATCH_COMMIT;
		return WATCH_NOTHING;
	default:
		return WATCH_NOTHING;
	}
}

int
watch_drain(struct watch *w)
{
	char ev[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int mask = WATCH_NOTHING;

	for (;;) {
		ssize_t n = read(w->fd, ev, sizeof(ev));
		char *p = ev;

		if (n <= 0)
			break;
		while (p < ev + n) {
			const struct inotify_event *ie =
			    (const struct inotify_event *)p;

			mask |= watch_event_mask(w, ie);
			p += sizeof(*ie) + ie->len;
		}
	}
	return mask;
}

int
watch_writer_active(struct watch *w)
{
	struct flock lk;
	struct stat st;
	int fd;

	if (w->wd < 0 && watch_now() >= w->next_rearm) {
		w->next_rearm = watch_now() + 1.0;
		(void)watch_rearm(w);
	}
	if (stat(w->shm_path, &st) == -1)
		st.st_ino = 0;		/* no -shm: not WAL, or not yet */
	/*
	 * The -shm was deleted, or re-created with the database or its
	 * directory: the open one would say "no writer" for ever. Closing
	 * drops every POSIX lock this process holds on that file (SQLite's
	 * read locks included), so only a descriptor whose file is no
	 * longer at the path is closed: no connection opened from now on
	 * uses that file, and ours that still do are stale already
	 * (outbox_still_current says 0; WATCH_REPLACED was reported).
	 */
	if (w->shm_fd >= 0 && (st.st_ino == 0 || st.st_dev != w->shm_dev ||
	    st.st_ino != w->shm_ino)) {
		close(w->shm_fd);
		w->shm_fd = -1;
	}
	if (st.st_ino == 0)
		return -1;
	if (w->shm_fd < 0) {
		fd = open(w->shm_path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -1;
		if (fstat(fd, &st) == -1) {
			close(fd);
			return -1;
		}
		w->shm_fd = fd;
		w->shm_dev = st.st_dev;
		w->shm_ino = st.st_ino;
	}
	memset(&lk, 0, sizeof(lk));
	lk.l_type = F_WRLCK;
	lk.l_whence = SEEK_SET;
	lk.l_start = WATCH_WAL_WRITE_LOCK;
	lk.l_len = 1;
	if (fcntl(w->shm_fd, F_GETLK, &lk) == -1)
		return -1;
	return lk.l_type != F_UNLCK;
}
