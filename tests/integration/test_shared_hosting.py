# SPDX-License-Identifier: BSD-2-Clause
"""Shared hosting for real: an Apache whose only setting for the tenant's
directory is `AllowOverride All`, and a tenant who uploads the program,
its settings file and an .htaccess, nothing else.

The server config below is the host's, not ours: a virtual host with the
tenant's document root, mod_cgid (and, in the suEXEC runs, mod_suexec
with `SuexecUserGroup`; in the mod_fcgid run, mod_fcgid as a host loads
it). Nothing in it names sse-outbox. Everything for sse-outbox is in the
tenant's files, as a tenant would set them:

* public_html/sse-outbox.cgi   the program (a copy of the binary), 0755
* public_html/sse-outbox.conf  its settings (SSE_DB, SSE_AUTH, ...)
* public_html/.htaccess        Options +ExecCGI, AddHandler cgi-script
                               .cgi, Basic auth, the .conf kept private
* data/app.db                  the database, outside the document root

Without suEXEC the program runs as the web server's user (www-data), so
the data directory and the database must be writable by it; under
suEXEC (Debian's apache2-suexec-pristine: document root /var/www) the
program runs as the tenant, the data directory is 0700 and the database
0600, and suEXEC strips every SSE_ variable from the environment, which
is why the settings file exists.

The tenant is the system user `nobody` (uid 65534: above suEXEC's
AP_UID_MIN of 100, and not the web server's user).
"""

import grp
import itertools
import os
import pwd
import shutil
import subprocess

import pytest

import harness

TENANT = "nobody"
SUEXEC_DOCROOT = harness.Path("/var/www")
SUEXEC_BIN = harness.Path("/usr/lib/apache2/suexec")
SUEXEC_LOG = harness.Path("/var/log/apache2/suexec.log")

_counter = itertools.count(1)

HOST_MODULES = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authn_core_module", "mod_authn_core.so"),
    ("authn_file_module", "mod_authn_file.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
    ("auth_basic_module", "mod_auth_basic.so"),
    ("mime_module", "mod_mime.so"),
    ("env_module", "mod_env.so"),
    ("cgid_module", "mod_cgid.so"),
]

HTACCESS_CGI = """\
# sse-outbox as CGI: one process per open stream, no server config.
Options +ExecCGI
AddHandler cgi-script .cgi

AuthType Basic
AuthName "events"
AuthUserFile {htpasswd}
Require valid-user

# The settings are nobody's business but the program's.
<Files "sse-outbox.conf">
    Require all denied
</Files>
"""

HTACCESS_FCGID = HTACCESS_CGI.replace(
    "AddHandler cgi-script .cgi", "AddHandler fcgid-script .fcgi").replace(
    "as CGI: one process per open stream",
    "under mod_fcgid: one process per open stream")


def tenant_ids():
    pw = pwd.getpwnam(TENANT)
    return pw.pw_uid, pw.pw_gid


def chown_tenant(*paths):
    uid, gid = tenant_ids()
    for p in paths:
        os.chown(p, uid, gid)


class TenantSite:
    """The tenant's files: home/public_html (the document root) and
    home/data (the database)."""

    def __init__(self, home, responder, htpasswd, suexec, program,
                 settings, htaccess):
        self.home = harness.Path(home)
        self.suexec = suexec
        self.docroot = self.home / "public_html"
        self.data = self.home / "data"
        for d in (self.home, self.docroot, self.data):
            d.mkdir(parents=True, exist_ok=True)
            os.chmod(d, 0o755)
        self.db = self.data / "app.db"
        harness.make_db(self.db)
        self.program = self.docroot / program
        shutil.copy(responder, self.program)
        os.chmod(self.program, 0o755)
        self.settings = self.program.with_suffix(".conf")
        self.write_settings(settings)
        self.htaccess = self.docroot / ".htaccess"
        self.htaccess.write_text(htaccess.format(htpasswd=htpasswd))
        os.chmod(self.htaccess, 0o644)
        chown_tenant(self.home, self.docroot, self.data, self.db,
                     self.program, self.settings, self.htaccess)
        if suexec:
            # The program runs as the tenant: nobody else needs in.
            os.chmod(self.data, 0o700)
            os.chmod(self.db, 0o600)
        else:
            # It runs as www-data, which must write the -wal and -shm.
            os.chmod(self.data, 0o777)
            os.chmod(self.db, 0o666)

    def write_settings(self, text, mode=0o644):
        self.settings.write_text(text)
        os.chmod(self.settings, mode)
        chown_tenant(self.settings)

    def remove(self):
        harness.remove_tree(self.home)


def settings_text(db, **extra):
    lines = ["# sse-outbox settings (the web server passes none)",
             f"SSE_DB={db}", "SSE_AUTH=remote-user", "SSE_HEARTBEAT=1",
             "SSE_LOG_LEVEL=debug"]
    lines += [f"{k}={v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


class HostApache(harness.Server):
    """The host's Apache: a virtual host for the tenant's document root
    with AllowOverride All, and nothing about sse-outbox."""
    kind = "apache-tenant"

    def __init__(self, workdir, site, htpasswd, fcgid=False):
        super().__init__(workdir, site.db, str(site.program))
        harness.require_program(harness.APACHE)
        self.site = site
        self.path = "/" + site.program.name
        run = harness.make_dir(self.dir / "run")
        self.conf = self.dir / "httpd.conf"
        self.errorlog = self.dir / "apache-error.log"
        self.stderr_path = self.dir / "apache.stderr"
        modules = list(HOST_MODULES)
        if site.suexec:
            modules.append(("suexec_module", "mod_suexec.so"))
        if fcgid:
            modules.append(("fcgid_module", "mod_fcgid.so"))
        lines = harness.apache_base_lines(self.dir, run, self.port,
                                          self.errorlog)
        lines += [f"LoadModule {m} {harness.APACHE_MODULES}/{f}"
                  for m, f in modules]
        lines += [
            "TypesConfig /etc/mime.types",
            f"ScriptSock {run}/cgisock",
            "<Directory />",
            "    AllowOverride None",
            "    Require all denied",
            "</Directory>",
        ]
        if fcgid:
            ipc = harness.make_dir(self.dir / "fcgid")
            lines += [f"FcgidIPCDir {ipc}",
                      f"FcgidProcessTableFile {ipc}/shm"]
        lines += [
            f"<VirtualHost 127.0.0.1:{self.port}>",
            "    ServerName tenant.example",
            f"    DocumentRoot {site.docroot}",
        ]
        if site.suexec:
            lines.append(f"    SuexecUserGroup {TENANT} "
                         f"{grp.getgrgid(tenant_ids()[1]).gr_name}")
        lines += [
            f"    <Directory {site.docroot}>",
            "        AllowOverride All",
            "    </Directory>",
            "</VirtualHost>",
        ]
        self.conf.write_text("\n".join(lines) + "\n")
        self.logs = harness.Logs(self.errorlog, self.stderr_path)

    def start(self):
        env = harness.Apache.env(self)
        check = subprocess.run([harness.APACHE, "-t", "-f", str(self.conf)],
                               capture_output=True, timeout=30, env=env)
        if check.returncode != 0:
            harness.fail(f"apache2 rejects {self.conf}: "
                         f"{check.stdout.decode()}{check.stderr.decode()}")
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [harness.APACHE, "-f", str(self.conf), "-DFOREGROUND"],
                stdin=subprocess.DEVNULL, stdout=err,
                stderr=subprocess.STDOUT, env=env)
        self._wait_ready(r"resuming normal operations")
        return self


def proc_env(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return dict(item.split(b"=", 1) for item in f.read().split(b"\0")
                    if b"=" in item)


def proc_uid(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[2])     # effective
    return None


def suexec_usable():
    """Why suEXEC cannot run here, or None."""
    if not SUEXEC_BIN.exists():
        return f"{SUEXEC_BIN} missing (make deps installs " \
               "apache2-suexec-pristine)"
    st = SUEXEC_BIN.resolve().stat()
    if not st.st_mode & 0o4000 or st.st_uid != 0:
        return f"{SUEXEC_BIN} is not setuid root"
    if not SUEXEC_DOCROOT.is_dir():
        return f"{SUEXEC_DOCROOT} (suEXEC's document root) missing"
    return None


@pytest.fixture
def site_factory(base_dir, responder, htpasswd):
    made = []

    def make(suexec, program="sse-outbox.cgi", htaccess=HTACCESS_CGI,
             settings=None, fcgid=False):
        n = next(_counter)
        if suexec:
            why = suexec_usable()
            assert why is None, why
            home = SUEXEC_DOCROOT / f"sse-outbox-test-{os.getpid()}-{n}"
        else:
            home = base_dir / f"tenant-{n}"
        site = TenantSite(home, responder, htpasswd, suexec, program,
                          "", htaccess)
        site.write_settings(settings if settings is not None else
                            settings_text(site.db))
        srv = HostApache(harness.make_dir(base_dir / f"host-{n}"), site,
                         htpasswd, fcgid=fcgid)
        made.append((site, srv))
        return site, srv.start()

    yield make
    for site, srv in made:
        srv.stop()
        site.remove()


def stream_one_row(srv, user="alice"):
    """Open a stream through the server, commit a row for user and one
    for someone else: only user's arrives. Returns the responder PID."""
    c = srv.open(user, timeout=10)
    try:
        assert c.status == 200, c.describe() + srv.logs.tail()
        c.wait_fields(1)
        pids = harness.wait_until(srv.responders, 5)
        assert pids, "no responder process under Apache"
        ids = srv.produce(("bob", "m", "not alice's"),
                          (user, "m", "for " + user))
        got = c.wait_events(1, timeout=5)
        assert [(int(e.id), e.data) for e in got] == \
            [(ids[1], "for " + user)], c.describe()
        assert c.no_more_events(1, settle=0.3)
        return pids[0]
    finally:
        c.close()


@pytest.mark.parametrize("suexec", [False, True], ids=["www-data", "suexec"])
def test_htaccess_only_install_streams(site_factory, suexec):
    """The tenant's .htaccess and settings file are all it takes: the
    stream opens at once (mod_cgid passes the padded first bytes on),
    rows arrive live, the settings come from the file although the
    program's environment holds no SSE_ variable, and the settings file
    cannot be fetched over HTTP."""
    site, srv = site_factory(suexec)
    suexec_log = harness.Logs(SUEXEC_LOG)
    mark = suexec_log.mark()
    pid = stream_one_row(srv)
    env = proc_env(pid)
    assert not [k for k in env if k.startswith(b"SSE_")], env
    assert env.get(b"REMOTE_USER") == b"alice"
    uid = proc_uid(pid)
    if suexec:
        assert uid == tenant_ids()[0], uid
        suexec_log.wait_for(rf"uid: \({tenant_ids()[0]}/{TENANT}\) .* "
                            rf"cmd: {site.program.name}", mark)
    else:
        assert uid == pwd.getpwnam("www-data").pw_uid, uid
    srv.logs.wait_for(r"settings from " + str(site.settings))
    private = srv.request("alice", path="/sse-outbox.conf", timeout=5)
    assert private.status == 403, private.describe()


@pytest.mark.parametrize("suexec", [False, True], ids=["www-data", "suexec"])
def test_settings_others_can_write_are_refused(site_factory, suexec):
    """A settings file, or its directory, that others can write is
    refused with one log line saying why; the request fails (the program
    exits, as on any configuration error) and nothing is streamed. Put
    right, the next request streams: CGI reads the file every time."""
    site, srv = site_factory(suexec)
    cases = [
        ("file 0666", lambda: os.chmod(site.settings, 0o666),
         lambda: os.chmod(site.settings, 0o644),
         str(site.settings) + r": refused: writable by group or others"),
        ("file another user's",
         lambda: os.chown(site.settings, pwd.getpwnam("daemon").pw_uid, 0),
         lambda: chown_tenant(site.settings),
         str(site.settings) + r": refused: owned by another user"),
    ]
    if not suexec:
        # Under suEXEC a writable directory is refused by suEXEC itself,
        # before the program runs.
        cases.append(
            ("directory 0777", lambda: os.chmod(site.docroot, 0o777),
             lambda: os.chmod(site.docroot, 0o755),
             str(site.settings) + r": refused: its directory is "
             r"writable by group or others"))
    for label, spoil, mend, line in cases:
        spoil()
        mark = srv.logs.mark()
        r = srv.request("alice", timeout=10)
        assert r.status == 500, (label, r.describe())
        assert b"data:" not in bytes(r.raw), label
        srv.logs.wait_for("configuration: " + line, mark)
        mend()
    stream_one_row(srv)


def test_bad_line_names_file_and_line(site_factory):
    site, srv = site_factory(False)
    site.write_settings(settings_text(site.db) + "SSE_HEARTBEAT=soon\n"
                        "SSE_AUTH remote-user\n")
    mark = srv.logs.mark()
    r = srv.request("alice", timeout=10)
    assert r.status == 500, r.describe()
    srv.logs.wait_for(str(site.settings) + r":7: expected NAME=value", mark)


def test_environment_wins_over_the_file(site_factory):
    """Where SetEnv reaches the program (mod_cgid, no suEXEC), one SSE_
    variable in the environment means the file is not read at all, and
    the log says so; under suEXEC the same SetEnv is stripped and the
    file is used."""
    site, srv = site_factory(False)
    with open(site.htaccess, "a") as f:
        f.write("SetEnv SSE_HEARTBEAT 5\n")
    mark = srv.logs.mark()
    r = srv.request("alice", timeout=10)
    assert r.status == 500, r.describe()
    srv.logs.wait_for(r"configuration: SSE_DB: required", mark)
    srv.logs.wait_for(str(site.settings) + r" not read \(the environment "
                      r"sets SSE_ variables\)", mark)


def test_suexec_strips_setenv_the_file_still_works(site_factory):
    site, srv = site_factory(True)
    with open(site.htaccess, "a") as f:
        f.write("SetEnv SSE_DB /nonexistent/elsewhere.db\n")
    pid = stream_one_row(srv)
    assert not [k for k in proc_env(pid) if k.startswith(b"SSE_")]


def test_doctor_names_the_cgi_route_under_mod_fcgid(site_factory,
                                                   responder):
    """The tenant tried mod_fcgid from .htaccess (AddHandler fcgid-script
    .fcgi) on a host that left FcgidOutputBufferSize at its default:
    everything is held. The doctor says so, and since no .htaccess can
    change that, names the CGI route; the same tenant, as CGI, streams."""
    site, srv = site_factory(False, program="sse-outbox.fcgi",
                             htaccess=HTACCESS_FCGID, fcgid=True)
    p = subprocess.run([responder, "doctor", srv.url(), "--basic",
                        "alice:" + harness.USERS["alice"]],
                       capture_output=True, timeout=60)
    out = p.stdout.decode()
    detail = f"exit {p.returncode}\n{out}\n{p.stderr.decode()}"
    assert p.returncode == 1, detail
    assert "\nverdict: buffered" in out, detail
    assert "\nfix: FcgidOutputBufferSize 0\n" in out, detail
    assert "\nfix: AddHandler cgi-script .cgi\n" in out, detail
    assert "a tenant cannot turn off mod_fcgid's buffering" in out, detail
    # The settings came from sse-outbox.conf beside sse-outbox.fcgi.
    srv.logs.wait_for(r"settings from " + str(site.settings))
    # The advice, followed: the same program as .cgi, same settings file.
    shutil.copy(site.program, site.docroot / "sse-outbox.cgi")
    chown_tenant(site.docroot / "sse-outbox.cgi")
    with open(site.htaccess, "a") as f:
        f.write("AddHandler cgi-script .cgi\n")
    srv.path = "/sse-outbox.cgi"
    srv.bin = str(site.docroot / "sse-outbox.cgi")
    p = subprocess.run([responder, "doctor", srv.url(), "--basic",
                        "alice:" + harness.USERS["alice"]],
                       capture_output=True, timeout=60)
    out = p.stdout.decode()
    assert p.returncode == 0, out + p.stderr.decode()
    assert "\nverdict: streaming" in out, out
