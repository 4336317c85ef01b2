# SPDX-License-Identifier: BSD-2-Clause
"""The browser helper as a package (js/): the committed builds are what
js/build.mjs makes from js/src; each build loads as what it claims to be
(ES module, CommonJS, classic script) and carries the version banner and
the license; `npm pack` gives a tarball that installs into a Vite
application (tests/vite-app, versions locked in its package-lock.json),
whose TypeScript checks of the declarations pass, whose `vite build`
bundles the helper, and whose bundle, served from a second origin,
receives rows from the demo's stream in Chromium."""

import json
import os
import shutil
import subprocess

import pytest

import browser
import harness

ROOT = harness.ROOT
JS = ROOT / "js"
DIST = JS / "dist"
VITE_APP = ROOT / "tests" / "vite-app"
NODE = browser.NODE
NPM = shutil.which("npm") or "/usr/bin/npm"
NPM_TIMEOUT = 600


def run(args, cwd, timeout=120, env=None):
    p = subprocess.run(args, cwd=str(cwd), capture_output=True, text=True,
                       timeout=timeout, env=dict(os.environ, **(env or {})),
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, (f"{' '.join(map(str, args))} in {cwd} "
                               f"exited {p.returncode}:\n{p.stdout[-4000:]}"
                               f"\n{p.stderr[-4000:]}")
    return p.stdout


def version():
    return json.loads((JS / "package.json").read_text())["version"]


def test_dist_is_built_from_the_source():
    harness.require_program(NODE)
    run([NODE, str(JS / "build.mjs"), "--check"], JS)
    license_line = (JS / "LICENSE").read_text().splitlines()[0]
    for name in ("sse-outbox.mjs", "sse-outbox.cjs", "sse-outbox.js",
                 "sse-outbox.d.ts", "sse-outbox.d.mts", "sse-outbox.d.cts"):
        head = (DIST / name).read_text()[:2000]
        assert head.startswith("/*!\n * sse-outbox " + version()), name
        assert license_line in head, name

    # Each build as its consumers load it.
    out = run([NODE, "-e", """
const vm = require('vm');
const fs = require('fs');
const cjs = require('./dist/sse-outbox.cjs');
const sandbox = { EventTarget, Event, URL, Promise, console };
sandbox.globalThis = sandbox;
vm.runInNewContext(fs.readFileSync('./dist/sse-outbox.js', 'utf8'), sandbox);
import('./dist/sse-outbox.mjs').then((esm) => {
  console.log(JSON.stringify({
    cjs: [typeof cjs, cjs.OPEN, cjs.default === cjs],
    script: [typeof sandbox.SSEOutbox, sandbox.SSEOutbox.CLOSED],
    esm: [typeof esm.default, esm.default.CONNECTING],
  }));
});
"""], JS)
    assert json.loads(out) == {"cjs": ["function", 1, True],
                               "script": ["function", 2],
                               "esm": ["function", 0]}


@pytest.fixture
def agent():
    a = browser.Agent()
    yield a
    a.close()


def test_npm_pack_installs_into_a_vite_app(tmp_path, agent):
    harness.require_program(NPM)
    # npm pack (its prepack script checks dist/ again).
    packed = run([NPM, "pack", "--json", "--pack-destination", str(tmp_path)],
                 JS, timeout=NPM_TIMEOUT)
    info = json.loads(packed[packed.index("["):])[0]
    tarball = tmp_path / info["filename"]
    assert info["name"] == "sse-outbox" and info["version"] == version()
    files = sorted(f["path"] for f in info["files"])
    assert files == sorted(["LICENSE", "README.md", "package.json"] +
                           [f"dist/{n}" for n in os.listdir(DIST)]), files

    # The application, its locked dependencies, then the tarball.
    app = tmp_path / "app"
    shutil.copytree(VITE_APP, app, ignore=shutil.ignore_patterns(
        "node_modules", "dist"))
    run([NPM, "ci", "--no-audit", "--no-fund", "--prefer-offline"], app,
        timeout=NPM_TIMEOUT)
    run([NPM, "install", "--no-save", "--no-audit", "--no-fund",
         str(tarball)], app, timeout=NPM_TIMEOUT)
    installed = json.loads((app / "node_modules" / "sse-outbox" /
                            "package.json").read_text())
    assert installed["version"] == version()

    # The declarations, as `import` and as `require` see them.
    run([str(app / "node_modules" / ".bin" / "tsc"), "-p", "."], app)

    # The bundle has the helper in it.
    run([str(app / "node_modules" / ".bin" / "vite"), "build"], app,
        timeout=NPM_TIMEOUT)
    bundles = list((app / "dist" / "assets").glob("*.js"))
    assert len(bundles) == 1, bundles
    text = bundles[0].read_text()
    for needle in ("sse-outbox ", "auth-error", "lastEventId"):
        assert needle in text, needle

    # And it runs: served from a second origin, reading the demo's stream.
    site = browser.StaticSite(app / "dist")
    demo = browser.Demo(env={"SSE_CORS_ORIGINS": site.origin})
    try:
        demo.start()
        src = f"{demo.url}sse?user=vite"
        page = agent.new_page(f"{site.origin}/index.html?src={src}")
        agent.wait_for(page, "document.getElementById('state').textContent"
                             " === 'open'", timeout=20)
        row = demo.insert("vite", "notice", "from the bundle")
        assert agent.wait_for(page, "app.rows.length >= 1 && app.rows") == [
            [str(row), "from the bundle"]]
        assert agent.eval(page, "app.stream.sharing") == "locks"
    finally:
        demo.close()
        site.close()
