# SPDX-License-Identifier: BSD-2-Clause
"""Fixtures: temporary directories with fresh databases, and real
lighttpd, Apache and nginx servers started from the repository's example
configurations, stopped (by PID) when the test or session ends."""

import itertools
import os
import tempfile

import pytest

import harness

_ALL_SERVERS = []
_counter = itertools.count(1)


@pytest.fixture(scope="session")
def base_dir():
    # Not pytest's tmp_path: its parent is 0700, and the responders and
    # Apache's children run as www-data. Everything they use (the
    # binary, databases, sockets, pages) goes here.
    d = tempfile.mkdtemp(prefix="sse-outbox-it-")
    os.chmod(d, 0o777)
    yield harness.Path(d)
    if os.environ.get("SSE_TESTS_KEEP") != "1":
        harness.remove_tree(d)


@pytest.fixture(scope="session")
def responder(base_dir):
    """The binary under test, copied where www-data can run it."""
    return harness.reachable_bin(harness.responder_bin(), base_dir)


@pytest.fixture(scope="session")
def postgres(base_dir):
    """One real PostgreSQL (pg.py) for every test that asks; each test
    makes its own database (postgres.new_db())."""
    import pg
    server = pg.Postgres(base_dir / "postgres").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def htpasswd(base_dir):
    return harness.make_htpasswd(base_dir / "htpasswd")


class Factory:
    """Starts servers (each in its own directory, with its own database)
    and stops them all when closed."""

    def __init__(self, base_dir, responder, htpasswd):
        self.base_dir = base_dir
        self.responder = responder
        self.htpasswd = htpasswd
        self.servers = []

    def _dir(self, kind):
        return harness.make_dir(self.base_dir / f"{kind}-{next(_counter)}")

    def _db(self, workdir, db):
        """db: "fresh" (schema), "missing" (no file), "notable", or the
        path of an existing database (servers sharing one database)."""
        if isinstance(db, harness.Path):
            return db
        if db.startswith(("postgresql://", "postgres://")):
            return db
        path = workdir / "app.db"
        if db == "fresh":
            harness.make_db(path)
        elif db == "notable":
            harness.make_db(path, schema=False)
        elif db != "missing":
            raise ValueError(db)
        return path

    def _jwt_env(self, workdir, secret, opts):
        """jwt mode: the key in a mode 600 file owned by www-data."""
        path = harness.make_secret_file(workdir / "jwt.key", secret)
        opts["env"] = {**opts.get("env", {}),
                       "SSE_JWT_SECRET_FILE": str(path)}
        return opts["env"]

    def lighttpd(self, db="fresh", jwt_secret=None, **opts):
        """jwt_secret: SSE_AUTH=jwt with this key (SSE_JWT_SECRET_FILE)."""
        workdir = self._dir("lighttpd")
        if jwt_secret is not None:
            opts["auth"] = "jwt"
            self._jwt_env(workdir, jwt_secret, opts)
        srv = harness.Lighttpd(workdir, self._db(workdir, db),
                               self.responder, self.htpasswd, **opts)
        return self._start(srv)

    def apache(self, db="fresh", jwt_secret=None, **opts):
        """jwt_secret: SSE_AUTH=jwt with this key; the Authorization
        header is passed on (FcgidPassHeader), and requests go to
        noauth_path, which Apache does not authenticate."""
        workdir = self._dir("apache")
        if jwt_secret is not None:
            self._jwt_env(workdir, jwt_secret, opts)["SSE_AUTH"] = "jwt"
            opts["extra"] = opts.get("extra", "") + \
                "\nFcgidPassHeader Authorization\n"
        srv = harness.Apache(workdir, self._db(workdir, db),
                             self.responder, self.htpasswd, **opts)
        if jwt_secret is not None:
            srv.auth = "jwt"
            srv.path = srv.noauth_path
        return self._start(srv)

    def nginx(self, db="fresh", **opts):
        workdir = self._dir("nginx")
        srv = harness.Nginx(workdir, self._db(workdir, db),
                            self.responder, self.htpasswd, **opts)
        return self._start(srv)

    def _start(self, srv):
        self.servers.append(srv)
        _ALL_SERVERS.append(srv)
        return srv.start()

    def close(self):
        for srv in self.servers:
            srv.teardown()


@pytest.fixture(scope="session")
def session_factory(base_dir, responder, htpasswd):
    f = Factory(base_dir, responder, htpasswd)
    yield f
    f.close()
    # Reports written at exit (LeakSanitizer) appear only now.
    harness.assert_no_crash(f.servers, "the shared servers' logs")


@pytest.fixture(scope="module")
def module_servers(base_dir, responder, htpasswd):
    """Servers shared by the tests of one module."""
    f = Factory(base_dir, responder, htpasswd)
    yield f
    f.close()
    harness.assert_no_crash(f.servers, "the module's servers' logs")


@pytest.fixture(autouse=True)
def no_crash_reports():
    """A crash (a sanitizer report of make asan, a responder killed by a
    signal) in the log of any server that ran during the test fails it.
    Set up before the test's other fixtures, so it checks after they
    stopped their servers. Fixtures of a wider scope that start and stop
    their servers before the test check them themselves
    (harness.assert_no_crash)."""
    marks = {id(s): s.logs.mark() for s in _ALL_SERVERS
             if s.logs is not None}
    yield
    harness.assert_no_crash(list(_ALL_SERVERS), "server logs", marks)


@pytest.fixture
def servers(base_dir, responder, htpasswd):
    """Per-test servers with non-default settings."""
    f = Factory(base_dir, responder, htpasswd)
    yield f
    f.close()


@pytest.fixture(scope="session")
def lighttpd(session_factory):
    """lighttpd as shipped (Basic auth, remote-user), heartbeat 1 s,
    retry 1500 ms, debug log; shared by the tests."""
    return session_factory.lighttpd()


@pytest.fixture(scope="session")
def apache(session_factory):
    """Apache + mod_fcgid as shipped (Basic auth, remote-user),
    heartbeat 1 s, retry 1500 ms, debug log; shared by the tests."""
    return session_factory.apache()


@pytest.fixture(params=["lighttpd", "apache"])
def server(request):
    return request.getfixturevalue(request.param)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        used = []
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, harness.Server):
                used.append(value)
            elif isinstance(value, Factory):
                used += value.servers
        seen = set()
        for srv in used:
            if id(srv) in seen:
                continue
            seen.add(id(srv))
            if srv.logs is not None:
                report.sections.append((f"log of {srv.name} ({srv.dir})",
                                        srv.logs.tail(6000)))


def pytest_terminal_summary(terminalreporter):
    if harness.LATENCY_REPORTS:
        terminalreporter.section("commit-to-receipt latency")
        for line in harness.LATENCY_REPORTS:
            terminalreporter.write_line(line)
    if harness.FAULT_REPORTS:
        terminalreporter.section("observed under faults, bursts and chaos")
        for line in harness.FAULT_REPORTS:
            terminalreporter.write_line(line)
    leftovers = [(s.name, s.leftovers) for s in _ALL_SERVERS if s.leftovers]
    if leftovers:
        terminalreporter.section("processes left behind by servers")
        for name, pids in leftovers:
            terminalreporter.write_line(f"{name}: {pids}")
