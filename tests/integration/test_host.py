# SPDX-License-Identifier: BSD-2-Clause
"""One reader per host (issue 11): processes that serve one stream each
(Apache mod_fcgid, lighttpd mod_cgi) share <db>-sse; one of them, the
leader, watches and reads the database for all and wakes only the
processes a row is for. Real servers, real processes, real kills."""

import os
import random
import signal
import struct
import threading
import time

import harness
import swarm
from test_core import InotifyExhausted

# mod_fcgid spawns slowly by default (spawn score) and caps processes.
# Its process table lock with fcntl() (the harness's Mutex file:) fails
# with EDEADLK under a few hundred concurrent requests ("can't lock
# process table": the request ends); a pthread mutex does not.
FCGID_EXTRA = """
Mutex pthread fcgid-proctbl fcgid-pipe
FcgidMaxProcesses 2000
FcgidSpawnScoreUpLimit 100000
FcgidSpawnScore 1
FcgidTerminationScore 0
"""

# SSE_HOST_BEFORE=1: a binary without the shared reader, for the
# before/after figures; only its rows are checked.
BEFORE = os.environ.get("SSE_HOST_BEFORE") == "1"

HEAD = struct.Struct("<IIIIqqQQIIIIQ")


def host_header(db):
    """The shared file's header: cursor, target, leader pid ..."""
    with open(str(db) + "-sse", "rb") as f:
        raw = f.read(HEAD.size)
    (magic, version, size, nslots, cursor, target, dev, ino, epoch,
     leader, high, _, leaders) = HEAD.unpack(raw)
    return {"magic": magic, "cursor": cursor, "target": target,
            "epoch": epoch, "leader": leader, "high": high,
            "leaders": leaders}


def apache_query(servers, nstreams, **kw):
    """Apache + mod_fcgid with room for nstreams processes; users come
    in the query (SSE_AUTH=query), so any number of distinct users."""
    srv = servers.apache(max_processes=nstreams + 20, extra=FCGID_EXTRA,
                         env={"SSE_AUTH": "query"}, log_level="info",
                         heartbeat=15, **kw)
    srv.auth = "query"
    srv.path = srv.noauth_path
    return srv


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError):
            pass
    return total


def inotify_holders(pids):
    """Responders holding an inotify instance."""
    out = []
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == \
                        "anon_inode:inotify":
                    out.append(pid)
                    break
        except OSError:
            pass
    return out


def open_all(sw, srv, users, timeout=120):
    streams = {u: sw.open(srv, u, last_event_id=0, tag=u) for u in users}
    ok = sw.wait(lambda: all(s.status is not None or s.ended
                             for s in streams.values()), timeout)
    bad = [u for u, s in streams.items() if s.status != 200]
    assert ok and not bad, f"{len(bad)} streams not open: {bad[:5]}"
    # Each counted only once its process follows its key.
    sw.run_for(1.0)
    return streams


def test_host_wide_200_streams_fcgid(servers):
    n = int(os.environ.get("SSE_HOST_N", "200"))
    srv = apache_query(servers, n)
    users = [f"h{i:04d}" for i in range(n)]
    sw = swarm.Swarm()
    try:
        streams = open_all(sw, srv, users)
        pids = srv.responders()
        assert len(pids) >= n, (len(pids), n)
        holders = inotify_holders(pids)
        harness.report(f"host-wide, {n} fcgid streams: {len(pids)} "
                       f"responders, inotify held by {len(holders)}")
        if not BEFORE:
            # Only the leader watches the database.
            assert len(holders) <= 1, holders
            assert host_header(srv.db)["leader"] in pids

        # Idle: nobody polls SQLite.
        hz = os.sysconf("SC_CLK_TCK")
        t0, c0 = time.monotonic(), cpu_ticks(pids)
        sw.run_for(5.0)
        idle = (cpu_ticks(pids) - c0) / hz / (time.monotonic() - t0)
        harness.report(f"host-wide, {n} fcgid streams: idle CPU of all "
                       f"responders {idle * 100:.2f} % of one core")
        assert BEFORE or idle < 0.20, idle

        # Rows for one user each: only that user's stream gets them.
        rnd = random.Random(11)
        chosen = rnd.sample(users, min(40, n))
        lat = []
        sent = {}
        for u in chosen:
            (rid, t_commit), = harness.produce(srv.db, (u, "m", "for " + u))
            sent[u] = rid
            s = streams[u]
            assert sw.wait(lambda: rid in s.ids, 10), s.ids
            got = [e for e in s.events if e[0] == rid][0]
            lat.append(got[3] - t_commit)
        lat.sort()
        p50 = harness.percentile(lat, 0.50) * 1000
        p99 = harness.percentile(lat, 0.99) * 1000
        harness.report(f"host-wide, {n} fcgid streams: commit -> event "
                       f"p50 {p50:.2f} ms, p99 {p99:.2f} ms "
                       f"({len(lat)} single-user rows)")
        assert BEFORE or p50 < 50, lat

        # A broadcast reaches everyone.
        (bid, t_commit), = harness.produce(srv.db, (None, "b", "all"))
        assert sw.wait(lambda: all(bid in s.ids for s in streams.values()),
                       20)
        last = max(e[3] for s in streams.values() for e in s.events
                   if e[0] == bid)
        harness.report(f"host-wide, {n} fcgid streams: broadcast reached "
                       f"all in {(last - t_commit) * 1000:.1f} ms")
        sw.run_for(0.5)
        for u, s in streams.items():
            want = ([sent[u]] if u in sent else []) + [bid]
            assert s.ids == want, (u, s.ids, want)
            assert not s.ended, u
    finally:
        sw.close()


class Client:
    """One user's stream that resumes from its last id when it ends."""

    def __init__(self, user):
        self.user = user
        self.ids = []
        self.stream = None
        self.counted = 0
        self.reconnects = 0

    def take(self):
        evs = self.stream.events
        for e in evs[self.counted:]:
            if e[0] is not None:
                self.ids.append(int(e[0]))
        self.counted = len(evs)

    def connect(self, sw, srv):
        last = self.ids[-1] if self.ids else 0
        self.stream = sw.open(srv, self.user, last_event_id=last)
        self.counted = 0


def run_kills(srv, users, nrows, streams_per_user=3, kill_every=0.4):
    """A burst of nrows rows to users (and some broadcasts) while the
    leader is SIGKILLed again and again; each client must end with
    every row meant for it exactly once, in order."""
    rnd = random.Random(7)
    rows = [(rnd.choice(users + [None]) if i % 50 else None, "m", f"r{i}")
            for i in range(nrows)]
    sw = swarm.Swarm()
    clients = [Client(u) for u in users for _ in range(streams_per_user)]
    kills = 0
    leaders_before = None
    try:
        for c in clients:
            c.connect(sw, srv)
        assert sw.wait(lambda: all(c.stream.status == 200
                                   for c in clients), 60)
        sw.run_for(1.0)
        leaders_before = host_header(srv.db)["leaders"]
        burst = harness.start_rows(srv.db, rows, interval=0.0005)
        # Its stdout is read meanwhile: a full pipe would stop it.
        result = {}
        reader = threading.Thread(
            target=lambda: result.update(out=harness.finish_burst(burst)),
            daemon=True)
        reader.start()
        next_kill = time.monotonic() + kill_every
        while reader.is_alive():
            sw.poll(0.02)
            for c in clients:
                c.take()
                if c.stream.ended:
                    sw.drop(c.stream)
                    c.reconnects += 1
                    c.connect(sw, srv)
            if time.monotonic() >= next_kill:
                next_kill = time.monotonic() + kill_every
                pid = host_header(srv.db)["leader"]
                if pid and pid in srv.responders():
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
        assert "out" in result, "the producer failed"
        ids = [o["id"] for o in result["out"]]
        want = {u: [] for u in users}
        for rid, (u, _, _) in zip(ids, rows):
            for k in want:
                if u is None or u == k:
                    want[k].append(rid)

        def done():
            for c in clients:
                c.take()
                if c.stream.ended:
                    sw.drop(c.stream)
                    c.reconnects += 1
                    c.connect(sw, srv)
            return all(c.ids[-1:] == want[c.user][-1:] for c in clients)
        assert sw.wait(done, 60), [(c.user, len(c.ids),
                                    len(want[c.user])) for c in clients]
        sw.run_for(0.5)
        for c in clients:
            c.take()
            assert c.ids == want[c.user], (c.user, len(c.ids),
                                           len(want[c.user]))
        head = host_header(srv.db)
        return kills, head["leaders"] - leaders_before, \
            sum(c.reconnects for c in clients)
    finally:
        sw.close()


def test_leader_killed_during_burst_fcgid(servers):
    srv = apache_query(servers, 40)
    users = [f"k{i}" for i in range(6)]
    kills, takeovers, reconnects = run_kills(srv, users, 3000)
    harness.report(f"host-wide fcgid: {kills} leader kills during 3000 "
                   f"rows, {takeovers} takeovers, {reconnects} "
                   f"reconnects; every row exactly once, in order")
    assert kills >= 3, kills
    assert takeovers >= kills


def test_leader_killed_during_burst_lighttpd_cgi(servers):
    srv = servers.lighttpd(mode="cgi", log_level="info")
    users = harness.CHAOS_USERS[:5]
    kills, takeovers, reconnects = run_kills(srv, users, 2000,
                                             streams_per_user=2)
    harness.report(f"host-wide lighttpd cgi: {kills} leader kills during "
                   f"2000 rows, {takeovers} takeovers, {reconnects} "
                   f"reconnects; every row exactly once, in order")
    assert kills >= 3, kills


def test_processes_past_the_inotify_limit_need_none(servers):
    """The 129th process of a user gets no inotify instance; only the
    leader needs one, so the others neither poll nor warn."""
    srv = apache_query(servers, 40)
    sw = swarm.Swarm()
    hog = None
    try:
        first = open_all(sw, srv, ["first"])
        # Every instance www-data can still get, held by another process.
        hog = InotifyExhausted("www-data")
        mark = srv.logs.mark()
        users = [f"late{i}" for i in range(10)]
        streams = open_all(sw, srv, users)
        lat = []
        for u in users:
            (rid, t_commit), = harness.produce(srv.db, (u, "m", "x"))
            s = streams[u]
            assert sw.wait(lambda: rid in s.ids, 10), s.ids
            lat.append([e for e in s.events if e[0] == rid][0][3] -
                       t_commit)
        log = srv.logs.since(mark)
        holders = inotify_holders(srv.responders())
        harness.report(f"inotify exhausted ({hog.held} instances held): "
                       f"{len(users)} later streams served live, median "
                       f"{sorted(lat)[len(lat) // 2] * 1000:.1f} ms, "
                       f"inotify held by {len(holders)} responder(s)")
        assert "change watcher unavailable" not in log, log[-2000:]
        assert len(holders) <= 1
        assert not first["first"].ended
    finally:
        sw.close()
        if hog:
            hog.close()
