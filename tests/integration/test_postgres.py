# SPDX-License-Identifier: BSD-2-Clause
"""The PostgreSQL store against a real PostgreSQL server (pg.py), through
real lighttpd (FastCGI bin-path and mod_cgi) and Apache: per-user rows,
broadcast, resume, reset, isolation; commit order that differs from
insert order; random concurrent producers with rollbacks; a server
restart mid-stream; two web servers on one outbox."""

import json
import os
import random
import re
import subprocess
import threading
import time

import harness
import sseclient

DAY = 86400


def events_of(client):
    return [(int(e.id), e.data) for e in client.events if e.has_id]


def wait_data(client, want, timeout=15.0):
    """Wait until the stream's data (of events with an id) is want."""
    ok = client.wait(lambda: [d for _, d in events_of(client)] == want or
                     len(events_of(client)) > len(want), timeout)
    got = [d for _, d in events_of(client)]
    assert ok and got == want, client.describe()
    return events_of(client)


def test_basic_isolation_resume_reset(postgres, servers, responder):
    db = postgres.new_db()
    url = postgres.url(db)
    # Two rows from two days ago first: prune takes a prefix of ids.
    conn = postgres.connect(db)
    try:
        conn.cursor().execute(
            "INSERT INTO outbox (user_id, data, created_at) VALUES "
            "('42', 'old1', now() - interval '2 days'),"
            "('42', 'old2', now() - interval '2 days')")
    finally:
        conn.close()
    srv = servers.lighttpd(db=url, auth="query", heartbeat=1)
    weird = "o'r\\\"; DROP TABLE outbox; --"
    streams = {u: srv.open(u) for u in ("42", "042", weird, "' OR 1=1 --")}
    try:
        postgres.produce(db, ("42", "m", "for 42"), ("042", "m", "for 042"),
                         (weird, "m", "for weird"), (None, "all", "everyone"),
                         ("42 ", "m", "for 42-space"))
        wait_data(streams["42"], ["for 42", "everyone"])
        wait_data(streams["042"], ["for 042", "everyone"])
        wait_data(streams[weird], ["for weird", "everyone"])
        wait_data(streams["' OR 1=1 --"], ["everyone"])
        for c in streams.values():
            assert c.no_more_events(len(c.events), settle=0.3)
        ids = [i for i, _ in events_of(streams["42"])]
        assert ids == sorted(ids) and ids[0] > 0
    finally:
        for c in streams.values():
            c.close()
    # Resume after the first row: only what came after it.
    with srv.open("42", last_event_id=ids[0]) as c:
        assert [e.data for e in c.wait_events(1)] == ["everyone"]
        assert c.no_more_events(1, settle=0.3)
    # The whole history from 0, exactly once, in order.
    with srv.open("42", query="lastEventId=0") as c:
        wait_data(c, ["old1", "old2", "for 42", "everyone"])
    # Prune: the old rows go; a client from before them gets "pruned".
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SSE_DB": url}
    p = subprocess.run([responder, "prune", "--older-than", str(DAY)],
                       env=env, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert b"deleted 2 rows (ids up to 2)" in p.stdout, p.stdout
    with srv.open("42", last_event_id=1) as c:
        got = c.wait_events(3)
        assert got[0].type == "reset" and not got[0].has_id
        assert json.loads(got[0].data)["reason"] == "pruned"
        assert [e.data for e in got[1:]] == ["for 42", "everyone"]
    with srv.open("42", last_event_id=100000) as c:
        got = c.wait_events(3)
        assert json.loads(got[0].data)["reason"] == "unknown-id"
        assert [e.data for e in got[1:]] == ["for 42", "everyone"]
        assert c.no_more_events(3, settle=0.3)
    # --check on the store.
    p = subprocess.run([responder, "--check"], env={**env,
                       "SSE_AUTH": "query"}, capture_output=True, timeout=30)
    assert p.returncode == 0 and b"configuration OK" in p.stdout, p


def test_refused_without_commit_trigger_and_cgi_shape(postgres, servers,
                                                     responder):
    # A bare table (ids at INSERT) is refused: 503 and a reason.
    bare = postgres.new_db(schema=False)
    conn = postgres.connect(bare)
    try:
        conn.cursor().execute(
            "CREATE TABLE outbox (id bigserial PRIMARY KEY, user_id text,"
            " event text, data text NOT NULL)")
    finally:
        conn.close()
    p = subprocess.run([responder, "--check"], env={
        "PATH": "/usr/bin:/bin", "SSE_DB": postgres.url(bare),
        "SSE_AUTH": "query"}, capture_output=True, timeout=30)
    assert p.returncode != 0 and b"outbox_commit_order" in p.stderr, p
    # One process per stream (lighttpd mod_cgi): one LISTEN for both.
    db = postgres.new_db()
    srv = servers.lighttpd(db=postgres.url(db), auth="query", mode="cgi",
                           heartbeat=1)
    a = srv.open("42")
    b = srv.open("7")
    try:
        postgres.produce(db, ("42", None, "x"), (None, None, "all"),
                         ("7", None, "y"))
        wait_data(a, ["x", "all"])
        wait_data(b, ["all", "y"])
    finally:
        a.close()
        b.close()
    with srv.open("7", query="lastEventId=0") as c:
        wait_data(c, ["all", "y"])


def test_commit_order_is_not_id_order(postgres, servers):
    db = postgres.new_db()
    srv = servers.lighttpd(db=postgres.url(db), auth="query", heartbeat=1)
    streams = [srv.open("42"), srv.open("9")]
    a = postgres.connect(db, autocommit=False)
    b = postgres.connect(db, autocommit=False)
    try:
        a.cursor().execute("INSERT INTO outbox (user_id, data) VALUES "
                           "('42', 'A'), (NULL, 'A-all')")
        b.cursor().execute("INSERT INTO outbox (user_id, data) VALUES "
                           "('42', 'B'), (NULL, 'B-all')")
        b.commit()
        wait_data(streams[0], ["B", "B-all"])
        wait_data(streams[1], ["B-all"])
        a.commit()
        got = wait_data(streams[0], ["B", "B-all", "A", "A-all"])
        wait_data(streams[1], ["B-all", "A-all"])
        assert [i for i, _ in got] == sorted(i for i, _ in got)
        for c in streams:
            assert c.no_more_events(len(c.events), settle=0.5)
    finally:
        a.close()
        b.close()
        for c in streams:
            c.close()
    with srv.open("42", query="lastEventId=0") as c:
        wait_data(c, ["B", "B-all", "A", "A-all"])


def test_random_producers_with_rollbacks(postgres, servers):
    db = postgres.new_db()
    srv = servers.lighttpd(db=postgres.url(db), auth="query", heartbeat=1)
    users = ["42", "7", "9"]
    streams = {u: srv.open(u) for u in users}
    stop = time.time() + 4.0
    errors = []
    counter = iter(range(10 ** 9))
    lock = threading.Lock()

    def producer(seed):
        rnd = random.Random(seed)
        conn = postgres.connect(db, autocommit=False)
        try:
            while time.time() < stop:
                cur = conn.cursor()
                for _ in range(rnd.randint(1, 3)):
                    with lock:
                        n = next(counter)
                    user = rnd.choice(users + [None])
                    cur.execute("INSERT INTO outbox (user_id, data) VALUES "
                                "(%s, %s)", (user, f"r{n}"))
                    time.sleep(rnd.random() * 0.03)
                if rnd.random() < 0.25:
                    conn.rollback()
                else:
                    conn.commit()
        except Exception as e:     # reported below, not lost in a thread
            errors.append(repr(e))
        finally:
            conn.close()

    threads = [threading.Thread(target=producer, args=(i,))
               for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    table = postgres.rows(db)
    assert table, "no rows committed"
    try:
        for u, c in streams.items():
            want = [(i, d) for i, uid, _, d in table if uid in (u, None)]
            c.wait(lambda: len(events_of(c)) >= len(want), 30)
            assert c.no_more_events(len(c.events), settle=0.5)
            got = events_of(c)
            assert got == want, (u, len(got), len(want), c.describe())
    finally:
        for c in streams.values():
            c.close()
    harness.report(f"postgres random: {len(table)} rows committed by 6 "
                   f"producers in 4 s, all delivered once in order")


def follow(srv, user, last_id, until, timeout=60.0, seen_503=None):
    """A client that resumes: reconnects with Last-Event-ID after every
    end, waiting as Retry-After says on a 503, until until(events)."""
    got = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            c = srv.open(user, last_event_id=last_id)
        except (OSError, sseclient.ResponseError):
            time.sleep(0.3)
            continue
        try:
            if c.status == 503:
                harness.assert_retry_after(c.headers)
                if seen_503 is not None:
                    seen_503.append(1)
                c.wait_end(5)
                time.sleep(0.3)
                continue
            assert c.status == 200, c.describe()
            c.wait(lambda: c.ended or until(got + events_of(c)),
                   max(0.1, deadline - time.time()))
            new = events_of(c)
            got += new
            if new:
                last_id = new[-1][0]
            if until(got):
                return got
        finally:
            c.close()
    raise AssertionError(f"follow({user}) got {got}")


def test_restart_mid_stream(postgres, servers):
    db = postgres.new_db()
    srv = servers.lighttpd(db=postgres.url(db), auth="query", heartbeat=1)
    first = postgres.produce(db, ("42", None, "before"))
    mark = srv.logs.mark()
    results = {}

    def client():
        results["got"] = follow(srv, "42", 0, lambda g: any(
            d == "after-3" for _, d in g), timeout=90)

    t = threading.Thread(target=client)
    t.start()
    time.sleep(1.0)
    postgres.restart()
    for i in range(4):
        postgres.produce(db, ("42", None, f"after-{i}"))
        time.sleep(0.2)
    t.join(100)
    got = results.get("got")
    assert got, "the resuming client did not finish"
    datas = [d for _, d in got]
    assert datas == ["before"] + [f"after-{i}" for i in range(4)], got
    assert got[0][0] == first[0]
    # The server down: a new request gets 503 with Retry-After.
    postgres.stop_fast()
    try:
        c = srv.request("42", timeout=30)
        assert c.status == 503, c.describe()
        harness.assert_retry_after(c.headers)
    finally:
        postgres.start()
    log = srv.logs.since(mark)
    # One line per outage from each process's LISTEN connection: two
    # outages here (the restart, the stop), one process.
    lost = re.findall(r"commits are not heard until it is back", log)
    assert 1 <= len(lost) <= 2, log
    # libpq's own notices never reach the log unformatted.
    assert not re.search(r"^FATAL", log, re.M), log
    # Back: a new row reaches a new stream.
    with srv.open("42") as c:
        postgres.produce(db, ("42", None, "back"))
        assert c.wait_events(1, timeout=20)[0].data == "back"


def test_two_web_servers_one_outbox(postgres, servers):
    db = postgres.new_db()
    url = postgres.url(db)
    a = servers.lighttpd(db=url, heartbeat=1)
    b = servers.apache(db=url, mode="cgi", heartbeat=1)
    alice = a.open("alice")
    bob_a = a.open("bob")
    carol_b = b.open("carol")
    try:
        ids = postgres.produce(db, ("alice", None, "a1"),
                               (None, None, "all1"), ("carol", None, "c1"))
        wait_data(alice, ["a1", "all1"])
        wait_data(bob_a, ["all1"])
        wait_data(carol_b, ["all1", "c1"])
        last = events_of(alice)[-1][0]
        assert last == ids[1]
    finally:
        bob_a.close()
    a.stop()
    missed = postgres.produce(db, ("alice", None, "a2"),
                              (None, None, "all2"), ("bob", None, "b2"))
    alice.close()
    with b.open("alice", last_event_id=last) as c:
        got = wait_data(c, ["a2", "all2"])
        assert [i for i, _ in got] == missed[:2]
        assert c.no_more_events(2, settle=0.5)
    wait_data(carol_b, ["all1", "c1", "all2"])
    carol_b.close()


def test_password_from_passfile(postgres, base_dir, responder):
    """A password in libpq's passfile, not in SSE_DB, the environment or
    the process list; and never in a log line when it is in SSE_DB."""
    db = postgres.new_db()
    conn = postgres.connect(db)
    try:
        conn.cursor().execute("CREATE ROLE sse LOGIN PASSWORD 's3cret-pw';"
                              "GRANT SELECT ON outbox, outbox_meta, "
                              "outbox_id_seq TO sse")
    finally:
        conn.close()
    passfile = base_dir / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgres.port}:{db}:sse:s3cret-pw\n")
    os.chmod(passfile, 0o600)
    base = f"postgresql://sse@127.0.0.1:{postgres.port}/{db}"
    env = {"PATH": "/usr/bin:/bin", "SSE_AUTH": "query"}
    p = subprocess.run([responder, "--check"], env={
        **env, "SSE_DB": f"{base}?passfile={passfile}"},
        capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    p = subprocess.run([responder, "--check"], env={
        **env, "SSE_DB": base, "PGPASSFILE": str(passfile)},
        capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    # Without it: refused; a wrong password in the URI is not echoed.
    p = subprocess.run([responder, "--check"], env={
        **env, "SSE_DB": f"postgresql://sse:wrong-pw@127.0.0.1:"
        f"{postgres.port}/{db}"}, capture_output=True, timeout=30)
    assert p.returncode != 0 and b"password authentication failed" in \
        p.stderr, p.stderr
    assert b"wrong-pw" not in p.stderr and b"sse:***@" in p.stderr


def scan_reads(plan):
    """Rows a plan's scan nodes read: returned (rows x loops) plus those
    its filters removed."""
    total = 0
    for line in plan.splitlines():
        m = re.search(r"Scan .*actual time=\S+ rows=(\d+) loops=(\d+)", line)
        if m:
            total += int(m.group(1)) * int(m.group(2))
        m = re.search(r"Rows Removed by (?:Filter|Index Recheck): (\d+)",
                      line)
        if m:
            total += int(m.group(1))
    return total


def test_catch_up_reads_one_batch_of_a_large_backlog(postgres, servers):
    """A stream's catch-up reads only its batch through the (user_id, id)
    index, not every row of the backlog (a sort or a filtered scan of
    100,000 rows per batch). auto_explain logs each read's plan with
    its actual row counts."""
    db = postgres.new_db()
    conn = postgres.connect(db)
    try:
        cur = conn.cursor()
        # 100,000 rows for 5,000 users, 1 % broadcasts.
        cur.execute("INSERT INTO outbox (user_id, data) SELECT CASE WHEN"
                    " g % 100 = 0 THEN NULL ELSE (g % 5000)::text END,"
                    " 'r' || g FROM generate_series(1, 100000) g")
        cur.execute("ANALYZE outbox")
        for setting in ("session_preload_libraries = 'auto_explain'",
                        "auto_explain.log_min_duration = 0",
                        "auto_explain.log_analyze = on",
                        "auto_explain.log_timing = off"):
            cur.execute(f"ALTER DATABASE {db} SET {setting}")
    finally:
        conn.close()
    start = postgres.log.stat().st_size
    srv = servers.lighttpd(db=postgres.url(db), auth="query", heartbeat=1)
    # 20 rows of user 42 and 1,000 broadcasts: four batches per stream;
    # three streams, so that the generic plan (after five runs) is used.
    for _ in range(3):
        with srv.open("42", last_event_id=0) as c:
            assert c.wait(lambda: len(events_of(c)) >= 1020, 60), \
                c.describe()
            ids = [i for i, _ in events_of(c)]
            assert len(ids) == 1020 and ids == sorted(ids)
    with open(postgres.log, errors="replace") as f:
        f.seek(start)
        log = f.read()
    # Each logged plan runs from "Query Text:" to the next log line.
    plans = [p for p in re.split(r"\n(?=\S)", log)
             if "Query Text:" in p and "user_id IS NULL" in p]
    assert len(plans) >= 12, log[-3000:]
    for plan in plans:
        # Two parts (broadcasts, 42) of at most 256 rows, and a little.
        assert scan_reads(plan) <= 2 * 256 + 2, plan


def test_admission_keeps_its_connection(postgres, servers):
    """An acceptor thread keeps its PostgreSQL connection between
    requests (SQLite's is closed after each, outbox.h says why): 40
    requests open at most one connection per acceptor thread, not one
    each. The mean admission time (request to headers) is reported."""
    db = postgres.new_db()
    c = postgres.connect()
    try:
        c.cursor().execute("ALTER SYSTEM SET log_connections = on")
        c.cursor().execute("SELECT pg_reload_conf()")
    finally:
        c.close()
    srv = servers.lighttpd(db=postgres.url(db), auth="query", heartbeat=1)
    # The loop's two connections are made when the first stream comes.
    with srv.open("1") as first:
        assert first.status == 200
    time.sleep(0.5)
    start = postgres.log.stat().st_size
    took = []
    try:
        for i in range(40):
            t0 = time.monotonic()
            with srv.open(str(i)) as s:
                took.append(time.monotonic() - t0)
                assert s.status == 200, s.describe()
    finally:
        c = postgres.connect()
        try:
            c.cursor().execute("ALTER SYSTEM RESET log_connections")
            c.cursor().execute("SELECT pg_reload_conf()")
        finally:
            c.close()
    with open(postgres.log, errors="replace") as f:
        f.seek(start)
        log = f.read()
    made = re.findall(rf"connection authorized: user=postgres "
                      rf"database={db} application_name=sse-outbox\b", log)
    took.sort()
    harness.report(f"postgres admission: {len(made)} new connections for "
                   f"40 requests; request to headers median "
                   f"{took[len(took) // 2] * 1000:.1f} ms, mean "
                   f"{sum(took) / len(took) * 1000:.1f} ms (lighttpd, "
                   f"loaded machine)")
    # ACCEPTOR_THREADS (4) threads, each keeping one.
    assert len(made) <= 4, log[-3000:]


def test_stream_stays_open_through_an_outage(postgres, servers):
    """The server stops for a few seconds and comes back: the same
    stream stays open, heartbeats go on during the outage, a new request
    meanwhile gets 503, and the rows committed once it is back arrive
    exactly once, in order."""
    db = postgres.new_db()
    srv = servers.lighttpd(db=postgres.url(db), auth="query", heartbeat=1)
    a = srv.open("42")
    b = srv.open("7")
    try:
        postgres.produce(db, ("42", None, "before"))
        wait_data(a, ["before"])
        postgres.stop_fast()
        down = time.time()
        try:
            r = srv.request("42", timeout=30)
            assert r.status == 503, r.describe()
            harness.assert_retry_after(r.headers)
            time.sleep(3)
        finally:
            postgres.start()
        up = time.time()
        assert not a.ended and not b.ended, a.describe()
        beats = [c for c in a.comments if down <= c.time <= up]
        assert len(beats) >= 2, a.describe()
        want = []
        for i in range(4):
            postgres.produce(db, ("42", None, f"after-{i}"),
                             (None, None, f"all-{i}"))
            want += [f"after-{i}", f"all-{i}"]
        got = wait_data(a, ["before"] + want, timeout=30)
        assert [i for i, _ in got] == sorted(set(i for i, _ in got))
        wait_data(b, [w for w in want if w.startswith("all")], timeout=30)
        assert a.no_more_events(len(a.events), settle=0.5)
        assert not a.ended and not b.ended
    finally:
        a.close()
        b.close()


def test_stream_stays_open_while_reads_fail(postgres, servers):
    """The data connection is cut and cannot come back at once (the
    database refuses connections) while LISTEN still holds: a commit's
    read fails, and the streams stay open instead of ending; once
    connections are allowed again the row arrives, once."""
    db = postgres.new_db()
    srv = servers.lighttpd(db=postgres.url(db), auth="query", heartbeat=1)
    mark = srv.logs.mark()
    a = srv.open("42")
    producer = postgres.connect(db)     # opened before the door shuts
    admin = postgres.connect()
    try:
        postgres.produce(db, ("42", None, "before"))
        wait_data(a, ["before"])
        postgres.shut_out_responders(admin, db)
        producer.cursor().execute("INSERT INTO outbox (user_id, data) "
                                  "VALUES ('42', 'during')")
        assert srv.logs.wait_for("streams stay open", mark=mark,
                                 timeout=20), srv.logs.since(mark)
        time.sleep(1.5)
        assert not a.ended, a.describe()
        admin.cursor().execute(f"ALTER DATABASE {db} ALLOW_CONNECTIONS true")
        wait_data(a, ["before", "during"], timeout=20)
        assert a.no_more_events(len(a.events), settle=0.5)
        assert not a.ended
        assert srv.logs.wait_for("database readable again", mark=mark,
                                 timeout=10)
    finally:
        admin.cursor().execute(f"ALTER DATABASE {db} ALLOW_CONNECTIONS true")
        admin.close()
        producer.close()
        a.close()


def test_history_that_went_back_ends_streams(postgres, servers):
    """A failover to a replica that missed the newest commits comes back
    with ids below what streams were sent. Simulated: while the data
    connection is cut and cannot come back, the newest rows go and the
    sequence is set back. Once readable again the streams end (instead of
    staying open and skipping the ids given anew), and a resuming client
    is told reset."""
    db = postgres.new_db()
    srv = servers.lighttpd(db=postgres.url(db), auth="query", heartbeat=1)
    mark = srv.logs.mark()
    a = srv.open("42")
    admin = postgres.connect()
    owner = postgres.connect(db)        # opened before the door shuts
    try:
        ids = postgres.produce(db, ("42", None, "1"), ("42", None, "2"),
                               ("42", None, "3"))
        wait_data(a, ["1", "2", "3"])
        postgres.go_back(admin, owner, db, ids[0], "42", srv, mark)
        srv.logs.wait_for("a failover lost commits", mark=mark, timeout=20)
        assert a.wait_end(15), a.describe()
    finally:
        admin.cursor().execute(f"ALTER DATABASE {db} ALLOW_CONNECTIONS true")
        admin.close()
        owner.close()
        a.close()
    with srv.open("42", last_event_id=ids[-1]) as c:
        got = c.wait_events(3, timeout=15)
        assert json.loads(got[0].data)["reason"] == "unknown-id", got
        assert [e.data for e in got[1:]] == ["1", "new"], got
