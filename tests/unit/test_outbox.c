/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * Unit tests for outbox.c on a temporary SQLite file made from
 * sql/schema.sql (no mock): the open-time refusals, who a row is for,
 * prune's prefix, and the no-wait connection of the event loop.
 */
#include "outbox.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

static char dir[] = "/tmp/test_outbox.XXXXXX";
static char path[256];

static void
sql(const char *db, const char *text)
{
	sqlite3 *h = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	if (sqlite3_exec(h, text, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", text, msg);
	sqlite3_close(h);
}

static void
schema(const char *db)
{
	FILE *f = fopen("sql/schema.sql", "r");
	static char text[8192];
	size_t n;

	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	sql(db, text);
}

/* No database, and no -wal or -shm left by the one before. */
static void
remove_db(void)
{
	char other[300];

	unlink(path);
	snprintf(other, sizeof(other), "%s-wal", path);
	unlink(other);
	snprintf(other, sizeof(other), "%s-shm", path);
	unlink(other);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "%s/app.db", dir);
	remove_db();
	return 0;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The refusals: each database, the words its error must carry. */
static const struct refusal {
	const char *script;
	const char *reason;
} refusals[] = {
	{ "PRAGMA journal_mode=WAL; CREATE TABLE outbox (id INTEGER PRIMARY "
	  "KEY AUTOINCREMENT, user_id INTEGER, event TEXT, data TEXT);",
	  "declared 'INTEGER', not of TEXT affinity" },
	{ "PRAGMA journal_mode=WAL; CREATE TABLE outbox (id INTEGER PRIMARY "
	  "KEY AUTOINCREMENT, user_id STRING, event TEXT, data TEXT);",
	  "declared 'STRING', not of TEXT affinity" },
	{ "PRAGMA journal_mode=WAL; CREATE TABLE outbox (id INTEGER PRIMARY "
	  "KEY AUTOINCREMENT, user_id VARCHARINT, event TEXT, data TEXT);",
	  "declared 'VARCHARINT', not of TEXT affinity" },
	{ "PRAGMA encoding='UTF-16be'; PRAGMA journal_mode=WAL; CREATE TABLE "
	  "outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT, "
	  "event TEXT, data TEXT);", "encoded in UTF-16be, not UTF-8" },
	{ "CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, "
	  "user_id TEXT, event TEXT, data TEXT);",
	  "not in WAL mode (journal_mode=delete); fix: sqlite3 " },
	{ NULL, NULL },
};

static void
test_refusals(void **state)
{
	char err[OUTBOX_ERR_LEN];

	(void)state;
	for (const struct refusal *r = refusals; r->script; r++) {
		remove_db();
		sql(path, r->script);
		err[0] = '\0';
		assert_null(outbox_open(path, err, sizeof(err)));
		if (!strstr(err, r->reason))
			fail_msg("%s: got \"%s\"", r->reason, err);
	}
	remove_db();
	err[0] = '\0';
	sql(path, "PRAGMA journal_mode=WAL; CREATE TABLE outbox (id INTEGER "
	    "PRIMARY KEY AUTOINCREMENT, user_id nvarchar(64), event TEXT, "
	    "data TEXT);");
	outbox_close(outbox_open(path, err, sizeof(err)));
	assert_string_equal(err, "");
}

struct got {
	long long ids[8];
	enum outbox_to to[8];
	int n;
};

static int
got_row(void *ctx, const struct outbox_row *row)
{
	struct got *g = ctx;

	assert_true(g->n < 8);
	g->ids[g->n] = row->id;
	g->to[g->n++] = row->to;
	return 0;
}

/* A BLOB user_id is for nobody on both paths; bytes decide, not case. */
static void
test_recipients(void **state)
{
	static const char *const keys[] = { "alice" };
	static const size_t lens[] = { 5 };
	char err[OUTBOX_ERR_LEN];
	struct outbox *ob;
	struct got all = { 0 };
	struct got mine = { 0 };
	int count;

	(void)state;
	schema(path);
	sql(path, "INSERT INTO outbox (user_id, data) VALUES "
	    "(CAST('alice' AS BLOB), 'blob'), ('alice', 'text'), "
	    "(NULL, 'all'), ('ALICE', 'other'), (x'616c696365ff', 'b2')");
	ob = outbox_open(path, err, sizeof(err));
	assert_non_null(ob);
	assert_int_equal(outbox_fetch_all(ob, 0, 10, got_row, &all, &count,
	    err, sizeof(err)), 0);
	assert_int_equal(all.n, 5);
	assert_int_equal(all.to[0], OUTBOX_TO_NOBODY);
	assert_int_equal(all.to[1], OUTBOX_TO_KEY);
	assert_int_equal(all.to[2], OUTBOX_TO_ALL);
	assert_int_equal(all.to[4], OUTBOX_TO_NOBODY);
	assert_int_equal(outbox_fetch_for(ob, keys, lens, 1, 0, 10, 10,
	    got_row, &mine, &count, err, sizeof(err)), 0);
	assert_int_equal(mine.n, 2);
	assert_int_equal(mine.ids[0], 2);
	assert_int_equal(mine.ids[1], 3);
	outbox_close(ob);
}

/* One row stamped a year behind does not drag recent rows along. */
static void
test_prune_prefix(void **state)
{
	char err[OUTBOX_ERR_LEN];
	long long deleted;
	long long through;
	long long now = 1000000000;

	(void)state;
	schema(path);
	sql(path, "INSERT INTO outbox (user_id, data, created_at) VALUES "
	    "('a', 'old', 100), ('a', 'old', 200), ('a', 'new', 999999950),"
	    "('b', 'skewed', 968464000), ('a', 'new', 999999990)");
	assert_int_equal(outbox_prune(path, 604800, now, &deleted, &through,
	    err, sizeof(err)), 0);
	assert_int_equal(deleted, 2);
	assert_int_equal(through, 2);
	assert_int_equal(outbox_prune(path, 0, now, &deleted, &through, err,
	    sizeof(err)), 0);
	assert_int_equal(deleted, 3);
	assert_int_equal(through, 5);
	remove_db();
	sql(path, "PRAGMA journal_mode=WAL; CREATE TABLE outbox (id INTEGER "
	    "PRIMARY KEY, user_id TEXT, event TEXT, data TEXT, created_at "
	    "INTEGER); INSERT INTO outbox VALUES (1, 'a', NULL, 'x', 1)");
	assert_int_equal(outbox_prune(path, 0, now, &deleted, &through, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "no outbox_meta table"));
	assert_int_equal(deleted, 0);
}

/*
 * A child process looks like one recovering the wal-index: it holds the
 * -shm's WAL_WRITE_LOCK (byte 120) and WAL_RECOVER_LOCK (122) and the
 * header's two copies differ. Readers then get SQLITE_BUSY_RECOVERY.
 * Returns the child's pid once it holds them.
 */
static pid_t
hold_recovery(void)
{
	char shm[300];
	int ready[2];
	pid_t pid;
	char c;

	snprintf(shm, sizeof(shm), "%s-shm", path);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET,
		    .l_len = 1 };
		int fd = open(shm, O_RDWR);
		unsigned char b;

		lk.l_start = 120;
		if (fd < 0 || fcntl(fd, F_SETLK, &lk) == -1)
			_exit(1);
		lk.l_start = 122;
		if (fcntl(fd, F_SETLK, &lk) == -1 ||
		    pread(fd, &b, 1, 8) != 1)
			_exit(1);
		b ^= 0xff;
		if (pwrite(fd, &b, 1, 8) != 1 || write(ready[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	close(ready[0]);
	return pid;
}

static void
release_recovery(pid_t pid)
{
	char shm[300];
	unsigned char b;
	int fd;

	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	/* Put the header back, as a finished recovery would. */
	snprintf(shm, sizeof(shm), "%s-shm", path);
	fd = open(shm, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, 8), 1);
	b ^= 0xff;
	assert_int_equal(pwrite(fd, &b, 1, 8), 1);
	close(fd);
}

/* The loop's connection answers OUTBOX_AGAIN at once; another waits. */
static void
test_nowait(void **state)
{
	char err[OUTBOX_ERR_LEN];
	struct outbox *loop = NULL;
	struct outbox *other;
	long long id;
	long long v;
	double t0;
	pid_t pid;

	(void)state;
	schema(path);
	sql(path, "INSERT INTO outbox (user_id, data) VALUES ('a', 'x')");
	assert_int_equal(outbox_open_nowait(path, &loop, err, sizeof(err)), 0);
	other = outbox_open(path, err, sizeof(err));
	assert_non_null(other);
	pid = hold_recovery();
	t0 = now_s();
	assert_int_equal(outbox_max_id(loop, &id, err, sizeof(err)),
	    OUTBOX_AGAIN);
	assert_int_equal(outbox_data_version(loop, &v), OUTBOX_AGAIN);
	assert_true(now_s() - t0 < 0.5);
	t0 = now_s();
	assert_int_equal(outbox_max_id(other, &id, err, sizeof(err)), -1);
	assert_true(now_s() - t0 > 1.5);	/* the 2 s busy timeout */
	release_recovery(pid);
	assert_int_equal(outbox_max_id(loop, &id, err, sizeof(err)), 0);
	assert_int_equal(id, 1);
	outbox_close(other);
	outbox_close(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_refusals, setup),
		cmocka_unit_test_setup(test_recipients, setup),
		cmocka_unit_test_setup(test_prune_prefix, setup),
		cmocka_unit_test_setup(test_nowait, setup),
	};
	int rc;

	if (!mkdtemp(dir))
		return 1;
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		rc = 1;
	return rc;
}
