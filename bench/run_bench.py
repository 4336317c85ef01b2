#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""sse-outbox benchmark: prints one table of figures (not a pass/fail test).

Through lighttpd (mod_fastcgi bin-path, one sse-outbox process), for N idle
streams held by the epoll client bench/sse_load.c as distinct users:
latency of single-user rows, broadcast fan-out, memory per idle stream,
idle CPU, rows lost. Beside it, in the same run, nginx + nchan (2 workers,
EventSource subscribers on N distinct channels plus one "all" channel for
broadcasts, the same 15 s heartbeat), measured the same way from publish
to event. The same through nginx to one `--listen` process. Each of these
multi-stream rows is measured BENCH_REPS times, interleaved, and printed
as the median with the range of the repetitions. Then the
one-process-per-stream shapes (Apache mod_fcgid, Apache mod_cgid,
lighttpd mod_cgi) at BENCH_PROCESS_SIZES streams: idle CPU of all
sse-outbox processes, latency, broadcast, CPU per commit, and memory per
process (USS and PSS from smaps_rollup).

Environment: BENCH_SIZES (multi-stream rows, default 1000,5000,9000),
BENCH_REPS (repetitions of each multi-stream row, default 2), BENCH_NCHAN=0
to skip nchan, BENCH_LIGHTTPD_WORKERS (lighttpd's server.max-worker in the
bin-path rows, default 2 like nginx's workers: one relays at most one core's
worth of events; the one sse-outbox process serves both),
BENCH_PROCESS_SIZES (default 100,200,500,1000), BENCH_PROCESS_SHAPES
(default fcgid,cgid,cgi; empty for none), BENCH_IDLE_SECONDS (20),
BENCH_PROCESS_IDLE_SECONDS (16), BENCH_LIGHTTPD=0 / BENCH_NGINX=0 to skip
the multi-stream rows, BENCH_KEEP to keep the work directories,
BENCH_DEBUG=1 to print the slowest rows of each run and each server
process's CPU and wake-ups (schedstat) in the idle window,
BENCH_STORES (default sqlite,postgresql): the stores of the lighttpd
bin-path rows; postgresql runs a private PostgreSQL (bench/pg_bench.py).
BENCH_OPEN_OVER (seconds, default 15, the heartbeat): the multi-stream
rows open their streams evenly over that time, as users arrive, so the
idle window sees heartbeats falling due steadily, as a server lives
with them; 0 opens them all at once, and their heartbeats then fall due
together, in a wave every 15 s, as after a restart that reconnects
everyone.

Figures only: nothing here passes or fails. The machine's load average is
printed before and after, since other work on it moves every figure.
"""
import os
import platform
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

import pg_bench

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SSE_OUTBOX_BIN", os.path.join(ROOT, "build", "sse-outbox"))
STORES = [x.strip() for x in
          os.environ.get("BENCH_STORES", "sqlite,postgresql").split(",")
          if x.strip()]
LOAD = os.path.join(ROOT, "build", "sse_load")
PRODUCER = os.path.join(ROOT, "bench", "producer.py")
SIZES = [int(x) for x in
         os.environ.get("BENCH_SIZES", "1000,5000,9000").split(",") if x.strip()]
REPS = max(1, int(os.environ.get("BENCH_REPS", "2")))
LIGHTTPD_WORKERS = int(os.environ.get("BENCH_LIGHTTPD_WORKERS", "2"))
HEARTBEAT = 15  # seconds: sse-outbox's default; nchan is set to the same
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "20"))
OPEN_OVER = float(os.environ.get("BENCH_OPEN_OVER", str(HEARTBEAT)))
PROCESS_SIZES = [int(x) for x in
                 os.environ.get("BENCH_PROCESS_SIZES", "100,200,500,1000").split(",")
                 if x.strip()]
PROCESS_SHAPES = [x.strip() for x in
                  os.environ.get("BENCH_PROCESS_SHAPES", "fcgid,cgid,cgi").split(",")
                  if x.strip()]
PROCESS_IDLE_SECONDS = float(os.environ.get("BENCH_PROCESS_IDLE_SECONDS", "16"))
# Descriptors for the servers and the load client: 1,000 streams through
# Apache take a client socket, a socket or pipes to the responder, and
# the load client's end, per stream.
NOFILE = 65536
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("server did not listen on %d" % port)


def make_db(workdir):
    db = os.path.join(workdir, "bench.db")
    with open(os.path.join(ROOT, "sql", "schema.sql")) as f:
        conn = sqlite3.connect(db)
        conn.executescript(f.read())
        conn.close()
    return db


def children_named(ppid_root, name):
    """PIDs of processes called name below ppid_root."""
    found, todo = [], [ppid_root]
    while todo:
        p = todo.pop()
        try:
            kids = open("/proc/%d/task/%d/children" % (p, p)).read().split()
        except OSError:
            continue
        for k in map(int, kids):
            todo.append(k)
            try:
                if open("/proc/%d/comm" % k).read().strip() == name:
                    found.append(k)
            except OSError:
                pass
    return found


def descendants(root):
    """(pid, start time) of every process below root: the start time
    tells a process we started from a later one that reused its PID."""
    found, todo = [], [root]
    while todo:
        p = todo.pop()
        try:
            kids = open("/proc/%d/task/%d/children" % (p, p)).read().split()
        except OSError:
            continue
        for k in map(int, kids):
            todo.append(k)
            st = start_time(k)
            if st is not None:
                found.append((k, st))
    return found


def start_time(pid):
    try:
        return int(open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def comm(pid):
    try:
        return open("/proc/%d/comm" % pid).read().strip()
    except OSError:
        return None


def kill_leftovers(procs):
    """SIGTERM, then SIGKILL, each (pid, start time) still alive: a run
    leaves none of the processes it started behind."""
    alive = [(p, st) for p, st in procs if start_time(p) == st]
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        for p, _ in alive:
            try:
                os.kill(p, sig)
            except OSError:
                pass
        end = time.monotonic() + grace
        while alive and time.monotonic() < end:
            time.sleep(0.1)
            alive = [(p, st) for p, st in alive if start_time(p) == st]
        if not alive:
            return 0
    return len(alive)


def rollup(pid):
    """{'Pss': KiB, 'Private_Clean': KiB, ...} from smaps_rollup."""
    out = {}
    try:
        for line in open("/proc/%d/smaps_rollup" % pid):
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                out[parts[0].rstrip(":")] = int(parts[1])
    except OSError:
        pass
    return out


def pss_kib(pid):
    return rollup(pid).get("Pss", 0)


def uss_kib(r):
    return r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)


def cpu_seconds(pid):
    """CPU time of pid, all its threads; 0 for a process that is gone (a
    stream that ended), so sums over many processes survive one of them
    exiting. From each thread's schedstat (nanoseconds): /proc/PID/stat
    counts in 10 ms ticks, and with a thousand processes that each run a
    few microseconds now and then, tick rounding swamped what was
    measured."""
    ns, _ = sched_of(pid)
    if ns == 0:
        return stat_cpu_seconds(pid)
    return ns / 1e9


def sched_of(pid):
    """(CPU ns, times run) over pid's threads, from schedstat; a thread
    runs once per wake-up, so the second counts wake-ups. (0, 0) when
    nothing could be read."""
    ns = runs = 0
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                fields = f.read().split()
            ns += int(fields[0])
            runs += int(fields[2])
    except (OSError, ValueError, IndexError):
        pass
    return ns, runs


def stat_cpu_seconds(pid):
    """utime + stime of pid in clock ticks, where schedstat is missing."""
    try:
        fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def raise_nofile():
    """preexec_fn: room for the descriptors of N = 1,000 streams; as far
    as the hard limit goes where it cannot be raised (a container)."""
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    except (ValueError, OSError):
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Load:
    """The epoll client holding n streams."""

    def __init__(self, port, prefix, n, timeout=120, number="id",
                 open_over=0.0):
        self.p = subprocess.Popen([LOAD, "127.0.0.1", str(port), prefix, str(n),
                                   number, str(open_over)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1, preexec_fn=raise_nofile)
        self.buf = b""
        # Wait for READY; every 2 s ask how far it got, and give up at
        # once when every stream not yet ready was closed (a 503, a
        # responder that exited), rather than at the timeout.
        end = time.monotonic() + open_over + timeout
        why = "(timeout)"
        asked = 0
        while True:
            line = self._line(2.0)
            if line is not None and line.startswith("READY"):
                # Replies still owed would be read as later counts.
                for _ in range(asked):
                    self._line(10)
                return
            if line is not None and line.startswith("COUNT"):
                asked -= 1
            if line is not None and not line.startswith("COUNT"):
                why = line.strip() or "(load client exited)"
                break
            if line is None:
                if time.monotonic() > end:
                    break
                self.p.stdin.write("COUNT\n")
                asked += 1
                continue
            c = line.split()
            if len(c) >= 4:
                why = "(%s of %d streams ready, %s closed)" % (c[3], n, c[2])
                if int(c[3]) + int(c[2]) >= n and int(c[2]) > 0:
                    break
        self.p.kill()
        self.p.wait()
        raise RuntimeError("load client failed: %s" % why)

    def _line(self, timeout=None):
        """A line from the client, None when none came within timeout.
        Read from the descriptor with our own buffer: select() cannot see
        lines a buffered reader already holds (READY and a COUNT reply
        can arrive together)."""
        import select
        end = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = None if end is None else max(0.0, end - time.monotonic())
            r, _, _ = select.select([self.p.stdout], [], [], left)
            if not r:
                return None
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                line, self.buf = self.buf, b""
                return line.decode()
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode() + "\n"

    def count(self):
        self.p.stdin.write("COUNT\n")
        return int(self._line().split()[1])

    def wait_count(self, want, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.count() >= want:
                return True
            time.sleep(0.05)
        return False

    def dump(self, path):
        self.p.stdin.write("DUMP %s\n" % path)
        while not self._line().startswith("DUMPED"):
            pass
        recs = []
        with open(path) as f:
            for line in f:
                s, i, t = line.split()
                recs.append((int(s), int(i), float(t)))
        return recs

    def close(self):
        try:
            self.p.stdin.write("QUIT\n")
            self.p.wait(5)
        except Exception:
            self.p.kill()
            self.p.wait()


def teardown(load, procs, work):
    """Stop the client, then each server we started (SIGTERM, then KILL
    after 15 s), and remove the work directory unless BENCH_KEEP is set."""
    if load:
        load.close()
    for p in procs:
        if not p:
            continue
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    if os.environ.get("BENCH_KEEP"):
        print("kept", work)
    else:
        shutil.rmtree(work, ignore_errors=True)


def produce(db, *args):
    out = subprocess.run([sys.executable, PRODUCER, db] + list(args),
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.split("\n"):
        if line:
            i, t, user = line.split()
            rows.append((int(i), float(t), user))
    return rows


def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    k = min(len(values) - 1, max(0, int(round(p / 100.0 * len(values) + 0.5)) - 1))
    return values[k]


def measure_stream_set(db, load, n, pids, rate=50.0, rows=300, relay=None,
                       workdir=None):
    """Latency of single-user rows, then broadcast fan-out; returns figures.

    relay lists the web server's pids: their CPU per broadcast is reported next
    to sse-outbox's, to show which one bounds the fan-out.
    """
    base = load.count()
    cpu0 = sum(cpu_seconds(p) for p in pids)
    t0 = time.monotonic()
    singles = produce(db, "single", str(rows), str(rate), str(n))
    load.wait_count(base + rows, 10)
    cpu1 = sum(cpu_seconds(p) for p in pids)
    single_s = time.monotonic() - t0
    if os.environ.get("BENCH_DEBUG"):
        print("debug: %d pids, %.1f s CPU in %.1f s" % (
            len(pids), cpu1 - cpu0, time.monotonic() - t0))
    bcasts = []
    bcpu_ours, bcpu_relay, bcpu_client = [], [], []
    for _ in range(5):
        before = load.count()
        o0 = sum(cpu_seconds(p) for p in pids)
        r0 = cpu_of(relay) if relay else 0
        c0 = cpu_seconds(load.p.pid)
        bcasts += produce(db, "broadcast")
        load.wait_count(before + n, 15)
        bcpu_ours.append((sum(cpu_seconds(p) for p in pids) - o0) * 1000)
        bcpu_relay.append(((cpu_of(relay) if relay else 0) - r0) * 1000)
        bcpu_client.append((cpu_seconds(load.p.pid) - c0) * 1000)
    where = workdir or os.path.dirname(db)
    recs = load.dump(os.path.join(where, "recs.txt"))
    if os.environ.get("BENCH_KEEP"):
        with open(os.path.join(where, "produced.txt"), "w") as f:
            for i, t, user in singles + bcasts:
                f.write("%d %.6f %s\n" % (i, t, user))
    got = {}
    for s, i, t in recs:
        got.setdefault(i, []).append((s, t))
    lat = []
    lost = 0
    for i, tc, user in singles:
        want = int(user[1:])
        hits = [t for s, t in got.get(i, []) if s == want]
        if len(got.get(i, [])) != 1 or not hits:
            lost += 1
            continue
        lat.append((hits[0] - tc) * 1000)
    if os.environ.get("BENCH_DEBUG") and singles:
        t_first = singles[0][1]
        slow = sorted(((l, k) for k, l in enumerate(lat)), reverse=True)[:6]
        print("debug: slowest rows (ms, index, s after the first): " +
              ", ".join("%.2f #%d +%.2f" % (l, k, singles[k][1] - t_first)
                        for l, k in slow))
    fan50, fan100 = [], []
    for i, tc, _ in bcasts:
        times = sorted(t for s, t in got.get(i, []))
        streams = {s for s, t in got.get(i, [])}
        lost += n - len(streams)
        if times:
            fan50.append((times[len(times) // 2] - tc) * 1000)
            fan100.append((times[-1] - tc) * 1000)
    return {
        "p50": pct(lat, 50), "p99": pct(lat, 99), "max": max(lat) if lat else float("nan"),
        "fan50": statistics.median(fan50) if fan50 else float("nan"),
        "fan100": statistics.median(fan100) if fan100 else float("nan"),
        "lost": lost,
        "cpu_per_commit_ms": (cpu1 - cpu0) / rows * 1000,
        "single_cpu_s": cpu1 - cpu0, "single_s": single_s, "single_rows": rows,
        "bcast_cpu": (statistics.median(bcpu_ours), statistics.median(bcpu_relay),
                      statistics.median(bcpu_client)),
    }


LIGHTTPD_CONF = """
server.document-root = "{dir}"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{dir}/lighttpd-error.log"
server.max-fds = 20000
server.max-connections = 10000
server.max-worker = {workers}
server.modules += ( "mod_fastcgi" )
server.stream-response-body = 2
fastcgi.server = ( "/sse" => ((
    "socket" => "{dir}/fcgi.sock",
    "bin-path" => "{bin}",
    "bin-environment" => ( "SSE_DB" => "{db}", "SSE_AUTH" => "query",
                           "SSE_MAX_STREAMS" => "20000",
                           "SSE_LOG_LEVEL" => "{level}" ),
    "max-procs" => 1,
    "listen-backlog" => 4096,
    "check-local" => "disable",
    "tcp-fin-propagate" => "enable"
)) )
"""


def bench_lighttpd(n, pg=None):
    """pg: a BenchPostgres to hold the outbox, or None for SQLite."""
    work = tempfile.mkdtemp(prefix="sse-bench-")
    db = pg.new_db() if pg else make_db(work)
    port = free_port()
    conf = os.path.join(work, "lighttpd.conf")
    with open(conf, "w") as f:
        f.write(LIGHTTPD_CONF.format(dir=work, port=port, bin=BIN, db=db,
                                     workers=LIGHTTPD_WORKERS,
                                     level=os.environ.get("BENCH_LOG_LEVEL", "info")))
    # Its own process group: lighttpd with workers ends them with
    # kill(0, SIGTERM), which would reach this script too.
    srv = subprocess.Popen(["lighttpd", "-D", "-f", conf],
                           stderr=open(os.path.join(work, "stderr.log"), "w"),
                           start_new_session=True)
    load = None
    try:
        wait_port(port)
        time.sleep(0.5)
        pids = children_named(srv.pid, os.path.basename(BIN)[:15])
        assert len(pids) == 1, pids
        pid = pids[0]
        relays = [srv.pid] + children_named(srv.pid, "lighttpd")
        servers = relays + [pid]
        empty = pss_kib(pid)
        empty_all = sum(pss_kib(p) for p in servers)
        load = Load(port, "/sse?user=u", n, open_over=OPEN_OVER)
        time.sleep(1.0)
        full_r = rollup(pid)
        full = full_r.get("Pss", 0)
        full_all = sum(pss_kib(p) for p in servers)
        c0 = cpu_seconds(pid)
        a0 = cpu_of(servers)
        s0 = [sched_of(p) for p in servers]
        time.sleep(IDLE_SECONDS)
        c1 = cpu_seconds(pid)
        idle_cpu = (c1 - c0) / IDLE_SECONDS * 100
        idle_all = (cpu_of(servers) - a0) / IDLE_SECONDS * 100
        debug_idle("lighttpd N = %d" % n, servers, s0, IDLE_SECONDS)
        fig = measure_stream_set(db, load, n, [pid], relay=relays,
                                 workdir=work)
        fig.update({"mem_kib": (full - empty) / n, "idle_cpu": idle_cpu,
                    "mem_all_kib": (full_all - empty_all) / n,
                    "idle_all": idle_all,
                    "empty_kib": empty, "procs": 1, "uss_kib": uss_kib(full_r),
                    "pss_kib": full})
        return fig
    finally:
        teardown(load, [srv], work)


NGINX_CONF = """
user root;
worker_processes 2;
worker_rlimit_nofile 20000;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 19000; }}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        location /sse {{
            include /etc/nginx/fastcgi_params;
            fastcgi_pass unix:{dir}/sse.sock;
            fastcgi_buffering off;
            fastcgi_read_timeout 300s;
        }}
    }}
}}
"""


def bench_nginx(n):
    """nginx (two workers) in front of one sse-outbox --listen process."""
    work = tempfile.mkdtemp(prefix="sse-bench-")
    db = make_db(work)
    port = free_port()
    sock = os.path.join(work, "sse.sock")
    env = dict(os.environ, SSE_DB=db, SSE_AUTH="query", SSE_MAX_STREAMS="20000")
    resp = subprocess.Popen([BIN, "--listen", sock], env=env,
                            stderr=open(os.path.join(work, "sse.log"), "w"))
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=work, port=port))
    srv = None
    load = None
    try:
        end = time.monotonic() + 5
        while not os.path.exists(sock) and time.monotonic() < end:
            time.sleep(0.05)
        srv = subprocess.Popen(["nginx", "-c", conf, "-g", "daemon off;"],
                               stderr=open(os.path.join(work, "stderr.log"), "w"))
        wait_port(port)
        time.sleep(0.5)
        relays = [srv.pid] + children_named(srv.pid, "nginx")
        servers = relays + [resp.pid]
        empty = pss_kib(resp.pid)
        empty_all = sum(pss_kib(p) for p in servers)
        load = Load(port, "/sse?user=u", n, open_over=OPEN_OVER)
        time.sleep(1.0)
        full_r = rollup(resp.pid)
        full = full_r.get("Pss", 0)
        full_all = sum(pss_kib(p) for p in servers)
        c0 = cpu_seconds(resp.pid)
        a0 = cpu_of(servers)
        time.sleep(IDLE_SECONDS)
        idle_cpu = (cpu_seconds(resp.pid) - c0) / IDLE_SECONDS * 100
        idle_all = (cpu_of(servers) - a0) / IDLE_SECONDS * 100
        fig = measure_stream_set(db, load, n, [resp.pid], relay=relays)
        fig.update({"mem_kib": (full - empty) / n, "idle_cpu": idle_cpu,
                    "mem_all_kib": (full_all - empty_all) / n,
                    "idle_all": idle_all,
                    "procs": 1, "uss_kib": uss_kib(full_r), "pss_kib": full})
        return fig
    finally:
        teardown(load, [srv, resp], work)


# nchan as its documentation sets it up for EventSource: a subscriber
# location on two channels (the user's, and "all" for broadcasts, as
# sse-outbox streams follow their user and broadcasts), a publisher
# location, the heartbeat set to ours, subscribers never timed out.
NCHAN_CONF = """
load_module /usr/lib/nginx/modules/ngx_nchan_module.so;
user root;
worker_processes 2;
worker_rlimit_nofile 20000;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 12000; }}
http {{
    access_log off;
    server {{
        listen 127.0.0.1:{port};
        location ~ ^/sub/(\\w+)$ {{
            nchan_subscriber eventsource;
            nchan_channel_id $1 all;
            nchan_eventsource_ping_interval {heartbeat};
            nchan_subscriber_timeout 0;
        }}
        location ~ ^/pub/(\\w+)$ {{
            nchan_publisher;
            nchan_channel_id $1;
        }}
    }}
}}
"""


def bench_nchan(n):
    """nginx + nchan, two workers: the same load, publish -> event."""
    work = tempfile.mkdtemp(prefix="sse-bench-")
    port = free_port()
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NCHAN_CONF.format(dir=work, port=port, heartbeat=HEARTBEAT))
    srv = subprocess.Popen(["nginx", "-c", conf, "-g", "daemon off;"],
                           stderr=open(os.path.join(work, "stderr.log"), "w"),
                           preexec_fn=raise_nofile)
    load = None
    try:
        wait_port(port)
        time.sleep(0.5)
        servers = [srv.pid] + children_named(srv.pid, "nginx")
        workers = servers[1:]
        empty_all = sum(pss_kib(p) for p in servers)
        load = Load(port, "/sub/u", n, number="data", open_over=OPEN_OVER)
        time.sleep(1.0)
        full_all = sum(pss_kib(p) for p in servers)
        a0 = cpu_of(servers)
        s0 = [sched_of(p) for p in servers]
        time.sleep(IDLE_SECONDS)
        idle_all = (cpu_of(servers) - a0) / IDLE_SECONDS * 100
        debug_idle("nchan N = %d" % n, servers, s0, IDLE_SECONDS)
        url = "http://127.0.0.1:%d/pub/" % port
        fig = measure_stream_set(url, load, n, workers, relay=None,
                                 workdir=work)
        fig.update({"mem_all_kib": (full_all - empty_all) / n,
                    "idle_all": idle_all, "procs": len(workers),
                    "pss_kib": full_all / len(servers)})
        return fig
    finally:
        teardown(load, [srv], work)


# The one-process-per-stream shapes, with the example configs' settings
# (SSE_MAX_STREAM 3000 under Apache). Every stream holds an Apache worker
# thread (mod_fcgid, mod_cgid) and a process; sizes are set from N so
# that N = 1,000 is held: ServerLimit x ThreadsPerChild >= N + spare,
# and every child started at once (MaxSpareThreads = all) so Apache
# neither ramps up slowly nor reaps idle children mid-run.
APACHE_CONF = """
ServerRoot "/etc/apache2"
PidFile "{dir}/apache.pid"
Listen 127.0.0.1:{port}
ListenBacklog 4096
ServerName 127.0.0.1
ErrorLog "{dir}/apache-error.log"
LogLevel warn
User www-data
Group www-data
DefaultRuntimeDir "{dir}"
Mutex file:{dir}
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule env_module /usr/lib/apache2/modules/mod_env.so
ThreadLimit 64
ThreadsPerChild 64
ServerLimit {servers}
StartServers {servers}
MaxRequestWorkers {workers}
MinSpareThreads 64
MaxSpareThreads {workers}
Timeout 120
DocumentRoot "{dir}/www"
{shape}
"""

# Mutex: with the fcntl() mechanism (Mutex file:), mod_fcgid's process
# table lock fails under a few hundred concurrent requests with EDEADLK
# ("can't lock process table", the request ends): fcntl locks belong to
# a process, and the kernel's deadlock check misfires with threads.
APACHE_FCGID = """
LoadModule fcgid_module /usr/lib/apache2/modules/mod_fcgid.so
Mutex pthread fcgid-proctbl fcgid-pipe
FcgidIPCDir "{dir}/fcgid"
FcgidProcessTableFile "{dir}/fcgid/shm"
FcgidOutputBufferSize 0
FcgidBusyTimeout 3600
FcgidIOTimeout 60
FcgidMaxProcesses {nproc}
FcgidMaxProcessesPerClass {nproc}
FcgidMinProcessesPerClass 0
FcgidSpawnScoreUpLimit 100000
FcgidSpawnScore 1
FcgidTerminationScore 0
FcgidInitialEnv SSE_DB "{db}"
FcgidInitialEnv SSE_AUTH query
FcgidInitialEnv SSE_MAX_STREAM 3000
FcgidInitialEnv SSE_LOG_LEVEL {level}
<Directory "{dir}/www">
    Options +ExecCGI
    SetHandler fcgid-script
    Require all granted
</Directory>
"""

# mod_cgid: ScriptSock absolute (the runtime directory is not Apache's
# default); the program sends its 2 KB padding comment itself, so the
# first small body is not held (web-servers.md). CGIDScriptTimeout above
# the 15 s heartbeat.
APACHE_CGID = """
LoadModule cgid_module /usr/lib/apache2/modules/mod_cgid.so
ScriptSock "{dir}/cgisock"
CGIDScriptTimeout 120
<Directory "{dir}/www">
    Options +ExecCGI
    SetHandler cgi-script
    Require all granted
    SetEnv SSE_DB "{db}"
    SetEnv SSE_AUTH query
    SetEnv SSE_MAX_STREAM 3000
    SetEnv SSE_LOG_LEVEL {level}
    SetEnv no-gzip 1
</Directory>
"""

# lighttpd mod_cgi, running as www-data like the Apache shapes (inotify
# instances are counted per user). stream-response-body 2 or nothing is
# sent until the end; max-fds/max-connections hold N = 1,000 (a client
# socket and two or three pipes per stream).
LIGHTTPD_CGI_CONF = """
server.document-root = "{dir}/www"
server.port = {port}
server.bind = "127.0.0.1"
server.username = "www-data"
server.groupname = "www-data"
server.errorlog = "{dir}/lighttpd-error.log"
server.max-fds = 20000
server.max-connections = 9000
server.listen-backlog = 4096
server.modules += ( "mod_alias", "mod_cgi", "mod_setenv" )
server.stream-response-body = 2
alias.url = ( "/sse" => "{dir}/www/sse" )
$HTTP["url"] =^ "/sse" {{
    cgi.assign = ( "" => "" )
    cgi.limits = ( "tcp-fin-propagate" => "SIGTERM" )
    setenv.add-environment = ( "SSE_DB" => "{db}", "SSE_AUTH" => "query",
                               "SSE_LOG_LEVEL" => "{level}" )
}}
"""

PROCESS_SHAPE_NAMES = {
    "fcgid": "Apache mod_fcgid, 1 process/stream",
    "cgid": "Apache mod_cgid, 1 process/stream",
    "cgi": "lighttpd mod_cgi, 1 process/stream",
}


def process_workdir():
    """A work directory www-data can use: the database and its -wal/-shm
    are written by the streams' processes and by the producer (root)."""
    work = tempfile.mkdtemp(prefix="sse-bench-")
    os.chmod(work, 0o777)
    for d in ("fcgid", "www"):
        os.makedirs(os.path.join(work, d))
        shutil.chown(os.path.join(work, d), "www-data", "www-data")
    db = make_db(work)
    for f in os.listdir(work):
        os.chmod(os.path.join(work, f), 0o777)
    # A copy named "sse": its processes are told apart by name from any
    # other sse-outbox on this shared machine.
    shutil.copy(BIN, os.path.join(work, "www", "sse"))
    os.chmod(os.path.join(work, "www", "sse"), 0o755)
    return work, db


def start_process_server(shape, n, work, db, port):
    level = os.environ.get("BENCH_LOG_LEVEL", "info")
    stderr = open(os.path.join(work, "stderr.log"), "w")
    if shape == "cgi":
        conf = os.path.join(work, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write(LIGHTTPD_CGI_CONF.format(dir=work, port=port, db=db,
                                             level=level))
        return subprocess.Popen(["lighttpd", "-D", "-f", conf], stderr=stderr,
                                preexec_fn=raise_nofile)
    servers = (n + 64 + 63) // 64 + 1
    if shape == "fcgid":
        block = APACHE_FCGID.format(dir=work, db=db, level=level, nproc=n + 50)
    else:
        block = APACHE_CGID.format(dir=work, db=db, level=level)
    conf = os.path.join(work, "apache.conf")
    with open(conf, "w") as f:
        f.write(APACHE_CONF.format(dir=work, port=port, servers=servers,
                                   workers=servers * 64, shape=block))
    return subprocess.Popen(["/usr/sbin/apache2", "-f", conf, "-DFOREGROUND"],
                            stderr=stderr, preexec_fn=raise_nofile)


def cpu_of(pids):
    return sum(cpu_seconds(p) for p in pids)


def debug_idle(label, pids, before, seconds):
    """BENCH_DEBUG: each server process's CPU and wake-ups in the idle
    window; before is [sched_of(p) for p in pids] at its start."""
    if not os.environ.get("BENCH_DEBUG"):
        return
    parts = []
    for p, (ns0, runs0) in zip(pids, before):
        ns1, runs1 = sched_of(p)
        parts.append("%s[%d] %.1f ms %d runs" % (
            comm(p) or "?", p, (ns1 - ns0) / 1e6, runs1 - runs0))
    print("debug: %s, idle %d s: %s" % (label, seconds, ", ".join(parts)))


def bench_per_process(shape, n):
    """N streams, each its own sse-outbox process, under shape (fcgid,
    cgid or cgi). Figures are of sse-outbox's processes only."""
    work, db = process_workdir()
    port = free_port()
    try:
        srv = start_process_server(shape, n, work, db, port)
    except Exception:
        teardown(None, [], work)
        raise
    load = None
    started = [(srv.pid, start_time(srv.pid))]
    try:
        wait_port(port, 20)
        t0 = time.monotonic()
        load = Load(port, "/sse?user=u", n, timeout=60 + n * 0.3)
        up = time.monotonic() - t0
        started += descendants(srv.pid)
        pids = children_named(srv.pid, "sse")
        print("  %d streams up in %.1f s, %d sse processes; idle %.0f s ..." % (
            n, up, len(pids), PROCESS_IDLE_SECONDS), flush=True)
        time.sleep(2.0)
        c0 = cpu_of(pids)
        time.sleep(PROCESS_IDLE_SECONDS)
        idle_cpu = (cpu_of(pids) - c0) / PROCESS_IDLE_SECONDS * 100
        ups, pss = [], []
        for p in pids:
            r = rollup(p)
            if r:
                ups.append(uss_kib(r))
                pss.append(r.get("Pss", 0))
        print("  idle CPU %.1f %% of a core; rows and broadcasts ..." % idle_cpu,
              flush=True)
        fig = measure_stream_set(db, load, n, pids, rate=50.0, rows=200,
                                 relay=None)
        fig.update({
            "procs": len(pids), "idle_cpu": idle_cpu, "up_s": up,
            "uss_kib": statistics.median(ups) if ups else float("nan"),
            "pss_kib": statistics.median(pss) if pss else float("nan"),
        })
        return fig
    finally:
        started += descendants(srv.pid)
        t_stop = time.monotonic()
        if load:
            load.close()
        # The streams' processes first: Apache waits for CGI children
        # (about 10 s) and a silent stream notices its client only at its
        # next heartbeat. Then the server; then whatever outlived it.
        started = list(set(started))
        streams = [(p, st) for p, st in started if comm(p) == "sse"]
        kill_leftovers(streams)
        srv.send_signal(signal.SIGTERM)
        try:
            srv.wait(15)
        except subprocess.TimeoutExpired:
            srv.kill()
            srv.wait()
        stray = [(p, st) for p, st in started if start_time(p) == st]
        left = kill_leftovers(stray)
        print("  stopped in %.1f s (%d stream processes, then %d more that "
              "outlived the server, ended by PID)" % (
                  time.monotonic() - t_stop, len(streams), len(stray)),
              flush=True)
        if left:
            print("  warning: %d processes did not end" % left, flush=True)
        teardown(None, [], work)


def run_row(rows, name, n, fn, *args):
    """One measurement of a row, added to the row's repetitions; a failure
    is printed in its place and the run goes on."""
    t0 = time.monotonic()
    try:
        fig = fn(*args)
    except Exception as e:
        print("  failed: %s" % e, flush=True)
        fig = {"error": str(e)}
    print("  done in %.0f s" % (time.monotonic() - t0), flush=True)
    for r in rows:
        if r[0] == name and r[1] == n:
            r[2].append(fig)
            return
    rows.append((name, n, [fig]))


def cell(figs, key, spec):
    """The median of the repetitions, with their range when there are
    several: "0.41 (0.38-0.44)"."""
    vals = [f[key] for f in figs if key in f and f[key] == f[key]]
    if not vals:
        return "-"
    if key == "lost":
        return "%d" % sum(vals)
    med = spec % statistics.median(vals)
    if len(vals) == 1:
        return med
    return "%s (%s-%s)" % (med, spec % min(vals), spec % max(vals))


def print_comparison(rows):
    """sse-outbox beside nchan: the figures the two are compared on."""
    print("| path | N | runs | p50 ms | p99 ms | max ms | bcast 50% ms "
          "| bcast 100% ms | KiB/stream, all server procs "
          "| idle CPU %, all server procs | lost |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, n, figs in rows:
        ok = [f for f in figs if "error" not in f]
        bad = [f["error"][:80] for f in figs if "error" in f]
        if not ok:
            print("| %s | %d | failed: %s |" % (name, n, "; ".join(bad)))
            continue
        print("| %s | %d | %d%s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, n, len(ok), " (+%d failed)" % len(bad) if bad else "",
            cell(ok, "p50", "%.2f"), cell(ok, "p99", "%.2f"),
            cell(ok, "max", "%.2f"), cell(ok, "fan50", "%.1f"),
            cell(ok, "fan100", "%.1f"), cell(ok, "mem_all_kib", "%.2f"),
            cell(ok, "idle_all", "%.3f"), cell(ok, "lost", "%d")))
        for e in bad:
            print("|   | | failed: %s |" % e)
    print()
    print("Median of the runs, range in brackets. Latency: commit -> event "
          "(sse-outbox),\npublish request sent -> event (nchan), single-user "
          "rows 20 ms apart. KiB/stream\nand idle CPU: every process of the "
          "server (lighttpd or nginx + sse-outbox;\nnchan: nginx master + workers). lost: "
          "rows missing or duplicated, over all runs.")
    if OPEN_OVER > 0:
        print("Streams opened evenly over %g s (BENCH_OPEN_OVER), as users "
              "arrive; 0 opens them at once." % OPEN_OVER)
    else:
        print("Streams opened at once (BENCH_OPEN_OVER=0): their "
              "heartbeats fall due together.")
    print()


def print_table(rows):
    print("| path | N | procs | p50 ms | p99 ms | max ms | bcast 50% ms "
          "| bcast 100% ms | KiB/stream | USS KiB/proc | PSS KiB/proc "
          "| idle CPU % | CPU ms/commit | lost |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, n, figs in rows:
        ok = [f for f in figs if "error" not in f]
        if not ok:
            print("| %s | %d | failed: %s |" % (name, n, figs[0]["error"][:100]))
            continue
        print("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s "
              "| %s | %s | %s |" % (
                  name, n, cell(ok, "procs", "%d"), cell(ok, "p50", "%.2f"),
                  cell(ok, "p99", "%.2f"), cell(ok, "max", "%.2f"),
                  cell(ok, "fan50", "%.1f"), cell(ok, "fan100", "%.1f"),
                  cell(ok, "mem_kib", "%.2f"), cell(ok, "uss_kib", "%.0f"),
                  cell(ok, "pss_kib", "%.0f"), cell(ok, "idle_cpu", "%.2f"),
                  cell(ok, "cpu_per_commit_ms", "%.3f"), cell(ok, "lost", "%d")))
    print()
    print("procs: sse-outbox processes serving the N streams (nchan: nginx "
          "workers).\nKiB/stream: growth of the one sse-outbox process's PSS "
          "per stream. USS/PSS\nKiB/proc: median over sse-outbox's own "
          "processes (smaps_rollup; the web\nserver's are not counted). idle "
          "CPU: all sse-outbox processes together, %\nof one core. CPU "
          "ms/commit: all sse-outbox processes while single-user\nrows are "
          "sent (idle CPU included). Several runs: median (range).")
    print()
    print("CPU ms per single-user commit net of idle CPU, per-process rows:")
    for name, n, figs in rows:
        for f in figs:
            if "error" in f or "up_s" not in f:
                continue
            net = f["single_cpu_s"] - f["idle_cpu"] / 100 * f["single_s"]
            print("  %s, N = %d: %.3f (streams up in %.1f s)" % (
                name, n, net / f["single_rows"] * 1000, f.get("up_s", 0)))
    print()
    print("CPU ms per broadcast (median of 5; CPU time from each thread's schedstat"
          "):")
    for name, n, figs in rows:
        for f in figs:
            if "error" in f:
                continue
            ours, relay, client = f["bcast_cpu"]
            print("  %s, N = %d: server %.0f, relay %s, load client %.0f" % (
                name, n, ours, "%.0f" % relay if relay else "(not measured)",
                client))


def load_average():
    return open("/proc/loadavg").read().split()[:3]


def main():
    for tool in (BIN, LOAD):
        if not os.path.exists(tool):
            sys.exit("missing %s: run make bench" % tool)
    for shape in PROCESS_SHAPES:
        if shape not in PROCESS_SHAPE_NAMES:
            sys.exit("BENCH_PROCESS_SHAPES: unknown %r (fcgid, cgid, cgi)" % shape)
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print("machine: %s, %d cores, %.0f GiB, Linux %s, inotify "
          "max_user_instances %s" % (
              cpu, os.cpu_count(), mem, platform.release(),
              open("/proc/sys/fs/inotify/max_user_instances").read().strip()))
    print("load average before: %s" % " ".join(load_average()), flush=True)
    t0 = time.monotonic()
    multi = []
    rows = []
    shapes = []
    pgs = []
    for store in STORES if os.environ.get("BENCH_LIGHTTPD", "1") == "1" else []:
        pg = None
        if store == "postgresql":
            try:
                pg = pg_bench.BenchPostgres()
            except Exception as e:
                print("  PostgreSQL not started: %s" % e, flush=True)
                continue
            pgs.append(pg)
        elif store != "sqlite":
            sys.exit("BENCH_STORES: unknown %r (sqlite, postgresql)" % store)
        name = "sse-outbox: lighttpd (%d worker%s) bin-path, 1 process%s" % (
            LIGHTTPD_WORKERS, "s" if LIGHTTPD_WORKERS > 1 else "",
            ", PostgreSQL" if pg else "")
        shapes.append((name, lambda n, pg=pg: bench_lighttpd(n, pg)))
    if os.environ.get("BENCH_NCHAN", "1") == "1":
        shapes.append(("nginx (2 workers) + nchan", bench_nchan))
    if os.environ.get("BENCH_NGINX", "1") == "1":
        shapes.append(("sse-outbox: nginx (2 workers), --listen, 1 process",
                       bench_nginx))
    # Interleaved, so that a busy moment of the shared machine does not
    # fall on one server's runs only.
    try:
        for n in SIZES:
            for rep in range(REPS):
                for name, fn in shapes:
                    print("measuring %s, N = %d, run %d of %d ..." % (
                        name, n, rep + 1, REPS), flush=True)
                    run_row(multi, name, n, fn, n)
    finally:
        for pg in pgs:
            pg.stop()
    for shape in PROCESS_SHAPES:
        for n in PROCESS_SIZES:
            print("measuring %s, N = %d ..." % (PROCESS_SHAPE_NAMES[shape], n),
                  flush=True)
            run_row(rows, PROCESS_SHAPE_NAMES[shape], n, bench_per_process,
                    shape, n)
    print("all measured in %.0f s; load average after: %s" % (
        time.monotonic() - t0, " ".join(load_average())))
    print()
    if multi:
        print_comparison(multi)
    print_table(multi + rows)


if __name__ == "__main__":
    main()
