#!/usr/bin/python3
"""sse-outbox benchmark: prints one table of figures (not a pass/fail test).

Through lighttpd (mod_fastcgi bin-path, one sse-outbox process), for N idle
streams held by the epoll client bench/sse_load.c as distinct users:
latency of single-user rows, broadcast fan-out, memory per idle stream,
idle CPU, rows lost. Then N = 200 under Apache mod_fcgid (one process per
stream): latency and the CPU all processes spend per commit.
"""
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("SSE_OUTBOX_BIN", os.path.join(ROOT, "build", "sse-outbox"))
LOAD = os.path.join(ROOT, "build", "sse_load")
PRODUCER = os.path.join(ROOT, "bench", "producer.py")
SIZES = [int(x) for x in os.environ.get("BENCH_SIZES", "1000,5000").split(",")]
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "20"))
FCGID_N = int(os.environ.get("BENCH_FCGID_N", "200"))
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


def pss_kib(pid):
    for line in open("/proc/%d/smaps_rollup" % pid):
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


class Load:
    """The epoll client holding n streams."""

    def __init__(self, port, prefix, n):
        self.p = subprocess.Popen([LOAD, "127.0.0.1", str(port), prefix, str(n)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)
        import select
        ready, _, _ = select.select([self.p.stdout], [], [], 120)
        line = self.p.stdout.readline() if ready else "(timeout)"
        if not line.startswith("READY"):
            self.p.kill()
            raise RuntimeError("load client failed: %r" % line)

    def count(self):
        self.p.stdin.write("COUNT\n")
        return int(self.p.stdout.readline().split()[1])

    def wait_count(self, want, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.count() >= want:
                return True
            time.sleep(0.05)
        return False

    def dump(self, path):
        self.p.stdin.write("DUMP %s\n" % path)
        self.p.stdout.readline()
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


def measure_stream_set(db, load, n, pids, rate=50.0, rows=300, relay=None):
    """Latency of single-user rows, then broadcast fan-out; returns figures.

    relay is the web server's pid: its CPU per broadcast is reported next
    to sse-outbox's, to show which one bounds the fan-out.
    """
    base = load.count()
    cpu0 = sum(cpu_seconds(p) for p in pids)
    t0 = time.monotonic()
    singles = produce(db, "single", str(rows), str(rate), str(n))
    load.wait_count(base + rows, 10)
    cpu1 = sum(cpu_seconds(p) for p in pids)
    if os.environ.get("BENCH_DEBUG"):
        print("debug: %d pids, %.1f s CPU in %.1f s" % (
            len(pids), cpu1 - cpu0, time.monotonic() - t0))
    bcasts = []
    bcpu_ours, bcpu_relay, bcpu_client = [], [], []
    for _ in range(5):
        before = load.count()
        o0 = sum(cpu_seconds(p) for p in pids)
        r0 = cpu_seconds(relay) if relay else 0
        c0 = cpu_seconds(load.p.pid)
        bcasts += produce(db, "broadcast")
        load.wait_count(before + n, 15)
        time.sleep(0.2)
        bcpu_ours.append((sum(cpu_seconds(p) for p in pids) - o0) * 1000)
        bcpu_relay.append(((cpu_seconds(relay) if relay else 0) - r0) * 1000)
        bcpu_client.append((cpu_seconds(load.p.pid) - c0) * 1000)
    recs = load.dump(os.path.join(os.path.dirname(db), "recs.txt"))
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
        "bcast_cpu": (statistics.median(bcpu_ours), statistics.median(bcpu_relay),
                      statistics.median(bcpu_client)),
    }


LIGHTTPD_CONF = """
server.document-root = "{dir}"
server.port = {port}
server.bind = "127.0.0.1"
server.errorlog = "{dir}/lighttpd-error.log"
server.max-fds = 20000
server.max-connections = 9000
server.modules += ( "mod_fastcgi" )
server.stream-response-body = 2
fastcgi.server = ( "/sse" => ((
    "socket" => "{dir}/fcgi.sock",
    "bin-path" => "{bin}",
    "bin-environment" => ( "SSE_DB" => "{db}", "SSE_AUTH" => "query",
                           "SSE_MAX_STREAMS" => "20000",
                           "SSE_LOG_LEVEL" => "{level}" ),
    "max-procs" => 1,
    "check-local" => "disable",
    "tcp-fin-propagate" => "enable"
)) )
"""


def bench_lighttpd(n):
    work = tempfile.mkdtemp(prefix="sse-bench-")
    db = make_db(work)
    port = free_port()
    conf = os.path.join(work, "lighttpd.conf")
    with open(conf, "w") as f:
        f.write(LIGHTTPD_CONF.format(dir=work, port=port, bin=BIN, db=db,
                                     level=os.environ.get("BENCH_LOG_LEVEL", "info")))
    srv = subprocess.Popen(["lighttpd", "-D", "-f", conf],
                           stderr=open(os.path.join(work, "stderr.log"), "w"))
    load = None
    try:
        wait_port(port)
        time.sleep(0.5)
        pids = children_named(srv.pid, os.path.basename(BIN)[:15])
        assert len(pids) == 1, pids
        pid = pids[0]
        empty = pss_kib(pid)
        load = Load(port, "/sse?user=u", n)
        time.sleep(1.0)
        full = pss_kib(pid)
        c0 = cpu_seconds(pid)
        time.sleep(IDLE_SECONDS)
        c1 = cpu_seconds(pid)
        idle_cpu = (c1 - c0) / IDLE_SECONDS * 100
        fig = measure_stream_set(db, load, n, [pid], relay=srv.pid)
        fig.update({"mem_kib": (full - empty) / n, "idle_cpu": idle_cpu,
                    "empty_kib": empty})
        return fig
    finally:
        teardown(load, [srv], work)


NGINX_CONF = """
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
        empty = pss_kib(resp.pid)
        load = Load(port, "/sse?user=u", n)
        time.sleep(1.0)
        full = pss_kib(resp.pid)
        c0 = cpu_seconds(resp.pid)
        time.sleep(IDLE_SECONDS)
        idle_cpu = (cpu_seconds(resp.pid) - c0) / IDLE_SECONDS * 100
        fig = measure_stream_set(db, load, n, [resp.pid], relay=None)
        fig.update({"mem_kib": (full - empty) / n, "idle_cpu": idle_cpu})
        return fig
    finally:
        teardown(load, [srv, resp], work)


APACHE_CONF = """
ServerRoot "/etc/apache2"
PidFile "{dir}/apache.pid"
Listen 127.0.0.1:{port}
ServerName 127.0.0.1
ErrorLog "{dir}/apache-error.log"
LogLevel warn
User www-data
Group www-data
DefaultRuntimeDir "{dir}"
Mutex file:{dir}
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule fcgid_module /usr/lib/apache2/modules/mod_fcgid.so
ServerLimit 8
ThreadsPerChild 64
MaxRequestWorkers 512
FcgidIPCDir "{dir}/fcgid"
FcgidProcessTableFile "{dir}/fcgid/shm"
FcgidOutputBufferSize 0
FcgidBusyTimeout 3600
FcgidIOTimeout 60
FcgidMaxProcesses 1000
FcgidMaxProcessesPerClass {nproc}
FcgidMinProcessesPerClass 0
FcgidSpawnScoreUpLimit 100000
FcgidSpawnScore 1
FcgidTerminationScore 0
FcgidInitialEnv SSE_DB "{db}"
FcgidInitialEnv SSE_AUTH query
DocumentRoot "{dir}/www"
<Directory "{dir}/www">
    Options +ExecCGI
    SetHandler fcgid-script
    Require all granted
</Directory>
"""


def bench_fcgid(n):
    work = tempfile.mkdtemp(prefix="sse-bench-")
    os.chmod(work, 0o777)
    os.makedirs(os.path.join(work, "fcgid"))
    os.makedirs(os.path.join(work, "www"))
    shutil.chown(os.path.join(work, "fcgid"), "www-data", "www-data")
    db = make_db(work)
    for f in os.listdir(work):
        os.chmod(os.path.join(work, f), 0o777)
    shutil.copy(BIN, os.path.join(work, "www", "sse"))
    port = free_port()
    conf = os.path.join(work, "apache.conf")
    with open(conf, "w") as f:
        f.write(APACHE_CONF.format(dir=work, port=port, db=db, nproc=n + 10))
    srv = subprocess.Popen(["/usr/sbin/apache2", "-f", conf, "-DFOREGROUND"],
                           stderr=open(os.path.join(work, "stderr.log"), "w"))
    load = None
    try:
        wait_port(port)
        load = Load(port, "/sse?user=u", n)
        time.sleep(1.0)
        pids = children_named(srv.pid, "sse")
        fig = measure_stream_set(db, load, n, pids, rate=20.0, rows=100,
                                 relay=None)
        fig["procs"] = len(pids)
        return fig
    finally:
        teardown(load, [srv], work)


def main():
    for tool in (BIN, LOAD):
        if not os.path.exists(tool):
            sys.exit("missing %s: run make bench" % tool)
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print("machine: %s, %d cores, %.0f GiB, Linux %s" % (
        cpu, os.cpu_count(), mem, platform.release()))
    rows = []
    for n in SIZES if os.environ.get("BENCH_LIGHTTPD", "1") == "1" else []:
        print("measuring lighttpd, N = %d ..." % n, flush=True)
        rows.append(("lighttpd bin-path, 1 process", n, bench_lighttpd(n)))
    for n in SIZES if os.environ.get("BENCH_NGINX", "1") == "1" else []:
        print("measuring nginx -> --listen, N = %d ..." % n, flush=True)
        rows.append(("nginx (2 workers), --listen, 1 process", n, bench_nginx(n)))
    if FCGID_N > 0:
        print("measuring Apache mod_fcgid, N = %d ..." % FCGID_N, flush=True)
        rows.append(("Apache mod_fcgid, 1 process/stream", FCGID_N, bench_fcgid(FCGID_N)))
    print()
    print("| path | N | p50 ms | p99 ms | max ms | bcast 50% ms | bcast 100% ms "
          "| KiB/stream | idle CPU % | CPU ms/commit | lost |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, n, f in rows:
        print("| %s | %d | %.2f | %.2f | %.2f | %.1f | %.1f | %s | %s | %.3f | %d |" % (
            name, n, f["p50"], f["p99"], f["max"], f["fan50"], f["fan100"],
            "%.2f" % f["mem_kib"] if "mem_kib" in f else "-",
            "%.2f" % f["idle_cpu"] if "idle_cpu" in f else "-",
            f["cpu_per_commit_ms"], f["lost"]))
    print()
    print("CPU ms per broadcast (median of 5; CPU time is counted in clock ticks):")
    for name, n, f in rows:
        ours, relay, client = f["bcast_cpu"]
        print("  %s, N = %d: sse-outbox %.0f, web server %s, load client %.0f" % (
            name, n, ours, "%.0f" % relay if relay else "(not measured)", client))


if __name__ == "__main__":
    main()
