# SPDX-License-Identifier: BSD-2-Clause
"""`make install` and `make uninstall` with PREFIX and DESTDIR, and the
man page they install: it renders without warnings and covers every
command and setting that `sse-outbox --help` lists."""

import os
import re
import stat
import subprocess

import harness

MAN = "/usr/bin/man"
PAGE = harness.ROOT / "sse-outbox.1"


def make(*args):
    """make in the repository, never rebuilding the binary under test
    (-o: take it as it is; BUILD: the directory it was built in)."""
    binary = harness.responder_bin()
    build = os.path.relpath(os.path.dirname(binary), harness.ROOT)
    p = subprocess.run(["make", "--no-print-directory", "-C",
                        str(harness.ROOT), f"BUILD={build}",
                        "-o", f"{build}/sse-outbox", *args],
                       capture_output=True, timeout=60)
    out = p.stdout.decode() + p.stderr.decode()
    assert p.returncode == 0, out
    return binary, out


def test_install_and_uninstall(tmp_path):
    dest = tmp_path / "stage"
    binary, _ = make("install", f"DESTDIR={dest}", "PREFIX=/opt/sse")
    root = dest / "opt" / "sse"
    expect = {
        "bin/sse-outbox": (0o755, harness.Path(binary)),
        "share/man/man1/sse-outbox.1": (0o644, PAGE),
        "share/sse-outbox/schema.sql": (0o644,
                                        harness.ROOT / "sql/schema.sql"),
        "share/sse-outbox/schema-postgresql.sql": (
            0o644, harness.ROOT / "sql/schema-postgresql.sql"),
        "share/sse-outbox/sse-outbox.js": (
            0o644, harness.ROOT / "js/dist/sse-outbox.js"),
    }
    found = sorted(str(p.relative_to(root)) for p in root.rglob("*")
                   if p.is_file())
    assert found == sorted(expect)
    for rel, (mode, source) in expect.items():
        path = root / rel
        assert stat.S_IMODE(path.stat().st_mode) == mode, rel
        assert path.read_bytes() == source.read_bytes(), rel
    out = subprocess.run([str(root / "bin/sse-outbox"), "--version"],
                         capture_output=True, timeout=10)
    assert out.returncode == 0 and out.stdout.startswith(b"sse-outbox ")

    # MANDIR and PKGDATADIR can be moved on their own.
    make("install", f"DESTDIR={dest}", "PREFIX=/opt/sse",
         "MANDIR=/opt/man", "PKGDATADIR=/opt/data")
    assert (dest / "opt/man/man1/sse-outbox.1").is_file()
    assert (dest / "opt/data/schema.sql").is_file()
    make("uninstall", f"DESTDIR={dest}", "PREFIX=/opt/sse",
         "MANDIR=/opt/man", "PKGDATADIR=/opt/data")
    assert not (dest / "opt/data").exists()

    make("uninstall", f"DESTDIR={dest}", "PREFIX=/opt/sse")
    left = [str(p.relative_to(dest)) for p in dest.rglob("*")
            if not p.is_dir()]
    assert left == []
    assert not (root / "share/sse-outbox").exists()
    # Uninstalling again is harmless.
    make("uninstall", f"DESTDIR={dest}", "PREFIX=/opt/sse")


def man(*args, width="80"):
    harness.require_program(MAN)
    env = dict(os.environ, MANWIDTH=width, LANG="C.UTF-8")
    env.pop("MANPAGER", None)
    env.pop("PAGER", None)
    p = subprocess.run([MAN, *args, "-l", str(PAGE)], capture_output=True,
                       timeout=30, env=env)
    # Bold and underline come as overstrikes: keep the plain text.
    p.stdout = re.sub(rb".\x08", b"", p.stdout)
    return p


def test_man_page_renders_without_warnings():
    p = man("--warnings")
    assert p.returncode == 0, p.stderr.decode()
    assert p.stderr.decode() == ""
    for width in ("80", "60"):
        p = man("--warnings", width=width)
        assert p.stderr.decode() == "", (width, p.stderr.decode())
    text = p.stdout.decode()
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "MODES", "OPTIONS",
                    "COMMANDS", "ENVIRONMENT", "EXIT STATUS", "FILES",
                    "EXAMPLES", "SEE ALSO"):
        assert re.search(rf"^{section}$", text, re.M), section


def test_man_page_covers_help():
    """Every option, command and variable of --help is in the page."""
    text = man().stdout.decode()
    flat = re.sub(r"\s+", " ", text)
    helptext = subprocess.run([harness.responder_bin(), "--help"],
                              capture_output=True, timeout=10,
                              check=True).stdout.decode()
    names = set(re.findall(r"\b(SSE_[A-Z_]+)\b", helptext))
    assert "SSE_DB" in names and "SSE_STATS" in names
    for name in sorted(names):
        assert name in flat, name
    for option in set(re.findall(r"(--[a-z][a-z-]+)", helptext)):
        assert option in flat, option
    commands = set(re.findall(r"^\s+sse-outbox (\w+) ", helptext, re.M))
    assert {"token", "prune"} <= commands
    for command in commands | {"doctor"}:
        assert re.search(rf"sse-outbox {command}\b", flat), command
    version = subprocess.run([harness.responder_bin(), "--version"],
                             capture_output=True, timeout=10,
                             check=True).stdout.decode().split()[-1]
    assert f"sse-outbox {version}" in flat, "the page's version is stale"


def test_help_covers_man_page_options():
    """Every option the page documents is in --help too (doctor's
    --timeout was missing)."""
    text = re.sub(r"\s+", " ", man().stdout.decode())
    helptext = subprocess.run([harness.responder_bin(), "--help"],
                              capture_output=True, timeout=10,
                              check=True).stdout.decode()
    options = set(re.findall(r"(--[a-z][a-z-]+)", text))
    assert "--timeout" in options
    for option in sorted(options):
        assert option in helptext, option
