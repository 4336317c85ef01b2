# SPDX-License-Identifier: BSD-2-Clause
"""The event loop under rows and states that once broke it.

* A row too large for the wire (the one that crashed the whole process
  while it walked a user's streams) becomes a "skipped" event with its
  id, on the live path and on replay alike; every other stream goes on.
* Waiting costs nothing: a responder whose database is missing, not in
  WAL mode, or named through a symlink does not spin.
"""

import json
import os
import subprocess
import time

import harness
from test_faults import (checkpoint, cpu_seconds, events_of, memory_kib,
                         the_responder)

# Just under the old 256 MiB output cap once hex-encoded: the row of the
# original crash report.
HUGE_ZEROBLOB = 134216728


def sqlite3_cli(db, sql):
    """A producer in its own process: the sqlite3 shell."""
    subprocess.run(["sqlite3", str(db), sql], check=True,
                   capture_output=True, timeout=120)


def test_oversize_row_is_skipped_on_both_paths(servers):
    srv = servers.lighttpd(heartbeat=1)
    pid = the_responder(srv)
    mark = srv.logs.mark()
    alice = srv.open("alice")
    bob = srv.open("bob")
    try:
        for c in (alice, bob):
            assert c.status == 200, c.describe()
            c.wait_fields(1)
        before = srv.produce(("alice", "m", "before"))[0]
        alice.wait_events(1, timeout=5)
        sqlite3_cli(srv.db, "INSERT INTO outbox (user_id, data) VALUES "
                    f"('alice', replace(hex(zeroblob({HUGE_ZEROBLOB})),"
                    "'0','x'))")
        huge = before + 1
        after = srv.produce(("alice", "m", "after"), ("bob", "m", "b"))
        alice.wait_events(3, timeout=30)
        bob.wait_events(1, timeout=10)
        got = events_of(alice)
        assert got[0] == (before, "m", "before"), alice.describe()
        assert got[1][:2] == (huge, "skipped"), alice.describe()
        notice = json.loads(got[1][2])
        assert notice["reason"] == "too-large", notice
        assert notice["bytes"] > notice["limit"], notice
        assert got[2] == (after[0], "m", "after"), alice.describe()
        assert events_of(bob) == [(after[1], "m", "b")], bob.describe()
        srv.logs.wait_for(rf"warning: row {huge} is \d+ bytes as an "
                          r"event, over the limit", mark)
    finally:
        alice.close()
        bob.close()
    # The same on replay: no crash, no silent gap, no loop.
    c = srv.open("alice", last_event_id=before)
    try:
        assert c.status == 200, c.describe()
        c.wait_events(2, timeout=30)
        got = events_of(c)
        assert got[0][:2] == (huge, "skipped"), c.describe()
        assert got[1] == (after[0], "m", "after"), c.describe()
    finally:
        c.close()
    assert the_responder(srv) == pid, "the responder was restarted"
    # Nothing of the big row stays in the process.
    assert harness.wait_until(
        lambda: memory_kib(pid)["VmRSS"] < 64 * 1024, 5), memory_kib(pid)
    harness.report(f"over-large row ({2 * HUGE_ZEROBLOB} bytes): a "
                   f"'skipped' event with its id, live and on replay; "
                   f"other streams untouched; responder RSS afterwards "
                   f"{memory_kib(pid)['VmRSS']} KiB")


def idle_cpu(pid, seconds=2.0):
    c0 = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - c0) / seconds


def test_waiting_for_a_missing_database_costs_nothing(servers):
    srv = servers.lighttpd(db="missing")
    r = srv.request("alice", last_event_id=0)
    assert r.status == 503, r.describe()
    share = idle_cpu(the_responder(srv))
    harness.report(f"database missing: responder CPU {share:.1%} of a "
                   f"core while it waits")
    assert share < 0.05, f"{share:.0%} of a core while waiting"


def test_a_symlinked_database_is_watched_without_spinning(servers,
                                                          base_dir):
    real_dir = harness.make_dir(base_dir / f"real-{os.getpid()}-"
                                f"{time.monotonic_ns()}")
    real = real_dir / "app.db"
    harness.make_db(real)
    link = real_dir / "link.db"
    os.symlink(real, link)
    srv = servers.lighttpd(db=harness.Path(link))
    pid = the_responder(srv)
    c = srv.open("alice")
    try:
        assert c.status == 200, c.describe()
        c.wait_fields(1)
        lat = []
        for i in range(10):
            t0 = time.monotonic()
            srv.produce(("alice", "m", f"r{i}"))
            c.wait_events(i + 1, timeout=5)
            lat.append(time.monotonic() - t0)
        share = idle_cpu(pid)
    finally:
        c.close()
    lat.sort()
    harness.report(f"symlinked SSE_DB: median latency "
                   f"{lat[len(lat) // 2] * 1000:.1f} ms, idle CPU "
                   f"{share:.1%} of a core")
    assert share < 0.05, f"{share:.0%} of a core while idle"
    assert lat[len(lat) // 2] < 0.2, lat


def test_a_database_not_in_wal_mode_costs_nothing_while_idle(servers,
                                                             base_dir):
    d = harness.make_dir(base_dir / f"journal-{time.monotonic_ns()}")
    db = d / "app.db"
    harness.make_db(db)
    sqlite3_cli(db, "PRAGMA journal_mode=DELETE")
    srv = servers.lighttpd(db=harness.Path(db))
    pid = the_responder(srv)
    r = srv.open("alice", last_event_id=0)
    try:
        # Refused or served, the process must not spin while it waits.
        assert r.status in (200, 503), r.describe()
        share = idle_cpu(pid)
    finally:
        r.close()
    harness.report(f"database in rollback-journal mode: answered "
                   f"{r.status}, idle CPU {share:.1%} of a core")
    assert share < 0.05, f"{share:.0%} of a core while idle"


INOTIFY_HOG = r"""
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
fds = []
while len(fds) < 100000:
    fd = libc.inotify_init1(0)
    if fd < 0:
        break
    fds.append(fd)
print(len(fds), flush=True)
sys.stdin.read()
"""


class InotifyExhausted:
    """Every inotify instance `user` may have, held by a process of that
    user: what the 129th responder of www-data meets on a stock Debian
    (fs.inotify.max_user_instances = 128)."""

    def __init__(self, user):
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", "-c", INOTIFY_HOG], user=user,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.held = int(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def test_without_inotify_a_replaced_database_is_noticed(servers,
                                                        base_dir):
    """Past the per-user inotify limit the watcher polls; a database
    replaced under it (a restored backup) must still be noticed: the
    streams end, clients resume from the new file, live rows flow."""
    hog = InotifyExhausted("nobody")
    try:
        srv = servers.lighttpd(mode="fastcgi-socket",
                               listener_user="nobody")
        c = srv.open("alice")
        try:
            assert c.status == 200, c.describe()
            c.wait_fields(1)
            # The responder started after the instances were taken.
            srv.logs.wait_for(r"change watcher unavailable", mark=None)
            first = srv.produce(("alice", "m", "old file"))[0]
            c.wait_events(1, timeout=5)
            restored = srv.db.parent / "restored.db"
            harness.make_db(restored)
            subprocess.run(["sqlite3", str(restored), "INSERT INTO outbox "
                            "(user_id, data) VALUES ('alice', 'restored')"],
                           check=True, timeout=30)
            os.chmod(restored, 0o666)
            # As an operator restores: the -wal belongs to the old file,
            # so it is emptied first.
            checkpoint(srv.db)
            os.replace(restored, srv.db)
            # The stream on the old file ends so that the client resumes.
            assert harness.wait_until(lambda: c.closed or c.complete, 5), \
                c.describe()
        finally:
            c.close()
        c = srv.open("alice", last_event_id=0)
        try:
            assert c.status == 200, c.describe()
            c.wait_events(1, timeout=5)
            live = srv.produce(("alice", "m", "live"))[0]
            c.wait_events(2, timeout=5)
            assert [e[2] for e in events_of(c)] == ["restored", "live"], \
                c.describe()
            assert events_of(c)[1][0] == live
        finally:
            c.close()
        harness.report(f"inotify exhausted ({hog.held} instances held by "
                       f"the same user): the polling responder noticed a "
                       f"replaced database (row {first} was the old "
                       f"file's) and served the new one")
    finally:
        hog.close()
