"""One LISTEN connection per host on PostgreSQL (issue 12): processes
that serve one stream each (lighttpd mod_cgi, Apache mod_fcgid) share a
map of their own in /dev/shm (fcgi/hostmap_place.c); its leader alone
LISTENs and reads for all. Real PostgreSQL (pg.py), real servers, real
kills and a real server restart."""

import os
import pwd
import random
import struct
import threading
import time

import pytest

import harness
import pg
import swarm
import test_host
from test_host import FCGID_EXTRA

HEAD = struct.Struct("<IIIIqqQQIIIIQ")
# The responders run as www-data; so does their map's name.
RESPONDER_UID = pwd.getpwnam("www-data").pw_uid


def map_path(url):
    return pg.host_map_path(url, RESPONDER_UID)


def header(url):
    return test_host.read_header(map_path(url))


def backends(postgres, db):
    """The database's sse-outbox backends: (listening, reading). A
    listening one is the one whose (last) statement was LISTEN; libpq
    names it sse-outbox-listen (changes_pg.c), and both must agree."""
    c = postgres.connect()
    try:
        cur = c.cursor()
        cur.execute("SELECT application_name, query FROM pg_stat_activity "
                    "WHERE datname = %s AND backend_type = 'client backend'"
                    " AND pid <> pg_backend_pid()", (db,))
        rows = cur.fetchall()
    finally:
        c.close()
    by_query = [r for r in rows if r[1].lstrip().upper().startswith(
        "LISTEN")]
    by_name = [r for r in rows if r[0] == "sse-outbox-listen"]
    assert len(by_query) == len(by_name), rows
    return len(by_query), len(rows) - len(by_query)


@pytest.fixture
def pg_host(postgres):
    """A fresh database; its map is removed at the end."""
    made = []

    def make():
        db = postgres.new_db()
        url = postgres.url(db)
        made.append(url)
        return db, url
    yield make
    for url in made:
        try:
            os.unlink(map_path(url))
        except OSError:
            pass


def server_for(servers, shape, url, n):
    if shape == "lighttpd-cgi":
        return servers.lighttpd(db=url, auth="query", mode="cgi",
                                heartbeat=2, log_level="info")
    srv = servers.apache(db=url, max_processes=n + 20, extra=FCGID_EXTRA,
                         env={"SSE_AUTH": "query"}, log_level="info",
                         heartbeat=2)
    srv.auth = "query"
    srv.path = srv.noauth_path
    return srv


@pytest.mark.parametrize("shape", ["lighttpd-cgi", "apache-fcgid"])
def test_one_listen_connection_per_host(postgres, servers, pg_host, shape):
    n = 24
    db, url = pg_host()
    srv = server_for(servers, shape, url, n)
    users = [f"p{i:02d}" for i in range(n)]
    sw = swarm.Swarm()
    try:
        streams = test_host.open_all(sw, srv, users)
        pids = srv.responders()
        assert len(pids) >= n, (len(pids), n)
        # The leader's LISTEN may still be on its way.
        ok = harness.wait_until(lambda: backends(postgres, db)[0] == 1, 10)
        listening, reading = backends(postgres, db)
        harness.report(f"postgres host-wide, {n} {shape} streams: "
                       f"{len(pids)} responders, {listening} LISTEN "
                       f"backend(s), {reading} other sse-outbox "
                       f"backend(s)")
        assert ok and listening == 1, (listening, reading)
        head = header(url)
        assert head["leader"] in pids, (head, pids)
        st = os.stat(map_path(url))
        assert st.st_uid == RESPONDER_UID and st.st_mode & 0o777 == 0o600

        rnd = random.Random(12)
        chosen = rnd.sample(users, 12)
        sent = {}
        for u in chosen:
            sent[u] = postgres.produce(db, (u, "m", "for " + u))
        bid, = postgres.produce(db, (None, "b", "all"))
        assert sw.wait(lambda: all(bid in s.ids for s in streams.values()),
                       30), {u: s.ids for u, s in streams.items()}
        sw.run_for(1.0)
        for u, s in streams.items():
            assert s.ids == sent.get(u, []) + [bid], (u, s.ids)
            assert not s.ended, u
        assert backends(postgres, db)[0] == 1
        # Followers take their rows from the leader's ring: they close
        # their own connections once their streams are caught up, so
        # the host holds the leader's two (or three, with mod_fcgid's
        # kept admission connection), not one or two a stream.
        ok = harness.wait_until(lambda: backends(postgres, db)[1] <= 2, 10)
        listening, reading = backends(postgres, db)
        harness.report(f"postgres host-wide, {n} {shape} streams, idle: "
                       f"{listening} LISTEN + {reading} other backend(s)")
        assert ok, (listening, reading)
    finally:
        sw.close()


def test_leader_killed_during_burst(postgres, servers, pg_host,
                                    monkeypatch):
    """run_kills of test_host, on PostgreSQL: the leader (and with it
    the host's one LISTEN connection) is SIGKILLed again and again while
    rows come; every client gets every row for it once, in order."""
    db, url = pg_host()
    srv = servers.lighttpd(db=url, auth="query", mode="cgi", heartbeat=2,
                           log_level="info")
    monkeypatch.setattr(test_host, "host_header", lambda _db: header(url))
    users = [f"k{i}" for i in range(5)]
    # LISTEN backends seen meanwhile: a killed leader's may linger a
    # moment beside its successor's, never one per process (10 here).
    seen = []
    stop = threading.Event()

    def sample():
        while not stop.wait(0.2):
            seen.append(backends(postgres, db)[0])
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        kills, takeovers, reconnects = test_host.run_kills(
            srv, users, 1500, streams_per_user=2, kill_every=0.5)
    finally:
        stop.set()
        sampler.join(10)
    harness.report(f"postgres host-wide lighttpd cgi: {kills} leader "
                   f"kills during 1500 rows, {takeovers} takeovers, "
                   f"{reconnects} reconnects; every row exactly once, "
                   f"in order; LISTEN backends at most {max(seen)}")
    assert kills >= 3, kills
    assert takeovers >= kills
    assert seen and max(seen) <= 2, seen


def test_restart_mid_stream_host_wide(postgres, servers, pg_host):
    """pg_ctl restart while a host's streams are open: none ends (the
    heartbeats go on), the leader LISTENs again, and every row committed
    before and after arrives once, in order."""
    db, url = pg_host()
    srv = servers.lighttpd(db=url, auth="query", mode="cgi", heartbeat=1,
                           log_level="info")
    users = [f"r{i}" for i in range(6)]
    sw = swarm.Swarm()
    mark = srv.logs.mark()
    try:
        streams = test_host.open_all(sw, srv, users)
        want = {u: [] for u in users}

        def produce(tag):
            for u in users[:3]:
                rid, = postgres.produce(db, (u, "m", f"{tag}-{u}"))
                want[u].append(rid)
            rid, = postgres.produce(db, (None, "b", f"{tag}-all"))
            for u in users:
                want[u].append(rid)

        produce("before")
        assert sw.wait(lambda: all(s.ids == want[u]
                                   for u, s in streams.items()), 20)
        # Rows go on being committed right up to the restart, from
        # another thread, so some land while the processes are reading.
        stop = threading.Event()
        errors = []

        def keep_producing():
            i = 0
            while not stop.is_set():
                try:
                    rid, = postgres.produce(db, (None, "b", f"during-{i}"))
                except Exception as e:     # the server is going down
                    errors.append(repr(e))
                    return
                for u in users:
                    want[u].append(rid)
                i += 1
                time.sleep(0.05)
        t = threading.Thread(target=keep_producing, daemon=True)
        t.start()
        sw.run_for(0.5)
        stop.set()
        t.join(10)
        postgres.restart()
        sw.run_for(1.0)
        produce("after")
        produce("later")
        assert sw.wait(lambda: all(s.ids == want[u]
                                   for u, s in streams.items()), 40), \
            {u: (s.ids[-3:], want[u][-3:]) for u, s in streams.items()}
        sw.run_for(1.0)
        for u, s in streams.items():
            assert s.ids == want[u], (u, s.ids, want[u])
            assert not s.ended, u
        assert harness.wait_until(
            lambda: backends(postgres, db)[0] == 1, 15), \
            backends(postgres, db)
        log = srv.logs.since(mark)
        harness.report(f"postgres host-wide restart: {len(users)} cgi "
                       f"streams stayed open, {len(want[users[0]])} rows "
                       f"each once; LISTEN outage lines: "
                       f"{log.count('commits are not heard')}")
        # Only the leader listens, so only it reports the lost LISTEN.
        assert log.count("commits are not heard") <= 2, log[-3000:]
    finally:
        sw.close()


def test_history_that_went_back_ends_every_process_stream(postgres, servers,
                                                          pg_host):
    """A failover to a replica that missed the newest commits, simulated
    as in test_postgres.py (the data connections cut and kept out, the
    newest rows deleted and the sequence set back, LISTEN untouched):
    the leader sees its ids end below what it published, and not only
    its own stream but every follower's ends, so that clients resume
    (told reset) instead of skipping the ids given anew."""
    db, url = pg_host()
    srv = servers.lighttpd(db=url, auth="query", mode="cgi", heartbeat=1,
                           log_level="info")
    users = ["a", "b", "c"]
    sw = swarm.Swarm()
    mark = srv.logs.mark()
    admin = postgres.connect()
    owner = postgres.connect(db)        # opened before the door shuts
    try:
        streams = test_host.open_all(sw, srv, users)
        ids = postgres.produce(db, *[(None, None, str(i)) for i in range(3)])
        assert sw.wait(lambda: all(s.ids == ids for s in streams.values()),
                       20), {u: s.ids for u, s in streams.items()}
        assert postgres.go_back(admin, owner, db, ids[0], None, srv,
                                mark), srv.logs.since(mark)
        assert sw.wait(lambda: all(s.ended for s in streams.values()),
                       30), ({u: s.ended for u, s in streams.items()},
                             srv.logs.since(mark)[-3000:])
        log = srv.logs.since(mark)
        assert "a failover lost commits" in log, log[-3000:]
        assert "every process of this host ends its streams" in log, \
            log[-3000:]
        # Nothing of the new history was taken for the old ids.
        for s in streams.values():
            assert s.ids == ids, s.ids
    finally:
        admin.cursor().execute(f"ALTER DATABASE {db} ALLOW_CONNECTIONS true")
        admin.close()
        owner.close()
        sw.close()
    for u in users:
        with srv.open(u, last_event_id=ids[-1]) as c:
            got = c.wait_events(3, timeout=15)
            assert got[0].type == "reset", got
            assert [e.data for e in got[1:]] == ["0", "new"], got


@pytest.mark.parametrize("planted", ["other-owner", "group-writable",
                                     "symlink"])
def test_map_not_ours_is_refused(postgres, servers, pg_host, tmp_path,
                                 planted):
    """A file at the map's place that someone else could write (or a
    symbolic link there) is never used: one log line per process, and
    each process LISTENs on its own connection, as before."""
    db, url = pg_host()
    path = map_path(url)
    if planted == "symlink":
        target = tmp_path / "elsewhere"
        target.write_bytes(b"")
        os.symlink(target, path)
    else:
        with open(path, "wb"):
            pass
        if planted == "other-owner":
            os.chmod(path, 0o600)           # root's
        else:
            os.chown(path, RESPONDER_UID, -1)
            os.chmod(path, 0o660)
    srv = servers.lighttpd(db=url, auth="query", mode="cgi", heartbeat=2,
                           log_level="info")
    mark = srv.logs.mark()
    sw = swarm.Swarm()
    try:
        streams = test_host.open_all(sw, srv, ["x", "y"])
        rid, = postgres.produce(db, (None, "b", "all"))
        assert sw.wait(lambda: all(s.ids == [rid]
                                   for s in streams.values()), 20)
        log = srv.logs.since(mark)
        assert log.count("host-wide change reader unavailable") == 2, log
        assert harness.wait_until(
            lambda: backends(postgres, db)[0] == 2, 10), \
            backends(postgres, db)
        if planted == "symlink":
            assert target.read_bytes() == b""
    finally:
        sw.close()
        os.unlink(path)
