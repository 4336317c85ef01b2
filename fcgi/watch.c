/* Notices commits to the database without polling: inotify on its files. */
#include "watch.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

struct watch {
	int fd;			/* inotify instance, non-blocking */
	int wd;			/* the directory's watch */
	char *base;		/* database file name, without directory */
	size_t base_len;
	char *shm_path;		/* the database's -shm file */
	int shm_fd;		/* open on first use, closed only at exit */
};

/*
 * SQLite's WAL locks live at byte 120 of the -shm file (the unix VFS's
 * UNIX_SHM_BASE); slot 0 is WAL_WRITE_LOCK.
 */
#define WATCH_WAL_WRITE_LOCK 120

struct watch *
watch_open(const char *db_path, char *err, size_t errlen)
{
	struct watch *w = calloc(1, sizeof(*w));
	const char *slash = strrchr(db_path, '/');
	char *dir = NULL;

	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->fd = -1;
	w->shm_fd = -1;
	if (asprintf(&w->shm_path, "%s-shm", db_path) < 0) {
		w->shm_path = NULL;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (slash) {
		dir = strndup(db_path, slash == db_path ? 1 :
		    (size_t)(slash - db_path));
		w->base = strdup(slash + 1);
	} else {
		dir = strdup(".");
		w->base = strdup(db_path);
	}
	if (!dir || !w->base) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	w->base_len = strlen(w->base);
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		snprintf(err, errlen, "inotify_init1: %s", strerror(errno));
		goto out;
	}
	w->wd = inotify_add_watch(w->fd, dir, IN_MODIFY | IN_CREATE |
	    IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE);
	if (w->wd < 0) {
		snprintf(err, errlen, "inotify_add_watch %s: %s", dir,
		    strerror(errno));
		goto out;
	}
	free(dir);
	return w;
out:
	free(dir);
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
	 * only here, when the process is done with the database.
	 */
	if (w->shm_fd >= 0)
		close(w->shm_fd);
	free(w->shm_path);
	free(w->base);
	free(w);
}

int
watch_fd(const struct watch *w)
{
	return w->fd;
}

/* Is name the database itself (0), its -wal (1), or something else (-1)? */
static int
watch_which(const struct watch *w, const char *name)
{
	if (strncmp(name, w->base, w->base_len) != 0)
		return -1;
	if (name[w->base_len] == '\0')
		return 0;
	if (strcmp(name + w->base_len, "-wal") == 0)
		return 1;
	return -1;
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
			int which = ie->len ? watch_which(w, ie->name) : -1;

			if (ie->mask & IN_Q_OVERFLOW)
				mask |= WATCH_COMMIT;
			if (which == 1)
				mask |= WATCH_COMMIT;
			if (which == 0) {
				if (ie->mask & (IN_DELETE | IN_MOVED_FROM |
				    IN_MOVED_TO | IN_CREATE))
					mask |= WATCH_REPLACED;
				mask |= WATCH_COMMIT;
			}
			p += sizeof(*ie) + ie->len;
		}
	}
	return mask;
}

int
watch_writer_active(struct watch *w)
{
	struct flock lk;

	if (w->shm_fd < 0) {
		w->shm_fd = open(w->shm_path, O_RDONLY | O_CLOEXEC);
		if (w->shm_fd < 0)
			return -1;
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

int
watch_rearm(struct watch *w)
{
	(void)w;
	return -1;
}
