/* SPDX-License-Identifier: BSD-2-Clause */
/* Admission: whether a request becomes a stream, and every refusal. */
#include "admit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "answer.h"
#include "fdlimit.h"
#include "log.h"
#include "probe.h"
#include "resume.h"
#include "stream.h"

/* One request on its way in: what each check took, for one cleanup. */
struct admission {
	unsigned long serial;
	const struct transport *tr;
	int head;			/* HEAD: answer with the head only */
	struct request_spec spec;	/* owned until the stream takes it */
	struct resume_start rs;
	struct stream *s;		/* owned until submitted */
	int slot;			/* holds one of max_streams */
	int status;			/* refusal: HTTP status */
	int warn;			/* refusal logged as a warning */
	char reason[OUTBOX_ERR_LEN];	/* refusal: why, for the log */
};

void
admit_init(struct admit *a, const struct config *cfg, struct hub *hub,
    long max_streams)
{
	memset(a, 0, sizeof(*a));
	a->cfg = cfg;
	a->hub = hub;
	a->max_streams = max_streams;
	a->keep_store = 1;
	atomic_init(&a->serial, 0);
	for (int i = 0; i < STATS_STATUSES; i++)
		atomic_init(&a->refused[i], 0);
	atomic_init(&a->probing, 0);
	atomic_init(&a->fd_short, 0);
	atomic_init(&a->stopped, 0);
}

void
admit_stop(struct admit *a)
{
	atomic_store(&a->stopped, 1);
}

/* Record a refusal in q: -1, for the caller's `return`. */
static int
admit_fail(struct admission *q, int status, int warn, const char *reason)
{
	q->status = status;
	q->warn = warn;
	snprintf(q->reason, sizeof(q->reason), "%s", reason);
	return -1;
}

/*
 * Exactly "stats", and only at the responder's own path (no PATH_INFO),
 * so that the web server rules that restrict it (docs/security.md) can
 * match it exactly too: lighttpd and Apache hand /events/x?stats to the
 * program of /events with PATH_INFO "/x", past a rule written for
 * /events.
 */
static int
admit_is_stats(const struct admit *a, const struct request *r)
{
	return a->cfg->stats && r->query && strcmp(r->query, "stats") == 0 &&
	    (!r->path_info || r->path_info[0] == '\0') &&
	    request_method_of(r->method) != REQUEST_OTHER;
}

static void
admit_stats(struct admit *a, const struct transport *tr, int head)
{
	unsigned long refused[STATS_STATUSES];
	struct hub_stats st;

	hub_get_stats(a->hub, &st);
	for (int i = 0; i < STATS_STATUSES; i++)
		refused[i] = atomic_load(&a->refused[i]);
	answer_stats(tr, &st, refused, head);
}

static int
admit_evaluate(struct admit *a, const struct request *r,
    struct admission *q)
{
	struct request_error rerr;

	if (request_evaluate(r, a->cfg, &q->spec, &rerr) == -1)
		return admit_fail(q, rerr.status, 0, rerr.reason);
	return 0;
}

/*
 * The diagnostic stream: one at a time, on this thread. HEAD gets the
 * probe's head at once and holds nothing.
 */
static int
admit_probe(struct admit *a, struct admission *q, size_t padding)
{
	if (!q->head && atomic_exchange(&a->probing, 1))
		return admit_fail(q, 503, 0, "a probe is already running");
	log_info("req=%lu user=%s diagnostic probe %s", q->serial,
	    stream_user_for_log(q->spec.user, q->spec.user_len),
	    q->head ? "head" : "stream");
	(void)probe_run(q->tr, a->cfg, padding, q->head);
	transport_close(q->tr);
	if (!q->head)
		atomic_store(&a->probing, 0);
	return 0;
}

static int
admit_running(struct admit *a, struct admission *q)
{
	if (atomic_load(&a->stopped))
		return admit_fail(q, 503, 0, "shutting down");
	return 0;
}

/* Descriptors ran out: say so once an episode, not as a database fault. */
static int
admit_out_of_descriptors(struct admit *a, struct admission *q)
{
	struct rlimit rl;
	char why[128];

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		rl.rlim_cur = 0;
	snprintf(why, sizeof(why), "out of file descriptors (RLIMIT_NOFILE "
	    "%llu)", (unsigned long long)rl.rlim_cur);
	if (!atomic_exchange(&a->fd_short, 1))
		log_warnx("%s: refusing requests with 503 until streams end",
		    why);
	return admit_fail(q, 503, 0, why);
}

/*
 * Where the stream starts: one query on admission's connection (shared
 * by the accepting threads, kept between requests; closed after an error
 * and, in CGI mode, after this one request).
 */
static int
admit_start_point(struct admit *a, struct admission *q)
{
	char err[OUTBOX_ERR_LEN];
	struct outbox *ob;
	long long high;
	long long pruned;
	int rc;

	ob = hub_admit_store(a->hub, err, sizeof(err));
	if (!ob) {
		if (errno == EMFILE || errno == ENFILE || fdlimit_exhausted())
			return admit_out_of_descriptors(a, q);
		return admit_fail(q, 503, 1, err);
	}
	rc = outbox_history(ob, &high, &pruned, err, sizeof(err));
	hub_admit_store_done(a->hub, rc != 0 || !a->keep_store);
	if (rc != 0)
		return admit_fail(q, 503, 1, err);
	resume_decide(q->spec.has_resume, q->spec.resume, high, pruned,
	    &q->rs);
	return 0;
}

/* HEAD asks for the status a GET would get: it is checked the same way
 * but holds nothing afterwards. */
static int
admit_take_slot(struct admit *a, struct admission *q)
{
	char why[96];

	q->slot = 1;
	if (hub_reserve_slot(a->hub) <= a->max_streams)
		return 0;
	snprintf(why, sizeof(why), "SSE_MAX_STREAMS (%ld) streams open",
	    a->max_streams);
	return admit_fail(q, 503, 1, why);
}

static int
admit_make_stream(struct admit *a, struct admission *q, size_t padding)
{
	struct stream_opening open = {
		.start_id = q->rs.start,
		.reset = q->rs.reset ? q->rs.data : NULL,
		.announce = a->cfg->announce_start && !q->spec.has_resume,
		.padding = padding,
	};

	q->s = stream_new(q->serial, q->tr, &q->spec, &open);
	if (!q->s)
		return admit_fail(q, 503, 1, "out of memory");
	return 0;
}

static int
admit_claim_user(struct admit *a, struct admission *q)
{
	char why[160];

	if (hub_claim_user(a->hub, q->s, a->cfg->max_per_user) == 0)
		return 0;
	snprintf(why, sizeof(why), "user=%s holds SSE_MAX_PER_USER (%ld) "
	    "streams", stream_user_for_log(q->s->user, q->s->user_len),
	    a->cfg->max_per_user);
	return admit_fail(q, 429, 1, why);
}

/* The stream goes to the hub, which owns it from here on. */
static void
admit_submit(struct admit *a, struct admission *q)
{
	struct stream *s = q->s;

	if (q->rs.reset)
		log_info("req=%lu user=%s resumes from %lld: sending reset "
		    "(%s)", q->serial, stream_user_for_log(s->user,
		    s->user_len), q->spec.resume, q->rs.data);
	if (fcntl(s->tr.fd, F_SETFL, fcntl(s->tr.fd, F_GETFL) | O_NONBLOCK)
	    == -1)
		log_warn("req=%lu fcntl O_NONBLOCK", q->serial);
	q->s = NULL;
	q->slot = 0;
	hub_submit(a->hub, s);
}

/* Count a refusal for the stats, log it once, answer it, close. */
static void
admit_refuse(struct admit *a, struct admission *q)
{
	atomic_fetch_add(&a->refused[stats_status_index(q->status)], 1);
	if (q->warn)
		log_warnx("req=%lu refused %d: %s", q->serial, q->status,
		    q->reason);
	else
		log_info("req=%lu refused %d: %s", q->serial, q->status,
		    q->reason);
	answer_error(q->tr, q->status, answer_error_header(a->cfg, q->status),
	    q->head);
}

int
admit_request(struct admit *a, const struct request *r,
    const struct transport *tr, size_t padding)
{
	struct admission q;
	int submitted = 0;

	memset(&q, 0, sizeof(q));
	q.serial = atomic_fetch_add(&a->serial, 1) + 1;
	q.tr = tr;
	q.head = request_method_of(r->method) == REQUEST_HEAD;
	if (admit_is_stats(a, r)) {
		admit_stats(a, tr, q.head);
		return 0;
	}
	if (admit_evaluate(a, r, &q) == -1)
		goto refuse;
	if (q.spec.probe) {
		if (admit_probe(a, &q, padding) == -1)
			goto refuse;
		goto out;
	}
	if (admit_running(a, &q) == -1 ||
	    admit_start_point(a, &q) == -1 ||
	    admit_take_slot(a, &q) == -1 ||
	    admit_make_stream(a, &q, padding) == -1 ||
	    admit_claim_user(a, &q) == -1)
		goto refuse;
	/* Descriptors are there again: the next shortage is news. */
	atomic_store(&a->fd_short, 0);
	if (q.head) {
		answer_stream_head(q.s, a->cfg);
		goto out;
	}
	admit_submit(a, &q);
	submitted = 1;
	goto out;
refuse:
	admit_refuse(a, &q);
out:
	if (q.s) {
		hub_unclaim_user(a->hub, q.s);
		stream_free(q.s);
	}
	if (q.slot)
		hub_release_slot(a->hub);
	request_spec_free(&q.spec);
	return submitted;
}
