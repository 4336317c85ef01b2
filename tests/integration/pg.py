# SPDX-License-Identifier: BSD-2-Clause
"""A real PostgreSQL server for the tests: Debian's postgresql package,
initdb into a temporary directory as the unprivileged `postgres` user,
pg_ctl start on a private unix socket directory (reachable by www-data,
which the web servers' children run as) and a 127.0.0.1 port, stopped
by PID at the end. Each test gets a fresh database made from
sql/schema-postgresql.sql."""

import glob
import itertools
import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

import psycopg2
import psycopg2.extensions

import harness

SCHEMA_PG = harness.ROOT / "sql" / "schema-postgresql.sql"
_dbs = itertools.count(1)


# What fcgi/hostmap_place.c hashes, in its order (the password never).
HOST_MAP_KEYS = ("service", "host", "hostaddr", "port", "dbname", "user",
                 "options")


def host_map_path(url, uid):
    """Where responders running as uid keep the shared file of url's
    processes (one LISTEN per host): the same hash of libpq's parse of
    the URI (psycopg2's parse_dsn is libpq's PQconninfoParse) that
    hostmap_place.c takes."""
    opts = psycopg2.extensions.parse_dsn(url)
    h = 0xcbf29ce484222325
    for k in HOST_MAP_KEYS:
        for b in f"{k}=".encode() + (opts.get(k) or "").encode() + b"\0":
            h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    base = "/dev/shm" if os.path.isdir("/dev/shm") else "/tmp"
    return f"{base}/sse-outbox-{uid}-{h:016x}"


def pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        harness.fail(f"no {name} under /usr/lib/postgresql/*/bin "
                     f"(make deps installs postgresql)")
    return found[-1]


class Postgres:
    """One cluster. url(db) is the URI sse-outbox gets (SSE_DB)."""

    def __init__(self, workdir):
        self.dir = harness.make_dir(workdir)
        self.data = self.dir / "data"
        self.sock = harness.make_dir(self.dir / "sock")
        self.log = self.dir / "postgres.log"
        self.port = harness.free_port()
        self.user = "postgres"
        self.dbs = []
        pw = pwd.getpwnam(self.user)
        self.data.mkdir(exist_ok=True)
        os.chown(self.data, pw.pw_uid, pw.pw_gid)
        self.log.touch()
        os.chown(self.log, pw.pw_uid, pw.pw_gid)
        self._as_postgres([pg_bin("initdb"), "-D", str(self.data),
                           "-U", "postgres", "-A", "trust",
                           "--encoding=UTF8", "--locale=C"])
        # Unix socket: trust (the socket directory is the boundary);
        # TCP: passwords (the passfile test).
        (self.data / "pg_hba.conf").write_text(
            "local all all trust\n"
            "host all all 127.0.0.1/32 scram-sha-256\n")
        with open(self.data / "postgresql.conf", "a") as f:
            f.write(f"port = {self.port}\n"
                    f"listen_addresses = '127.0.0.1'\n"
                    f"unix_socket_directories = '{self.sock}'\n"
                    f"unix_socket_permissions = 0777\n"
                    f"max_connections = 300\n"
                    f"fsync = off\n")

    def _as_postgres(self, args, timeout=60):
        p = subprocess.run(["runuser", "-u", self.user, "--"] + args,
                           capture_output=True, timeout=timeout)
        if p.returncode != 0:
            harness.fail(f"{' '.join(args)}: {p.stdout.decode()}"
                         f"{p.stderr.decode()}")
        return p

    def start(self):
        self._as_postgres([pg_bin("pg_ctl"), "-D", str(self.data), "-l",
                           str(self.log), "-w", "-t", "60", "start"])
        return self

    def restart(self):
        """pg_ctl restart -m fast: every connection is closed."""
        self._as_postgres([pg_bin("pg_ctl"), "-D", str(self.data), "-l",
                           str(self.log), "-w", "-t", "60", "-m", "fast",
                           "restart"])

    def stop_fast(self):
        self._as_postgres([pg_bin("pg_ctl"), "-D", str(self.data), "-w",
                           "-t", "60", "-m", "fast", "stop"])

    def pid(self):
        try:
            return int((self.data / "postmaster.pid").read_text()
                       .split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self):
        """By PID: SIGINT is PostgreSQL's fast shutdown. The responders'
        shared files of its databases go too (they stay in /dev/shm)."""
        www = pwd.getpwnam("www-data").pw_uid
        for db in self.dbs:
            for uid in (www, os.geteuid()):
                try:
                    os.unlink(host_map_path(self.url(db), uid))
                except OSError:
                    pass
        pid = self.pid()
        if pid and harness.alive(pid):
            os.kill(pid, signal.SIGINT)
            harness.wait_until(lambda: not harness.alive(pid), 30)
            if harness.alive(pid):
                os.kill(pid, signal.SIGKILL)

    def url(self, db="postgres", user="postgres"):
        return (f"postgresql://{user}@/{db}?host={self.sock}"
                f"&port={self.port}")

    def connect(self, db="postgres", autocommit=True):
        c = psycopg2.connect(host=str(self.sock), port=self.port,
                             user="postgres", dbname=db)
        c.autocommit = autocommit
        return c

    def new_db(self, schema=True):
        """A fresh database (with the outbox schema); returns its name."""
        name = f"t{os.getpid()}_{next(_dbs)}"
        self.dbs.append(name)
        c = self.connect()
        try:
            c.cursor().execute(f"CREATE DATABASE {name}")
        finally:
            c.close()
        if schema:
            self.apply_schema(name)
        return name

    def apply_schema(self, db):
        c = self.connect(db)
        try:
            c.cursor().execute(SCHEMA_PG.read_text())
        finally:
            c.close()

    def produce(self, db, *rows):
        """Insert rows (user_id, event, data) in one transaction; return
        their ids, read back after the commit (they are given at
        commit)."""
        c = self.connect(db, autocommit=False)
        try:
            cur = c.cursor()
            marks = []
            for u, e, d in rows:
                cur.execute("INSERT INTO outbox (user_id, event, data) "
                            "VALUES (%s, %s, %s) RETURNING id", (u, e, d))
                marks.append(cur.fetchone()[0])
            c.commit()
            cur.execute("SELECT id FROM outbox WHERE id > 0 ORDER BY id "
                        "DESC LIMIT %s", (len(rows),))
            return sorted(r[0] for r in cur.fetchall())
        finally:
            c.close()

    def shut_out_responders(self, admin, db):
        """The responders' connections to db are cut and cannot come
        back until ALLOW_CONNECTIONS is true again; others stay."""
        cur = admin.cursor()
        cur.execute(f"ALTER DATABASE {db} ALLOW_CONNECTIONS false")
        cur.execute("SELECT pg_terminate_backend(pid) FROM "
                    "pg_stat_activity WHERE datname = %s AND "
                    "application_name = 'sse-outbox'", (db,))

    def go_back(self, admin, owner, db, keep_id, user, srv, mark):
        """A failover to a replica that missed the newest commits,
        simulated: the responders' connections are cut and cannot come
        back (admin shuts the door), the rows after keep_id go, the
        sequence is set back and one row for user (None: everyone) is
        committed anew by owner (connected before the door shut). The
        door opens again once the responder said it keeps streams
        open."""
        self.shut_out_responders(admin, db)
        oc = owner.cursor()
        oc.execute("DELETE FROM outbox WHERE id > %s", (keep_id,))
        oc.execute("SELECT setval('outbox_id_seq', %s)", (keep_id,))
        oc.execute("INSERT INTO outbox (user_id, data) VALUES (%s, 'new')",
                   (user,))
        found = srv.logs.wait_for("streams stay open", mark=mark,
                                  timeout=20)
        admin.cursor().execute(f"ALTER DATABASE {db} ALLOW_CONNECTIONS true")
        return found

    def rows(self, db):
        c = self.connect(db)
        try:
            cur = c.cursor()
            cur.execute("SELECT id, user_id, event, data FROM outbox "
                        "ORDER BY id")
            return cur.fetchall()
        finally:
            c.close()
