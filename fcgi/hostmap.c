/* SPDX-License-Identifier: BSD-2-Clause */
/* The file a database's processes share: published cursor, process slots. */
#include "hostmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fnv.h"
#include "hostmap_place.h"

#define HOSTMAP_SIZE (sizeof(struct hostmap_head) + \
	HOSTMAP_SLOTS * sizeof(struct hostmap_slot) + ROWRING_BYTES)

_Static_assert(sizeof(struct hostmap_head) == 128, "header layout");
_Static_assert(sizeof(struct hostmap_slot) == 160, "slot layout");

uint64_t
hostmap_hash(const char *key, size_t len)
{
	return fnv_add(FNV_START, key, len);
}

/* An OFD lock on one byte: F_OFD_SETLK, F_OFD_SETLKW or F_OFD_GETLK. */
static int
hostmap_lock(int fd, int cmd, short type, off_t byte, short *found)
{
	struct flock lk;
	int rc;

	memset(&lk, 0, sizeof(lk));
	lk.l_type = type;
	lk.l_whence = SEEK_SET;
	lk.l_start = byte;
	lk.l_len = 1;
	do
		rc = fcntl(fd, cmd, &lk);
	while (rc == -1 && errno == EINTR && cmd == F_OFD_SETLKW);
	if (found)
		*found = lk.l_type;
	return rc;
}

/*
 * Who may write the shared file decides whom a wake can be steered by;
 * it must be no one the database itself does not trust: not others, its
 * group only if it is the database's, its owner the database's or us.
 * A private file (a PostgreSQL map) is ours alone.
 */
static int
hostmap_check_owner(const struct stat *st, const struct hostmap_place *pl,
    char *why, size_t whylen)
{
	if (!S_ISREG(st->st_mode)) {
		snprintf(why, whylen, "not a regular file");
		return -1;
	}
	if (st->st_mode & S_IWOTH) {
		snprintf(why, whylen, "writable by others");
		return -1;
	}
	if (pl->private && st->st_uid != geteuid()) {
		snprintf(why, whylen, "owned by uid %u, not by us",
		    (unsigned)st->st_uid);
		return -1;
	}
	if (pl->private && (st->st_mode & S_IWGRP)) {
		snprintf(why, whylen, "writable by group %u",
		    (unsigned)st->st_gid);
		return -1;
	}
	if (st->st_uid != pl->uid && st->st_uid != geteuid()) {
		snprintf(why, whylen, "owned by uid %u, not the database's "
		    "owner", (unsigned)st->st_uid);
		return -1;
	}
	if ((st->st_mode & S_IWGRP) && st->st_gid != pl->gid) {
		snprintf(why, whylen, "writable by group %u, not the "
		    "database's", (unsigned)st->st_gid);
		return -1;
	}
	return 0;
}

/* Does a live process hold the leader's or a slot's lock? */
static int
hostmap_in_use(int fd)
{
	struct flock lk;

	memset(&lk, 0, sizeof(lk));
	lk.l_type = F_WRLCK;
	lk.l_whence = SEEK_SET;
	lk.l_start = HOSTMAP_LOCK_LEAD;
	lk.l_len = HOSTMAP_LOCK_SLOT + HOSTMAP_SLOTS - HOSTMAP_LOCK_LEAD;
	if (fcntl(fd, F_OFD_GETLK, &lk) == -1)
		return 1;	/* cannot tell: leave it alone */
	return lk.l_type != F_UNLCK;
}

/* Is the file of this version and size? */
static int
hostmap_fits(int fd, const struct stat *st)
{
	struct hostmap_head h;

	if ((size_t)st->st_size != HOSTMAP_SIZE)
		return 0;
	if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return 0;
	return (h.magic == 0 && h.version == 0 && h.size == 0) ||
	    (h.magic == HOSTMAP_MAGIC && h.version == HOSTMAP_VERSION);
}

/* Under the init lock: lay out a new file, or check an existing one. */
static int
hostmap_prepare(struct hostmap *m, const struct hostmap_place *pl,
    char *why, size_t whylen)
{
	struct hostmap_head *h = m->head;

	if (h->magic == 0 && h->version == 0 && h->size == 0) {
		h->version = HOSTMAP_VERSION;
		h->size = (uint32_t)HOSTMAP_SIZE;
		h->nslots = HOSTMAP_SLOTS;
		atomic_store(&h->cursor, -1);
		atomic_store(&h->target, -1);
		atomic_store(&h->db_dev, pl->id_dev);
		atomic_store(&h->db_ino, pl->id_ino);
		atomic_thread_fence(memory_order_seq_cst);
		h->magic = HOSTMAP_MAGIC;
		return 0;
	}
	if (h->magic != HOSTMAP_MAGIC || h->version != HOSTMAP_VERSION ||
	    h->size != HOSTMAP_SIZE || h->nslots != HOSTMAP_SLOTS ||
	    atomic_load(&h->high) > HOSTMAP_SLOTS) {
		snprintf(why, whylen, "damaged or of another version");
		return -1;
	}
	if (atomic_load(&h->db_dev) != pl->id_dev ||
	    atomic_load(&h->db_ino) != pl->id_ino) {
		/* The database was replaced while nobody watched: its
		 * ids mean nothing here. */
		atomic_store(&h->cursor, -1);
		atomic_store(&h->target, -1);
		atomic_store(&h->db_dev, pl->id_dev);
		atomic_store(&h->db_ino, pl->id_ino);
		atomic_fetch_add(&h->epoch, 1);
	}
	return 0;
}

/* The first free slot; its lock is ours from here on. */
static int
hostmap_claim(struct hostmap *m)
{
	struct hostmap_head *h = m->head;

	for (int i = 0; i < HOSTMAP_SLOTS; i++) {
		struct hostmap_slot *s = &m->slots[i];
		uint32_t high;

		if (hostmap_lock(m->fd, F_OFD_SETLK, F_WRLCK,
		    HOSTMAP_LOCK_SLOT + i, NULL) == -1)
			continue;
		atomic_store(&s->flags, 0);
		atomic_store(&s->nkeys, 0);
		atomic_store(&s->pid, (uint32_t)getpid());
		high = atomic_load(&h->high);
		while (high < (uint32_t)i + 1 &&
		    !atomic_compare_exchange_weak(&h->high, &high,
		    (uint32_t)i + 1))
			;
		m->slot = i;
		return 0;
	}
	return -1;
}

struct hostmap *
hostmap_open(const struct hostmap_place *pl, char *why, size_t whylen)
{
	struct hostmap *m = calloc(1, sizeof(*m));
	const char *path = pl->path;
	struct stat st;
	int locked = 0;
	void *p;

	if (!m) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	m->fd = -1;
	m->slot = -1;
	m->fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
	    pl->mode);
	if (m->fd < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (hostmap_lock(m->fd, F_OFD_SETLKW, F_WRLCK, HOSTMAP_LOCK_INIT,
	    NULL) == -1) {
		snprintf(why, whylen, "%s: lock: %s", path, strerror(errno));
		goto out;
	}
	locked = 1;
	if (fstat(m->fd, &st) == -1) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		goto out;
	}
	/* A private file is never made ours by a chmod: one that someone
	 * else could open for writing may still be open there. */
	if ((st.st_size != 0 || pl->private) &&
	    hostmap_check_owner(&st, pl, why, whylen) == -1)
		goto out_named;
	/* Left by an earlier version that nobody uses any more: rebuilt,
	 * so that an upgrade does not disable this mode. */
	if (st.st_size != 0 && !hostmap_fits(m->fd, &st) &&
	    !hostmap_in_use(m->fd)) {
		if (ftruncate(m->fd, 0) == -1)
			goto out_errno;
		st.st_size = 0;
	}
	if (st.st_size == 0) {
		/* Ours, just made: the database's owner and mode, whatever
		 * the umask (chown works only for root, and needs not). */
		mode_t mode = pl->mode;

		if (st.st_uid != pl->uid || st.st_gid != pl->gid)
			(void)!fchown(m->fd, pl->uid, pl->gid);
		if (fstat(m->fd, &st) == -1)
			goto out_errno;
		/* Not the database's group: that group stays out. */
		if (st.st_gid != pl->gid)
			mode &= ~(mode_t)S_IWGRP;
		if (fchmod(m->fd, mode) == -1 ||
		    ftruncate(m->fd, (off_t)HOSTMAP_SIZE) == -1 ||
		    fstat(m->fd, &st) == -1) {
out_errno:
			snprintf(why, whylen, "%s: %s", path, strerror(errno));
			goto out;
		}
	}
	if (hostmap_check_owner(&st, pl, why, whylen) == -1)
		goto out_named;
	if ((size_t)st.st_size != HOSTMAP_SIZE) {
		snprintf(why, whylen, "damaged or of another version");
		goto out_named;
	}
	p = mmap(NULL, HOSTMAP_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
	    m->fd, 0);
	if (p == MAP_FAILED) {
		snprintf(why, whylen, "%s: mmap: %s", path, strerror(errno));
		goto out;
	}
	m->size = HOSTMAP_SIZE;
	m->head = p;
	m->slots = (struct hostmap_slot *)(m->head + 1);
	m->ring = m->slots + HOSTMAP_SLOTS;
	m->dev = (uint64_t)st.st_dev;
	m->ino = (uint64_t)st.st_ino;
	if (hostmap_prepare(m, pl, why, whylen) == -1)
		goto out_named;
	if (hostmap_claim(m) == -1) {
		snprintf(why, whylen, "%s: all %d slots taken", path,
		    HOSTMAP_SLOTS);
		goto out;
	}
	(void)hostmap_lock(m->fd, F_OFD_SETLK, F_UNLCK, HOSTMAP_LOCK_INIT,
	    NULL);
	return m;
out_named:
	{
		char reason[128];

		snprintf(reason, sizeof(reason), "%s", why);
		snprintf(why, whylen, "%s: %s", path, reason);
	}
out:
	if (locked)
		(void)hostmap_lock(m->fd, F_OFD_SETLK, F_UNLCK,
		    HOSTMAP_LOCK_INIT, NULL);
	hostmap_close(m);
	return NULL;
}

void
hostmap_close(struct hostmap *m)
{
	if (!m)
		return;
	if (m->head && m->slot >= 0) {
		struct hostmap_slot *s = &m->slots[m->slot];

		atomic_store(&s->flags, 0);
		atomic_store(&s->pid, 0);
		if (atomic_load(&m->head->leader_pid) == (uint32_t)getpid())
			atomic_store(&m->head->leader_pid, 0);
	}
	if (m->head)
		munmap(m->head, m->size);
	if (m->fd >= 0)
		close(m->fd);
	free(m);
}

int
hostmap_try_lead(struct hostmap *m)
{
	if (hostmap_lock(m->fd, F_OFD_SETLK, F_WRLCK, HOSTMAP_LOCK_LEAD,
	    NULL) == 0)
		return 1;
	return errno == EAGAIN || errno == EACCES ? 0 : -1;
}

int
hostmap_wait_lead(struct hostmap *m)
{
	return hostmap_lock(m->fd, F_OFD_SETLKW, F_WRLCK, HOSTMAP_LOCK_LEAD,
	    NULL);
}

int
hostmap_slot_held(struct hostmap *m, int i)
{
	short found = F_UNLCK;

	if (hostmap_lock(m->fd, F_OFD_GETLK, F_WRLCK, HOSTMAP_LOCK_SLOT + i,
	    &found) == -1)
		return 1;	/* cannot tell: keep it */
	return found != F_UNLCK;
}

void
hostmap_publish_keys(struct hostmap *m, const uint64_t *keys, size_t nkeys,
    uint32_t flags)
{
	struct hostmap_slot *s = &m->slots[m->slot];

	atomic_fetch_add(&s->seq, 1);		/* odd: being rewritten */
	for (size_t i = 0; i < nkeys && i < HOSTMAP_KEYS; i++)
		atomic_store_explicit(&s->keys[i], keys[i],
		    memory_order_relaxed);
	atomic_store_explicit(&s->nkeys, (uint32_t)nkeys,
	    memory_order_relaxed);
	atomic_store_explicit(&s->flags, flags, memory_order_relaxed);
	atomic_fetch_add(&s->seq, 1);		/* even: done */
}

int
hostmap_slot_wants(struct hostmap *m, int i, uint64_t hash, int bcast)
{
	struct hostmap_slot *s = &m->slots[i];
	uint32_t seq = atomic_load(&s->seq);
	uint32_t flags = atomic_load_explicit(&s->flags,
	    memory_order_relaxed);
	uint32_t n = atomic_load_explicit(&s->nkeys, memory_order_relaxed);
	int want = 0;

	if (atomic_load_explicit(&s->pid, memory_order_relaxed) == 0)
		return 0;
	if (seq & 1)
		return 1;	/* being rewritten: a spurious wake is cheap */
	if (!(flags & HOSTMAP_ACTIVE))
		want = 0;
	else if (bcast || (flags & HOSTMAP_ALL) || n > HOSTMAP_KEYS)
		want = 1;
	else
		for (uint32_t k = 0; k < n && !want; k++)
			want = atomic_load_explicit(&s->keys[k],
			    memory_order_relaxed) == hash;
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load(&s->seq) != seq)
		return 1;
	return want;
}
