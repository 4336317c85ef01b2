# SPDX-License-Identifier: BSD-2-Clause
"""A private PostgreSQL for the benchmark, started as the tests start one
(tests/integration/pg.py): Debian's postgresql package, initdb as the
unprivileged postgres user into a temporary directory, a private unix
socket directory and no TCP, stopped by PID."""
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA = os.path.join(ROOT, "sql", "schema-postgresql.sql")


def pg_bin(name):
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/%s" % name))
    if not found:
        raise RuntimeError("no %s under /usr/lib/postgresql/*/bin "
                           "(make deps installs postgresql)" % name)
    return found[-1]


class BenchPostgres:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sse-bench-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.log = os.path.join(self.dir, "postgres.log")
        pw = pwd.getpwnam("postgres")
        for d in (self.data, self.sock):
            os.mkdir(d)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        open(self.log, "w").close()
        os.chown(self.log, pw.pw_uid, pw.pw_gid)
        self._as_postgres([pg_bin("initdb"), "-D", self.data, "-U",
                           "postgres", "-A", "trust", "--encoding=UTF8",
                           "--locale=C"])
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("listen_addresses = ''\n"
                    "unix_socket_directories = '%s'\n"
                    "fsync = off\n" % self.sock)
        self._as_postgres([pg_bin("pg_ctl"), "-D", self.data, "-l",
                           self.log, "-w", "-t", "60", "start"])
        self.databases = 0

    def _as_postgres(self, args):
        p = subprocess.run(["runuser", "-u", "postgres", "--"] + args,
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise RuntimeError("%s: %s%s" % (" ".join(args), p.stdout,
                                             p.stderr))

    def psql(self, db, sql):
        subprocess.run(["runuser", "-u", "postgres", "--",
                        pg_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        "-h", self.sock, "-d", db, "-c", sql],
                       check=True, capture_output=True, timeout=120)

    def new_db(self):
        """A fresh database with the outbox schema; its URI."""
        self.databases += 1
        name = "bench%d" % self.databases
        self.psql("postgres", "CREATE DATABASE %s" % name)
        with open(SCHEMA) as f:
            self.psql(name, f.read())
        return "postgresql://postgres@/%s?host=%s" % (name, self.sock)

    def stop(self):
        """By PID: SIGINT is PostgreSQL's fast shutdown."""
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                pid = int(f.readline())
        except (OSError, ValueError):
            pid = None
        if pid:
            try:
                os.kill(pid, signal.SIGINT)
                for _ in range(300):
                    os.kill(pid, 0)
                    time.sleep(0.1)
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
