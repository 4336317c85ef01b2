"""The example configurations as shipped: valid for their servers, with
timeouts that fit together, and documenting every setting."""

import re
import subprocess

import harness


def help_settings(responder):
    """{name: default or None} from `sse-outbox --help`."""
    out = subprocess.run([responder, "--help"], capture_output=True,
                         timeout=10, check=True).stdout.decode()
    settings = {}
    for m in re.finditer(r"^\s+(SSE_[A-Z_]+)\s+(.*)$", out, re.M):
        d = re.search(r"\(default ([^)]*)\)\s*$", m.group(2))
        settings[m.group(1)] = d.group(1) if d else None
    assert "SSE_DB" in settings and "SSE_HEARTBEAT" in settings, out
    return settings


def apache_defaults(text):
    return dict(re.findall(r"<IfDefine !(\w+)>\s*Define \1 (\S+)\s*"
                           r"</IfDefine>", text))


def apache_directive(text, name):
    m = re.findall(rf"^\s*{name}\s+(\S+)", text, re.M)
    assert len(m) == 1, (name, m)
    return m[0]


def test_apache_example_lists_every_setting_and_default(responder):
    """style.md: apache-example.conf lists the same keys and defaults as
    the configuration table (here: as `sse-outbox --help` prints it)."""
    text = harness.APACHE_EXAMPLE.read_text()
    for name, default in help_settings(responder).items():
        assert name in text, f"{name} is not mentioned in apache-example.conf"
        if default is not None:
            assert re.search(rf"^#\s+{name}\s+{re.escape(default)}\s", text,
                             re.M), f"{name}: default {default} not listed"


def test_apache_example_timeouts_fit_together():
    text = harness.APACHE_EXAMPLE.read_text()
    d = apache_defaults(text)
    assert apache_directive(text, "FcgidOutputBufferSize") == "0"
    busy = int(apache_directive(text, "FcgidBusyTimeout"))
    io = int(apache_directive(text, "FcgidIOTimeout"))
    assert 0 < int(d["SSE_MAX_STREAM"]) < busy, (d, busy)
    # Well above: a stream ends cleanly long before mod_fcgid kills it.
    assert busy - int(d["SSE_MAX_STREAM"]) >= 300
    assert int(d["SSE_HEARTBEAT"]) * 2 <= io, (d, io)
    for env in ("SSE_DB", "SSE_AUTH", "SSE_HEARTBEAT", "SSE_MAX_STREAM"):
        assert re.search(rf"^FcgidInitialEnv {env} ", text, re.M), env
    assert re.search(r"^FcgidInitialEnv SSE_AUTH remote-user$", text, re.M)


def test_apache_example_is_valid_as_shipped(base_dir):
    """Only the modules it needs loaded, nothing overridden."""
    harness.require_program(harness.APACHE)
    conf = base_dir / "apache-as-shipped.conf"
    mods = [m for m in harness.APACHE_MODS if m[0] not in
            ("fcgid_module",)]     # the example loads it when missing
    lines = [f"ServerRoot {base_dir}", "ServerName 127.0.0.1",
             "Listen 127.0.0.1:1", "ErrorLog /dev/null"]
    lines += [f"LoadModule {m} {harness.APACHE_MODULES}/{f}"
              for m, f in mods]
    lines.append(f"Include {harness.APACHE_EXAMPLE}")
    conf.write_text("\n".join(lines) + "\n")
    p = subprocess.run([harness.APACHE, "-t", "-D", "DUMP_RUN_CFG", "-f",
                        str(conf)], capture_output=True, timeout=30)
    out = p.stdout.decode() + p.stderr.decode()
    assert p.returncode == 0, out
    assert "Define: SSE_DB=/var/lib/myapp/app.db" in out, out


def test_lighttpd_example_is_valid_as_shipped():
    harness.require_program(harness.LIGHTTPD)
    p = subprocess.run([harness.LIGHTTPD, "-tt", "-f",
                        str(harness.LIGHTTPD_EXAMPLE)],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr


def test_lighttpd_example_settings():
    text = harness.LIGHTTPD_EXAMPLE.read_text()
    v = dict(re.findall(r'^var\.(\w+)\s*=\s*"?([^"\s]*)"?', text, re.M))
    for name in ("sse_port", "sse_bin", "sse_db", "sse_socket"):
        assert name in v, name
    # A heartbeat below lighttpd's silence limit (server.max-write-idle).
    assert int(v["sse_heartbeat"]) < 360
    assert re.search(r'"max-procs"\s*=>\s*1\b', text)
    assert re.search(r'"tcp-fin-propagate"\s*=>\s*"enable"', text)
    assert re.search(r"server\.stream-response-body\s*=\s*2", text)
    assert re.search(r'"bin-path"\s*=>', text)
    for env in ("SSE_DB", "SSE_AUTH", "SSE_HEARTBEAT", "SSE_RETRY",
                "SSE_MAX_STREAM", "SSE_MAX_STREAMS", "SSE_LOG_LEVEL"):
        assert re.search(rf'"{env}"\s*=>', text), env
