# SPDX-License-Identifier: BSD-2-Clause
"""The example configurations as shipped: valid for their servers, with
timeouts that fit together, and documenting every setting."""

import re
import subprocess

import pytest

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
    """The value of a directive that appears once, its ${DEFINE}s
    replaced by the example's defaults."""
    m = re.findall(rf"^\s*{name}\s+(\S+)", text, re.M)
    assert len(m) == 1, (name, m)
    d = apache_defaults(text)
    return re.sub(r"\$\{(\w+)\}", lambda v: d[v.group(1)], m[0])


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
        assert re.search(rf"^\s*SetEnv {env} ", text, re.M), env  # CGI
    assert re.search(r"^FcgidInitialEnv SSE_AUTH \$\{SSE_AUTH_MODE\}$",
                     text, re.M)
    assert re.search(r"<IfDefine !SSE_JWT>\s*Define SSE_AUTH_MODE "
                     r"remote-user\s*</IfDefine>", text)
    # Every silence limit Apache applies to the responder is the same
    # one, and the proxies flush each packet.
    silence = int(d["SSE_SILENCE_TIMEOUT"])
    assert io == silence
    assert int(apache_directive(text, "CGIDScriptTimeout")) == silence
    proxies = re.findall(r"^\s*ProxyPass (\S+) (.*)$", text, re.M)
    assert len(proxies) == 2, proxies
    for target, params in proxies:
        assert "flushpackets=on" in params.split(), params
        assert "timeout=${SSE_SILENCE_TIMEOUT}" in params.split(), params
        assert "enablereuse" not in params
    # The compression filters stay off the stream in every way.
    assert re.search(r"^\s*SetEnv no-gzip 1$", text, re.M)


@pytest.mark.parametrize("defines", [
    [], ["SSE_MODE_FCGID"], ["SSE_MODE_PROXY_TCP"], ["SSE_MODE_PROXY_UNIX"],
    ["SSE_MODE_CGI"], ["SSE_HTTP2"], ["SSE_MODE_PROXY_UNIX", "SSE_HTTP2"],
    ["SSE_JWT"], ["SSE_JWT", "SSE_MODE_CGI"],
])
def test_apache_example_is_valid_as_shipped(base_dir, defines):
    """Each way, as a user picks it with -D, included inside a
    <VirtualHost> with the modules a2enmod enables for it, nothing
    overridden."""
    harness.require_program(harness.APACHE)
    mode = next((d for d in defines if d.startswith("SSE_MODE_")),
                "SSE_MODE_FCGID")
    key = {v: k for k, v in harness.APACHE_MODE_DEFINES.items()}[mode]
    mods = harness.APACHE_MODS + harness.APACHE_MODE_MODS[key]
    if "SSE_HTTP2" in defines:
        mods = mods + harness.APACHE_MODE_MODS["http2"]
    conf = base_dir / f"apache-as-shipped-{'-'.join(defines)}.conf"
    lines = [f"ServerRoot {base_dir}", "ServerName 127.0.0.1",
             "Listen 127.0.0.1:1", "ErrorLog /dev/null"]
    lines += [f"LoadModule {m} {harness.APACHE_MODULES}/{f}"
              for m, f in mods]
    lines += ["<VirtualHost 127.0.0.1:1>",
              f"Include {harness.APACHE_EXAMPLE}", "</VirtualHost>"]
    conf.write_text("\n".join(lines) + "\n")
    args = [harness.APACHE, "-t", "-D", "DUMP_RUN_CFG", "-f", str(conf)]
    for d in defines:
        args += ["-D", d]
    p = subprocess.run(args, capture_output=True, timeout=30)
    out = p.stdout.decode() + p.stderr.decode()
    assert p.returncode == 0, out
    assert "Define: SSE_DB=/var/lib/myapp/app.db" in out, out
    assert ("Define: SSE_AUTH_MODE=jwt" in out) == ("SSE_JWT" in defines)


def test_apache_example_refuses_server_level_modules():
    """It loads no module itself (LoadModule is not allowed in a
    <VirtualHost>), and names the Debian package of mod_fcgid."""
    text = harness.APACHE_EXAMPLE.read_text()
    assert not re.search(r"^\s*LoadModule", text, re.M)
    assert "libapache2-mod-fcgid" in text
    assert "<VirtualHost" in text


def test_lighttpd_example_is_valid_as_shipped():
    """As a user tries it: examples/lighttpd/standalone.conf, which
    includes the example, run from the top of the repository."""
    harness.require_program(harness.LIGHTTPD)
    p = subprocess.run([harness.LIGHTTPD, "-tt", "-f",
                        "examples/lighttpd/standalone.conf"],
                       capture_output=True, timeout=30, cwd=harness.ROOT)
    assert p.returncode == 0, p.stdout + p.stderr


@pytest.mark.parametrize("section", harness.Lighttpd.MODES)
def test_lighttpd_example_sections(base_dir, section):
    """Each section, switched on the way a user would (uncommented, the
    others commented out), is valid and is the only handler."""
    text = harness.select_sections(harness.LIGHTTPD_EXAMPLE.read_text(),
                                   section, "lighttpd-example.conf")
    conf = base_dir / f"lighttpd-{section}.conf"
    conf.write_text(harness.lighttpd_basics(8080, base_dir) + text)
    p = subprocess.run([harness.LIGHTTPD, "-tt", "-f", str(conf)],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr
    active = [line for line in text.splitlines()
              if line and not line.lstrip().startswith("#")]
    handlers = [line for line in active
                if line.startswith(("fastcgi.server", "\tcgi.assign"))]
    assert len(handlers) == 1, handlers
    assert ("bin-path" in "\n".join(active)) == (section == "fastcgi-spawn")
    if section == "fastcgi-spawn":
        # As shipped, this is the active one.
        assert text == harness.LIGHTTPD_EXAMPLE.read_text()


def test_nginx_example(base_dir):
    """Valid for nginx (paths moved into a scratch directory), with the
    settings an event stream needs."""
    harness.require_program(harness.NGINX)
    text = harness.NGINX_EXAMPLE.read_text()
    for directive, value in (("fastcgi_buffering", "off"),
                             ("gzip", "off"),
                             ("fastcgi_read_timeout", "60s")):
        assert re.search(rf"^\s*{directive} {value};", text, re.M), directive
    for absent in ("fastcgi_keep_conn", "fastcgi_ignore_client_abort on",
                   "fastcgi_ignore_headers"):
        assert not re.search(rf"^\s*{absent}", text, re.M), absent
    assert re.search(r"^worker_shutdown_timeout \d+s;", text, re.M)
    d = harness.make_dir(base_dir / "nginx-check")
    conf = d / "nginx.conf"
    conf.write_text(harness.render_nginx(text, {
        "pid": str(d / "nginx.pid"),
        "error_log": str(d / "error.log"),
        "access_log": str(d / "access.log"),
    }))
    p = subprocess.run([harness.NGINX, "-t", "-c", str(conf), "-p",
                        str(d), "-e", str(d / "error.log")],
                       capture_output=True, timeout=30)
    assert p.returncode == 0, p.stdout + p.stderr


def test_lighttpd_example_settings():
    text = harness.LIGHTTPD_EXAMPLE.read_text()
    v = dict(re.findall(r'^var\.(\w+)\s*=\s*"?([^"\s]*)"?', text, re.M))
    for name in ("sse_bin", "sse_db", "sse_socket"):
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
