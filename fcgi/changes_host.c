/* SPDX-License-Identifier: BSD-2-Clause */
/* Commits to a store, read once per host for every process. */
#include "changes.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "hostmap.h"
#include "hostmap_place.h"
#include "log.h"
#include "outbox.h"

/*
 * Under mod_fcgid or CGI every stream is a process. Instead of each one
 * watching and reading the database, the processes of one database share
 * <db>-sse (hostmap.c) and one of them, the leader (whoever holds the
 * leader lock; it dies with its process), runs the per-process source
 * (changes_sqlite.c), reads each commit once through the hub's live read,
 * copies each row into the shared file's ring (rowring.c), and wakes the
 * processes whose slot holds a hash of the row's recipient (all active
 * ones for a broadcast), by one datagram to the abstract unix socket each
 * process binds, named after the shared file and its pid. A woken
 * follower takes the new rows from the ring and gives each to its
 * streams whose keys equal the row's recipient, byte for byte, as its own
 * live read would; it touches the database only to catch a stream up
 * (a resume, a slow client) or when the ring cannot give every row
 * (lapped, a row too large for it, a new leader): then it moves its live
 * cursor to the published target and its streams read their own rows.
 *
 * Publishing is two-phase: target = X before the wakes, cursor = X after
 * them. A leader killed between the two leaves cursor behind target, so
 * its successor (which starts at cursor) wakes those processes again;
 * a spurious wake costs one indexed read, a repeat row is impossible
 * (every stream skips ids up to its own last id).
 *
 * Every process but the leader waits for the leader lock in a small
 * thread blocked in F_OFD_SETLKW: no cost while idle (no timer, no
 * syscall) and takeover as soon as the kernel drops a dead leader's
 * lock; it tells the loop through an eventfd. A periodic try instead
 * would cost every process a wake-up per period and a period of delay.
 *
 * Followers do no periodic SQLite work. Whenever they wake (a heartbeat,
 * a request), and at least every HOST_CHECK seconds, they compare two
 * words of the shared file: the wake counter of their slot (the leader
 * bumps it before each datagram, so a lost datagram costs at most that
 * long; a local datagram is only dropped when the receiver's buffer is
 * full, that is when wakes are pending anyway) and the replacement
 * epoch. HOST_CHECK is above the default heartbeat so that the check
 * rides on the heartbeat's wake-up: with a thousand followers, a check of
 * its own every 5 s was two thirds of all idle CPU. Every HOST_NET
 * seconds, at the next wake, they also catch up if the published target
 * moved, a net for a slot table that a bug made miss a wake.
 */
#define HOST_CHECK 16.0
#define HOST_NET 30.0
#define HOST_THREAD_STACK (64 * 1024)
#define HOST_NAME_LEN 80

struct changes_host {
	struct changes base;
	struct hostmap *map;
	char *db;
	int ep;			/* epoll: wake socket, lead eventfd, inner */
	int sock;		/* our wake socket (also used to send) */
	int lead_fd;		/* eventfd: the thread holds the lock */
	pthread_t thread;
	int thread_on;
	int leading;
	int pg;			/* the store is PostgreSQL */
	struct changes *inner;	/* leader: the per-process source */
	struct rowring ring;	/* leader: writes it; followers: read it */
	struct rowring_pos pos;	/* follower: its place in the ring */
	int pending;		/* CHANGES_* seen in on_ready, for due */
	uint32_t epoch;		/* the replacement epoch seen */
	uint32_t wakes_seen;
	long long net_target;
	double next_check;
	double next_net;
	/* This process's keys: hash and how many streams follow it. */
	uint64_t keys[HOSTMAP_KEYS];
	unsigned refs[HOSTMAP_KEYS];
	size_t nkeys;
	size_t overflow;	/* keys that did not fit: wake on all rows */
	size_t nstreams;
	/* Leader: slots to wake once this read is published. */
	uint64_t wake[HOSTMAP_SLOTS / 64];
	int wake_any;
};

static int changes_host_went_back(struct changes_host *ch);
static void changes_host_check_history(struct changes_host *ch,
    long long cursor);

/* The abstract socket name of process pid's wakes. */
static socklen_t
changes_host_name(const struct changes_host *ch, uint32_t pid,
    struct sockaddr_un *sa)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1,
	    "sse-outbox/%llx:%llx/%u", (unsigned long long)ch->map->dev,
	    (unsigned long long)ch->map->ino, pid);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static void *
changes_host_waiter(void *arg)
{
	struct changes_host *ch = arg;
	uint64_t one = 1;
	sigset_t all;

	/* The process's signals are for its main thread. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	/* An eventfd write fails only when its counter would overflow. */
	if (hostmap_wait_lead(ch->map) == 0)
		(void)!write(ch->lead_fd, &one, sizeof(one));
	return NULL;
}

/* We hold the leader lock: read for everyone from the published cursor. */
static int
changes_host_lead(struct changes_host *ch)
{
	struct hostmap_head *h = ch->map->head;
	char why[256];
	char name[512];

	ch->inner = changes_open(ch->db, why, sizeof(why));
	if (!ch->inner)
		return -1;
	if (why[0])
		log_warnx("change watcher unavailable (%s); the leader polls "
		    "the database instead", why);
	if (changes_fd(ch->inner) >= 0) {
		struct epoll_event ev = { .events = EPOLLIN };

		ev.data.fd = changes_fd(ch->inner);
		if (epoll_ctl(ch->ep, EPOLL_CTL_ADD, ev.data.fd, &ev) == -1)
			log_warn("epoll_ctl");
	}
	ch->leading = 1;
	rowring_take_over(&ch->ring);
	atomic_store(&h->leader_pid, (uint32_t)getpid());
	atomic_fetch_add(&h->leaders, 1);
	outbox_describe(ch->db, name, sizeof(name));	/* no password */
	log_info("reading %s for every process of this host (leader, "
	    "pid %d, from id %lld)", name, (int)getpid(),
	    (long long)atomic_load(&h->cursor));
	ch->pending |= CHANGES_CURSOR | CHANGES_READ;
	return 0;
}

/* A follower was woken (or its check found a wake it missed). */
static int
changes_host_woken(struct changes_host *ch, size_t nstreams)
{
	struct hostmap *m = ch->map;
	uint32_t epoch = atomic_load(&m->head->epoch);

	ch->wakes_seen = atomic_load(&m->slots[m->slot].wakes);
	if (epoch != ch->epoch) {
		ch->epoch = epoch;
		if (ch->pg)
			return changes_host_went_back(ch);
		return CHANGES_REPLACED;
	}
	if (ch->leading)
		return CHANGES_NONE;
	if (nstreams > 0 && ch->pos.valid)
		return CHANGES_ROWS;
	/* Many streams: one read of every new row serves them all. */
	return nstreams > 1 ? CHANGES_READ : CHANGES_CURSOR;
}

static int
changes_host_fd(struct changes *c)
{
	return ((struct changes_host *)c)->ep;
}

/* The leader saw the store replaced: followers end their streams too. */
static void
changes_host_replaced(struct changes_host *ch)
{
	struct hostmap_head *h = ch->map->head;

	atomic_store(&h->cursor, -1);
	atomic_store(&h->target, -1);
	ch->epoch = atomic_fetch_add(&h->epoch, 1) + 1;
	/* Its ids start again: no follower may take a row of the old one. */
	rowring_take_over(&ch->ring);
	memset(ch->wake, 0xff, sizeof(ch->wake));
	ch->wake_any = 1;
}

static int
changes_host_on_ready(struct changes *c, double now, size_t nstreams)
{
	struct changes_host *ch = (struct changes_host *)c;
	struct epoll_event evs[4];
	int n = epoll_wait(ch->ep, evs, 4, 0);
	int due = CHANGES_NONE;

	for (int i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		char byte[64];
		uint64_t v;

		if (fd == ch->sock) {
			while (recv(ch->sock, byte, sizeof(byte),
			    MSG_DONTWAIT) > 0)
				;
			due |= changes_host_woken(ch, nstreams);
		} else if (fd == ch->lead_fd) {
			if (read(ch->lead_fd, &v, sizeof(v)) > 0 &&
			    !ch->leading && changes_host_lead(ch) == -1)
				log_warnx("out of memory taking the lead");
		} else if (ch->inner && fd == changes_fd(ch->inner)) {
			/* The only reader here: never the delay spread
			 * that many readers of one commit need. */
			due |= changes_on_ready(ch->inner, now,
			    nstreams > 2 ? nstreams : 2);
			if (due & CHANGES_REPLACED)
				changes_host_replaced(ch);
		}
	}
	ch->pending |= due & ~CHANGES_REPLACED;
	return due & CHANGES_REPLACED;
}

static int
changes_host_due(struct changes *c, double now)
{
	struct changes_host *ch = (struct changes_host *)c;
	struct hostmap *m = ch->map;
	int due = ch->pending;

	ch->pending = CHANGES_NONE;
	if (ch->leading) {
		int inner = changes_due(ch->inner, now);

		if (inner & CHANGES_REPLACED)
			changes_host_replaced(ch);
		return due | inner;
	}
	/* Two words of shared memory: on every wake, whatever its cause. */
	ch->next_check = now + HOST_CHECK;
	if (atomic_load(&m->slots[m->slot].wakes) != ch->wakes_seen ||
	    atomic_load(&m->head->epoch) != ch->epoch)
		due |= changes_host_woken(ch, ch->nstreams);
	if (now >= ch->next_net) {
		long long t = (long long)atomic_load(&m->head->target);

		ch->next_net = now + HOST_NET;
		/* From the ring when it can: the database only if not
		 * (each open and close of it wakes the leader). */
		if (t != ch->net_target && ch->nstreams > 0)
			due |= ch->pos.valid ? CHANGES_ROWS : CHANGES_CURSOR;
		ch->net_target = t;
	}
	return due;
}

static double
changes_host_deadline(const struct changes *c)
{
	const struct changes_host *ch = (const struct changes_host *)c;

	if (ch->pending)
		return 0;
	if (ch->leading)
		return changes_deadline(ch->inner);
	/* The net is looked at on the next wake-up; none of its own. */
	return ch->next_check;
}

static int
changes_host_cursor(struct changes *c, long long *cursor)
{
	struct changes_host *ch = (struct changes_host *)c;
	struct hostmap_head *h = ch->map->head;
	int64_t v;

	/*
	 * A follower takes its place in the ring before the target: every
	 * row above the target was published after that place, so the
	 * ring gives it from here on (rows up to the target the streams
	 * read themselves; the ring skips them by id).
	 */
	if (!ch->leading)
		rowring_here(&ch->ring, &ch->pos);
	v = atomic_load(ch->leading ? &h->cursor : &h->target);
	*cursor = (long long)v;
	return v >= 0 ? 0 : -1;
}

static int
changes_host_rows(struct changes *c, long long after, outbox_row_fn fn,
    void *ctx, long long *upto)
{
	struct changes_host *ch = (struct changes_host *)c;
	/* The target before the ring: the ring then holds every row up to
	 * it (the leader publishes the ring first). */
	int64_t target = atomic_load(&ch->map->head->target);
	long long last;

	if (ch->leading || target < 0 ||
	    rowring_read(&ch->ring, &ch->pos, after, fn, ctx, &last) !=
	    ROWRING_OK)
		return -1;
	*upto = last > target ? last : (long long)target;
	return 0;
}

static int
changes_host_holds_rows(const struct changes *c)
{
	const struct changes_host *ch = (const struct changes_host *)c;

	return !ch->leading && ch->pos.valid;
}

static void
changes_host_saw_row(struct changes *c, const struct outbox_row *row)
{
	struct changes_host *ch = (struct changes_host *)c;
	struct hostmap *m = ch->map;
	uint32_t high = atomic_load(&m->head->high);
	const char *user = row->to == OUTBOX_TO_ALL ? NULL : row->user_id;
	uint64_t hash = user ? hostmap_hash(user, row->user_len) : 0;

	if (!ch->leading)
		return;
	rowring_append(&ch->ring, row);
	if (row->to == OUTBOX_TO_NOBODY)
		return;
	if (high > HOSTMAP_SLOTS)
		high = HOSTMAP_SLOTS;
	for (uint32_t i = 0; i < high; i++) {
		if ((int)i == m->slot || (ch->wake[i / 64] >> (i % 64) & 1))
			continue;
		if (hostmap_slot_wants(m, (int)i, hash, user == NULL)) {
			ch->wake[i / 64] |= 1ull << (i % 64);
			ch->wake_any = 1;
		}
	}
}

/* Wake slot i's process; forget the slot if its process is gone. */
static void
changes_host_send(struct changes_host *ch, int i)
{
	struct hostmap_slot *s = &ch->map->slots[i];
	uint32_t pid = atomic_load(&s->pid);
	struct sockaddr_un sa;
	socklen_t len;

	if (pid == 0)
		return;
	len = changes_host_name(ch, pid, &sa);
	atomic_fetch_add(&s->wakes, 1);
	if (sendto(ch->sock, "w", 1, MSG_DONTWAIT | MSG_NOSIGNAL,
	    (struct sockaddr *)&sa, len) == 1)
		return;
	/* EAGAIN: a wake is already queued. Otherwise the name is gone:
	 * a process killed before it could free its slot. */
	if (errno != EAGAIN && errno != EWOULDBLOCK &&
	    !hostmap_slot_held(ch->map, i)) {
		uint32_t expect = pid;

		atomic_store(&s->flags, 0);
		(void)atomic_compare_exchange_strong(&s->pid, &expect, 0);
	}
}

static void
changes_host_read_done(struct changes *c, long long cursor)
{
	struct changes_host *ch = (struct changes_host *)c;
	struct hostmap_head *h = ch->map->head;

	if (!ch->leading)
		return;
	if (ch->pg)
		changes_host_check_history(ch, cursor);
	if (!ch->wake_any && atomic_load(&h->cursor) == cursor)
		return;
	rowring_publish(&ch->ring);
	atomic_store(&h->target, cursor);
	if (ch->wake_any) {
		for (int w = 0; w < HOSTMAP_SLOTS / 64; w++) {
			uint64_t bits = ch->wake[w];

			while (bits) {
				int b = __builtin_ctzll(bits);

				bits &= bits - 1;
				if (w * 64 + b != ch->map->slot)
					changes_host_send(ch, w * 64 + b);
			}
			ch->wake[w] = 0;
		}
		ch->wake_any = 0;
	}
	atomic_store(&h->cursor, cursor);
}

static void
changes_host_write_slot(struct changes_host *ch)
{
	uint32_t flags = 0;

	if (ch->nstreams > 0)
		flags |= HOSTMAP_ACTIVE;
	if (ch->overflow > 0)
		flags |= HOSTMAP_ALL;
	hostmap_publish_keys(ch->map, ch->keys, ch->nkeys, flags);
}

static void
changes_host_follow(struct changes *c, const char *const *keys,
    const size_t *lens, size_t n, int add)
{
	struct changes_host *ch = (struct changes_host *)c;

	for (size_t k = 0; k < n; k++) {
		uint64_t hash = hostmap_hash(keys[k], lens[k]);
		size_t i;

		for (i = 0; i < ch->nkeys && ch->keys[i] != hash; i++)
			;
		if (add && i < ch->nkeys) {
			ch->refs[i]++;
		} else if (add && i < HOSTMAP_KEYS) {
			ch->keys[i] = hash;
			ch->refs[i] = 1;
			ch->nkeys++;
		} else if (add) {
			ch->overflow++;
		} else if (i < ch->nkeys && --ch->refs[i] == 0) {
			ch->nkeys--;
			ch->keys[i] = ch->keys[ch->nkeys];
			ch->refs[i] = ch->refs[ch->nkeys];
		} else if (i == ch->nkeys && ch->overflow > 0) {
			ch->overflow--;
		}
	}
	if (add)
		ch->nstreams++;
	else if (ch->nstreams > 0)
		ch->nstreams--;
	changes_host_write_slot(ch);
	/*
	 * A new stream: the leader may have looked at our slot before its
	 * keys were there, for a row it has not published yet. Catch up to
	 * what was published, then read what was not: anything later is
	 * looked at with the keys in place.
	 */
	if (add && !ch->leading)
		ch->pending |= CHANGES_CURSOR | CHANGES_READ;
}

static void
changes_host_free(struct changes *c)
{
	struct changes_host *ch = (struct changes_host *)c;

	if (ch->thread_on) {
		pthread_cancel(ch->thread);
		pthread_join(ch->thread, NULL);
	}
	changes_free(ch->inner);
	hostmap_close(ch->map);
	if (ch->sock >= 0)
		close(ch->sock);
	if (ch->lead_fd >= 0)
		close(ch->lead_fd);
	if (ch->ep >= 0)
		close(ch->ep);
	free(ch->db);
	free(ch);
}

static const struct changes_ops changes_host_ops = {
	.fd = changes_host_fd,
	.on_ready = changes_host_on_ready,
	.due = changes_host_due,
	.deadline = changes_host_deadline,
	.free = changes_host_free,
	.cursor = changes_host_cursor,
	.saw_row = changes_host_saw_row,
	.read_done = changes_host_read_done,
	.rows = changes_host_rows,
	.holds_rows = changes_host_holds_rows,
	.follow = changes_host_follow,
};

/* ---- a PostgreSQL store: where the map is, history going back ---- */

/* The shared file of the store at path (hostmap_place.c says where). */
static struct hostmap *
changes_host_map(const char *path, char *why, size_t whylen)
{
	struct hostmap_place pl;
	struct hostmap *m;

	if (hostmap_place_init(&pl, path, why, whylen) == -1)
		return NULL;
	m = hostmap_open(&pl, why, whylen);
	hostmap_place_free(&pl);
	return m;
}

/*
 * The leader's live cursor never goes back, except after a PostgreSQL
 * failover to a replica that missed the newest commits: the leader's
 * hub saw the store's ids end below its cursor, ended its own streams
 * and reports cursor -1 (hub_store_reconnected). Ids are now given again
 * below what followers' streams were sent, and a stream would skip them:
 * every follower ends its streams too, told as for a replaced database
 * (the epoch), so that clients resume; the cursor is learnt anew from
 * the store (-1 published), by this leader or its successor.
 */
static void
changes_host_check_history(struct changes_host *ch, long long cursor)
{
	int64_t was = atomic_load(&ch->map->head->cursor);

	if (was < 0 || (cursor >= 0 && cursor >= was))
		return;
	log_warnx("the outbox's history went back below id %lld: every "
	    "process of this host ends its streams so clients resume",
	    (long long)was);
	changes_host_replaced(ch);
}

/*
 * A follower saw the epoch move. For an SQLite file the hub first
 * checks that the file it has open was replaced (on_ready's answer);
 * a PostgreSQL connection has no such check, so the answer goes through
 * due(), which the hub obeys at once.
 */
static int
changes_host_went_back(struct changes_host *ch)
{
	ch->pending |= CHANGES_REPLACED;
	return CHANGES_NONE;
}

static int
changes_host_watch(struct changes_host *ch, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };

	ev.data.fd = fd;
	return epoll_ctl(ch->ep, EPOLL_CTL_ADD, fd, &ev);
}

struct changes *
changes_host_open(const char *path, char *why, size_t whylen)
{
	struct changes_host *ch = calloc(1, sizeof(*ch));
	struct sockaddr_un sa;
	pthread_attr_t attr;
	socklen_t len;
	int lead;

	if (!ch) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	ch->base.ops = &changes_host_ops;
	ch->ep = ch->sock = ch->lead_fd = -1;
	ch->db = strdup(path);
	ch->pg = outbox_is_postgres(path);
	if (!ch->db) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	ch->map = changes_host_map(path, why, whylen);
	if (!ch->map)
		goto out;
	ch->epoch = atomic_load(&ch->map->head->epoch);
	rowring_init(&ch->ring, &ch->map->head->ring, ch->map->ring);
	ch->wakes_seen = atomic_load(&ch->map->slots[ch->map->slot].wakes);
	ch->ep = epoll_create1(EPOLL_CLOEXEC);
	ch->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	ch->lead_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ch->ep < 0 || ch->sock < 0 || ch->lead_fd < 0) {
		snprintf(why, whylen, "%s", strerror(errno));
		goto out;
	}
	len = changes_host_name(ch, (uint32_t)getpid(), &sa);
	if (bind(ch->sock, (struct sockaddr *)&sa, len) == -1) {
		snprintf(why, whylen, "wake socket @%s: %s", sa.sun_path + 1,
		    strerror(errno));
		goto out;
	}
	if (changes_host_watch(ch, ch->sock) == -1 ||
	    changes_host_watch(ch, ch->lead_fd) == -1) {
		snprintf(why, whylen, "epoll_ctl: %s", strerror(errno));
		goto out;
	}
	lead = hostmap_try_lead(ch->map);
	if (lead == 1) {
		if (changes_host_lead(ch) == -1) {
			snprintf(why, whylen, "out of memory");
			goto out;
		}
	} else {
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, HOST_THREAD_STACK);
		if (pthread_create(&ch->thread, &attr, changes_host_waiter,
		    ch) != 0) {
			pthread_attr_destroy(&attr);
			snprintf(why, whylen, "cannot start a thread");
			goto out;
		}
		pthread_attr_destroy(&attr);
		ch->thread_on = 1;
	}
	why[0] = '\0';
	return &ch->base;
out:
	changes_host_free(&ch->base);
	return NULL;
}
