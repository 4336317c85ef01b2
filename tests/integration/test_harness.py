# SPDX-License-Identifier: BSD-2-Clause
"""The harness's crash check: a crash in any server's log fails the test
whose servers logged it (conftest.no_crash_reports, the teardown of the
shared fixtures, test_servers and test_doctor). Fed here with the lines
each web server, the sanitizers and the harness itself write."""

import itertools
import subprocess

import pytest

import harness

# One line a crash leaves, as each writer words it.
CRASH_LINES = [
    # Apache's parent, for a child of its own.
    "[Tue Dec 01 10:00:00.000000 2026] [core:notice] [pid 7:tid 7] AH00052:"
    " child pid 8 exit signal Segmentation fault (11)",
    "[Tue Dec 01 10:00:00.000000 2026] [core:notice] [pid 7:tid 7] AH00052:"
    " child pid 8 exit signal Aborted (6)",
    # mod_fcgid, for a responder it spawned.
    "[Tue Dec 01 10:00:00.000000 2026] [fcgid:info] [pid 7:tid 7] mod_fcgid:"
    " process /usr/local/bin/sse-outbox(9) exit(communication error),"
    " get unexpected signal 11",
    # lighttpd, for a bin-path child.
    "2026-12-01 10:00:00: (gw_backend.c.1234) child signalled: 11",
    "2026-12-01 10:00:00: (gw_backend.c.1234) child signalled: 6",
    # nginx, for a worker.
    "2026/12/01 10:00:00 [alert] 7#7: worker process 8 exited on signal 11"
    " (core dumped)",
    "2026/12/01 10:00:00 [alert] 7#7: worker process 8 exited on signal 7",
    # A shell running a CGI program.
    "sh: line 1:  9 Segmentation fault      (core dumped) sse-outbox",
    # The sanitizers (make asan), on the responder's stderr.
    "==9==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020",
    "AddressSanitizer:DEADLYSIGNAL",
    "==9==ERROR: LeakSanitizer: detected memory leaks",
    "SUMMARY: AddressSanitizer: SEGV fcgi/subs.c:180 in subs_each",
    "fcgi/buf.c:42:7: runtime error: signed integer overflow",
    "==9==The signal is caused by a READ memory access. SIGSEGV",
    # The harness, for a process it started (record_crash).
    "harness: sse-outbox --listen 127.0.0.1:9 (pid 9) killed by signal 11"
    " (Segmentation fault)",
]

# Lines of a healthy run that must not count as a crash.
HEALTHY_LINES = [
    "sse-outbox[9]: info: shut down cleanly",
    "sse-outbox[9]: debug: req=3 user=alice stream closed: client went away",
    "sse-outbox[9]: info: ending stream: shutting down (signal 15)",
    "2026-12-01 10:00:00: (gw_backend.c.1234) child exited: 0",
    "2026-12-01 10:00:00: (gw_backend.c.1234) child signalled: 15",
    "2026-12-01 10:00:00: (gw_backend.c.1234) child signalled: 9",
    "[Tue Dec 01 10:00:00.000000 2026] [mpm_event:notice] [pid 7:tid 7]"
    " AH00491: caught SIGTERM, shutting down",
    "2026/12/01 10:00:00 [notice] 7#7: signal 17 (SIGCHLD) received from 8",
    "2026/12/01 10:00:00 [notice] 7#7: worker process 8 exited with code 0",
    "2026/12/01 10:00:00 [notice] 7#7: signal 110 received",
    "sse-outbox[9]: warning: req=4 refused 503: cannot open database x.db",
]


class LogOnly(harness.Server):
    """A server that is only its log: the crash check's input."""
    kind = "fake"

    def __init__(self, workdir):
        super().__init__(workdir, workdir / "app.db", "/bin/false")
        self.errorlog = self.dir / "error.log"
        self.errorlog.write_text("")
        self.logs = harness.Logs(self.errorlog)

    def write(self, line):
        with open(self.errorlog, "a") as f:
            f.write(line + "\n")


_n = itertools.count(1)


@pytest.fixture
def fake(base_dir):
    return LogOnly(base_dir / f"fake-{next(_n)}")


@pytest.mark.parametrize("line", CRASH_LINES)
def test_a_crash_line_fails(fake, line):
    fake.write("sse-outbox[9]: info: serving FastCGI on fd 0")
    harness.assert_no_crash([fake])         # nothing yet
    mark = fake.logs.mark()
    fake.write(line)
    assert fake.crash_reports(mark) == [line]
    with pytest.raises(pytest.fail.Exception, match="crash reports in"):
        harness.assert_no_crash([fake])
    with pytest.raises(pytest.fail.Exception):
        harness.assert_no_crash([fake], marks={id(fake): mark})
    # A mark taken after the line: not this test's crash.
    harness.assert_no_crash([fake], marks={id(fake): fake.logs.mark()})


def test_healthy_lines_pass(fake):
    for line in HEALTHY_LINES:
        fake.write(line)
    assert fake.crash_reports() == []
    harness.assert_no_crash([fake])


@pytest.mark.parametrize("sig,crash", [("SEGV", True), ("ABRT", True),
                                       ("TERM", False), ("KILL", False)])
def test_a_listener_killed_by_a_signal_leaves_a_line(base_dir, sig, crash):
    """A `--listen` responder has no web server to log its death: the
    harness writes it into the responder's stderr log when it stops it."""
    d = harness.make_dir(base_dir / f"listener-{sig}")
    lst = harness.Listener(d, d / "app.db", "/bin/sh", "127.0.0.1:9")
    lst.proc = subprocess.Popen(["/bin/sh", "-c", f"kill -{sig} $$"])
    lst.proc.wait(10)
    lst.stop()
    lines = harness.crash_reports(lst.logs.since())
    if crash:
        assert len(lines) == 1 and "killed by signal" in lines[0], lines
    else:
        assert lines == []


def test_a_real_servers_log_is_checked(base_dir, responder, htpasswd):
    """The log files of a running lighttpd are the ones looked at: a
    segfault line in its error log is found after it stopped. (Started
    outside the fixtures, so that the line fails only this check.)"""
    d = base_dir / "crash-check-lighttpd"
    srv = harness.Lighttpd(d, harness.make_db(harness.make_dir(d) /
                                              "app.db"),
                           responder, htpasswd).start()
    try:
        mark = srv.logs.mark()
        with open(srv.errorlog, "a") as f:
            f.write("2026-12-01 10:00:00: (gw_backend.c.1234) child "
                    "signalled: 11\n")
    finally:
        srv.stop()
    with pytest.raises(pytest.fail.Exception, match="child signalled: 11"):
        harness.assert_no_crash([srv], marks={id(srv): mark})
