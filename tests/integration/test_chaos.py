# SPDX-License-Identifier: BSD-2-Clause
"""Chaos: nothing lost, nothing duplicated, nothing foreign.

lighttpd (one bin-path responder serving every stream) and Apache
mod_fcgid (one responder process per stream) serve the same database.
Several producer processes insert rows for 50 users and broadcasts;
50 clients connect to either server at random, leave (FIN or reset) and
come back at random, resuming with Last-Event-ID; responders are killed
with SIGKILL at random and lighttpd is restarted once. At the end every
client must hold exactly the rows of its user and the broadcasts after
its first resume point, in id order: no gap, no duplicate, no row of
anyone else. The outbox is the queue: a connection that dies takes
nothing with it.

One selector loop (swarm.py) drives every client, with bounded waits
throughout; the web server restart runs in a thread so the loop goes on.
"""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import harness
import swarm

CHAOS_SECONDS = float(os.environ.get("SSE_CHAOS_SECONDS", "15"))
PRODUCERS = 4
SETTLE_TIMEOUT = 25.0
FAULTPRODUCER = harness.HERE / "faultproducer.py"


class Client:
    """One browser tab: a user, a resume point, what it received."""

    def __init__(self, name, user, first_resume):
        self.name = name
        self.user = user
        self.first_resume = first_resume
        self.resume = first_resume      # Last-Event-ID for the next try
        self.got = []                   # (id, type, data), every stream
        self.stream = None
        self.counted = 0                # events of self.stream taken
        self.leave_at = None            # when to leave this stream
        self.retry_at = 0.0             # when to connect again
        self.connects = 0
        self.refusals = {}              # status -> count
        self.ends = 0                   # streams the server ended
        self.leaves = 0                 # streams we left

    def take(self):
        """Move the stream's new complete events into got."""
        evs = self.stream.events
        for eid, etype, data, _ in evs[self.counted:]:
            assert eid is not None, (self.name, etype, data)
            self.got.append((eid, etype, data))
            self.resume = eid
        self.counted = len(evs)


def expected_rows(db):
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT id, user_id, coalesce(event, "
                            "'message'), data FROM outbox "
                            "ORDER BY id").fetchall()
    finally:
        conn.close()


def test_chaos_nothing_lost_nothing_duplicated(servers):
    rnd = random.Random(int(os.environ.get("SSE_CHAOS_SEED", "5")))
    users = harness.CHAOS_USERS
    # Both servers as their example configurations ship (Apache: at most
    # 50 responder processes, one per stream, and the server-level spawn
    # limit docs/apache.md gives), on one database.
    light = servers.lighttpd(heartbeat=1, retry=500)
    apache = servers.apache(db=light.db, heartbeat=1, retry=500,
                            extra=harness.documented_spawn_limit())
    db = light.db
    targets = [light, apache]

    # History the first resume points can point into.
    seed_rows = [(rnd.choice(users + [None]), "seed", f"seed {i}")
                 for i in range(300)]
    harness.finish_burst(harness.start_rows(db, seed_rows, batch=50))
    high0 = expected_rows(db)[-1][0]

    clients = []
    for i in range(50):
        user = users[i]
        first = rnd.choice([0, rnd.randint(1, high0), high0])
        clients.append(Client(f"c{i:02d}", user, first))

    producers = [subprocess_popen(
        [sys.executable, str(FAULTPRODUCER), "chaos", str(db),
         "--seconds", str(CHAOS_SECONDS), "--users", ",".join(users),
         "--seed", str(k + 1)]) for k in range(PRODUCERS)]

    sw = swarm.Swarm()
    stats = {"kills_lighttpd": 0, "kills_apache": 0, "restarts": 0,
             "refused": 0, "connect_errors": 0}
    restart_state = {"thread": None, "error": None}

    def restart_lighttpd():
        try:
            light.stop()
            time.sleep(0.5)
            light.start()
        except BaseException as e:      # reported by the main loop
            restart_state["error"] = e

    t_start = time.monotonic()
    t_end = t_start + CHAOS_SECONDS
    next_kill = t_start + rnd.uniform(2, 4)
    restart_at = t_start + CHAOS_SECONDS / 2
    settling = False

    def connect(c, now):
        srv = rnd.choice(targets)
        if rnd.random() < 0.2:      # the resume point in the query
            c.stream = sw.open(srv, c.user, query=f"lastEventId={c.resume}",
                               tag=c)
        else:
            c.stream = sw.open(srv, c.user, last_event_id=c.resume, tag=c)
        c.counted = 0
        c.connects += 1
        c.leave_at = None if settling else now + rnd.expovariate(1 / 3.0)

    def step(now):
        for c in clients:
            s = c.stream
            if s is None:
                if now >= c.retry_at:
                    connect(c, now)
                continue
            if s.status is not None and s.status != 200:
                c.refusals[s.status] = c.refusals.get(s.status, 0) + 1
                stats["refused"] += 1
                sw.drop(s)
                c.stream = None
                c.retry_at = now + rnd.uniform(0.1, 0.5)
                continue
            if s.status == 200:
                c.take()
            if s.ended:
                if s.status is None:
                    stats["connect_errors"] += 1
                else:
                    c.ends += 1
                sw.drop(s)
                c.stream = None
                c.retry_at = now + rnd.uniform(0.05, 0.3)
                continue
            if c.leave_at is not None and now >= c.leave_at:
                c.take()
                sw.drop(s, reset=rnd.random() < 0.5)
                c.leaves += 1
                c.stream = None
                c.retry_at = now + rnd.uniform(0.0, 0.3)
            elif s.status is None and time.time() - s.started > 15:
                # No answer at all (a request lost with a killed
                # process): give up on it, like a browser's timeout.
                sw.drop(s)
                stats["connect_errors"] += 1
                c.stream = None
                c.retry_at = now

    try:
        while time.monotonic() < t_end:
            now = time.monotonic()
            sw.poll(0.02)
            step(now)
            if now >= next_kill:
                next_kill = now + rnd.uniform(2.0, 4.0)
                busy = restart_state["thread"] is not None and \
                    restart_state["thread"].is_alive()
                # The server killed in least so far (a random pick once
                # left Apache unkilled in four kills), Apache while
                # lighttpd restarts.
                kills = {light: "kills_lighttpd", apache: "kills_apache"}
                fewest = min(stats[k] for k in kills.values())
                behind = [t for t in targets if stats[kills[t]] == fewest]
                victim_srv = rnd.choice(behind if not busy else [apache])
                pids = victim_srv.responders()
                if not pids:
                    next_kill = now + 0.5   # nobody to kill yet: soon
                else:
                    pid = rnd.choice(pids)
                    try:
                        os.kill(pid, signal.SIGKILL)
                        stats[kills[victim_srv]] += 1
                    except ProcessLookupError:
                        pass
            if restart_state["thread"] is None and now >= restart_at:
                t = threading.Thread(target=restart_lighttpd, daemon=True)
                restart_state["thread"] = t
                stats["restarts"] += 1
                t.start()
        outs = [finish_chaos(p) for p in producers]
        restart_state["thread"].join(30)
        assert restart_state["error"] is None, restart_state["error"]
        assert light.proc is not None and light.proc.poll() is None

        # Settle: no more leaving; everyone catches up to the end.
        settling = True
        rows = expected_rows(db)
        want = {}
        for c in clients:
            want[c.name] = [(i, e, d) for i, u, e, d in rows
                            if i > c.first_resume and u in (c.user, None)]
        for c in clients:
            c.leave_at = None

        def level():
            return all(c.got[-1:] == want[c.name][-1:] or
                       (not want[c.name] and not c.got) for c in clients)

        t_settle = time.monotonic()
        deadline = t_settle + SETTLE_TIMEOUT
        while not level() and time.monotonic() < deadline:
            now = time.monotonic()
            sw.poll(0.02)
            step(now)
        for c in clients:
            if c.stream is not None and c.stream.status == 200:
                c.take()
        settled = time.monotonic() - t_settle
    finally:
        for p in producers:
            if p.poll() is None:
                harness.terminate(p.pid, popen=p, timeout=2)
        sw.close()

    # ---- the check ----
    n_rows = len(rows)
    n_broadcast = sum(1 for r in rows if r[1] is None)
    problems = []
    checked = 0
    for c in clients:
        got, exp = c.got, want[c.name]
        checked += len(got)
        if got == exp:
            continue
        ids = [g[0] for g in got]
        dups = len(ids) - len(set(ids))
        foreign = [g for g in got if g not in exp]
        missing = [e[0] for e in exp if e not in got]
        problems.append(
            f"{c.name} ({c.user}, from {c.first_resume}): got {len(got)}, "
            f"want {len(exp)}; duplicates {dups}, foreign "
            f"{[f[0] for f in foreign][:10]}, missing {missing[:10]}, "
            f"in order {ids == sorted(ids)}")
    connects = sum(c.connects for c in clients)
    refusals = {}
    for c in clients:
        for k, v in c.refusals.items():
            refusals[k] = refusals.get(k, 0) + v
    summary = (
        f"chaos: {CHAOS_SECONDS:.0f} s, {PRODUCERS} producers committed "
        f"{sum(o['rows'] for o in outs)} rows in "
        f"{sum(o['commits'] for o in outs)} transactions (outbox now "
        f"{n_rows} rows, {n_broadcast} broadcasts); 50 clients, "
        f"{connects} connections ({sum(c.leaves for c in clients)} left by "
        f"the client, {sum(c.ends for c in clients)} ended by the server, "
        f"{stats['connect_errors']} failed to connect, refusals "
        f"{refusals}); SIGKILLs: {stats['kills_lighttpd']} lighttpd "
        f"responder, {stats['kills_apache']} Apache responders; lighttpd "
        f"restarted {stats['restarts']}x; every client level "
        f"{settled:.1f} s after the producers stopped; {checked} events "
        f"checked against the outbox, {len(problems)} clients wrong")
    harness.report(summary)
    assert not problems, "\n".join(problems[:20])
    assert stats["kills_lighttpd"] >= 1 and stats["kills_apache"] >= 1, stats
    assert checked > 10000, summary


def subprocess_popen(args):
    return subprocess.Popen(args, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def finish_chaos(p):
    out = harness.finish_burst(p, timeout=CHAOS_SECONDS + 30)
    assert len(out) == 1, out
    return out[0]
