// SPDX-License-Identifier: BSD-2-Clause
// Browser agent for the integration tests: drives Debian's headless
// Chromium (playwright-core, never a downloaded browser) and the
// `eventsource` npm client on behalf of a pytest test.
//
// Protocol: one JSON object per line on stdin, one answer per line on
// stdout, in order:
//   -> {"id": 1, "op": "newPage", "url": "http://..."}
//   <- {"id": 1, "ok": true, "value": "p1"}
//   <- {"id": 2, "ok": false, "error": "..."}
// stderr carries the log (page console lines, page errors, requests).
// Every operation has a timeout; the agent exits when stdin closes,
// closing the browser (which ends every process it started).
//
// Ops:
//   newPage {url, init?}            open a page in the one browser context
//                                   (init: JS run before any page script);
//                                   returns a page id
//   goto {page, url}                navigate
//   eval {page, expr}               evaluate an expression, return its
//                                   JSON value (awaits promises)
//   waitFor {page, expr, timeout}   until expr is truthy; returns its value
//   screenshot {page, path}         save a PNG of the page (for debugging)
//   closePage {page}                close it as a user closing a tab
//   requests {match}                requests made by every page so far
//                                   whose URL contains match:
//                                   [{url, method, lastEventId}]
//   esOpen {url, lastEventId?}      an `eventsource` client (Node); with
//                                   lastEventId, sent as Last-Event-ID
//   esState {es}                    {readyState, events, errors, opens}
//   esClose {es}
//   quit {}

import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { EventSource } from 'eventsource';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const OP_TIMEOUT = 15000;        // ms, the longest any single op may take
const log = (...a) => process.stderr.write(a.join(' ') + '\n');

let browser = null;             // the persistent BrowserContext
const pages = new Map();         // id -> Page
const sources = new Map();       // id -> {es, events, errors, opens}
const requested = [];            // every request any page made
let serial = 0;
let version = '?';
let profile = null;

async function launch() {
  // A fresh profile directory of our own (playwright passes it as
  // --user-data-dir); every page shares this one context.
  profile = mkdtempSync(join(tmpdir(), 'sse-outbox-chromium-'));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    timeout: OP_TIMEOUT,
    // The demo pages forbid eval; the tests' waitFor expressions need it.
    bypassCSP: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
      '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
  browser.on('request', (r) => {
    const rec = { url: r.url(), method: r.method(), lastEventId: null };
    requested.push(rec);
    log(`request: ${r.method()} ${r.url()}`);
    // Headers the network stack added (Last-Event-ID among them) are only
    // in allHeaders(), which resolves once they were sent.
    r.allHeaders().then((h) => {
      if (h['last-event-id'] !== undefined) {
        rec.lastEventId = h['last-event-id'];
        log(`request: ${r.url()} had Last-Event-ID: ${rec.lastEventId}`);
      }
    }, () => {});
  });
  version = browser.browser() ? browser.browser().version() : '?';
  log('agent: chromium', version);
}

function page(id) {
  const p = pages.get(id);
  if (!p) throw new Error(`no page ${id}`);
  return p;
}

const ops = {
  async newPage({ url, init }) {
    const p = await browser.newPage();
    const id = 'p' + (++serial);
    p.on('console', (m) => log(`console[${id}]: ${m.type()}: ${m.text()}`));
    p.on('pageerror', (e) => log(`pageerror[${id}]: ${e}`));
    if (init) await p.addInitScript(init);
    pages.set(id, p);
    if (url) await p.goto(url, { timeout: OP_TIMEOUT });
    return id;
  },

  async goto({ page: id, url }) {
    await page(id).goto(url, { timeout: OP_TIMEOUT });
    return true;
  },

  async eval({ page: id, expr }) {
    return page(id).evaluate(expr);
  },

  async waitFor({ page: id, expr, timeout }) {
    const h = await page(id).waitForFunction(expr, null,
      { timeout: Math.min(timeout || 10000, 60000), polling: 50 });
    return h.jsonValue();
  },

  async screenshot({ page: id, path }) {
    await page(id).screenshot({ path, fullPage: true, timeout: OP_TIMEOUT });
    return path;
  },

  async closePage({ page: id }) {
    await page(id).close({ runBeforeUnload: true });
    pages.delete(id);
    return true;
  },

  async requests({ match }) {
    return requested.filter((r) => r.url.includes(match || ''));
  },

  async esOpen({ url, lastEventId }) {
    const id = 'es' + (++serial);
    const rec = { events: [], errors: [], opens: 0, es: null };
    // The client sets Last-Event-ID itself on its own reconnects, once it
    // has seen an id; a first connection can only carry one through a
    // custom fetch (which must not override the client's own).
    const init = lastEventId === undefined ? {} : {
      fetch: (u, o) => fetch(u, { ...o,
        headers: { 'Last-Event-ID': String(lastEventId), ...o.headers } }),
    };
    const es = new EventSource(url, init);
    rec.es = es;
    const push = (e) => rec.events.push(
      { type: e.type, id: e.lastEventId, data: e.data });
    es.onmessage = push;
    for (const t of ['notice', 'order', 'alert', 'reset']) {
      es.addEventListener(t, push);
    }
    es.onopen = () => { rec.opens++; };
    es.onerror = (e) => rec.errors.push(
      { message: String(e.message || ''), code: e.code ?? null,
        readyState: es.readyState });
    sources.set(id, rec);
    return id;
  },

  async esState({ es: id }) {
    const rec = sources.get(id);
    if (!rec) throw new Error(`no eventsource ${id}`);
    return { readyState: rec.es.readyState, events: rec.events,
      errors: rec.errors, opens: rec.opens };
  },

  async esClose({ es: id }) {
    const rec = sources.get(id);
    if (rec) rec.es.close();
    sources.delete(id);
    return true;
  },
};

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function shutdown(code) {
  for (const rec of sources.values()) rec.es.close();
  if (browser) {
    await withTimeout(browser.close(), OP_TIMEOUT, 'browser.close')
      .catch((e) => log('agent: close:', e.message));
  }
  if (profile) rmSync(profile, { recursive: true, force: true });
  process.exit(code);
}

async function main() {
  try {
    await launch();
  } catch (e) {
    process.stdout.write(JSON.stringify({ id: 0, ok: false,
      error: 'cannot start chromium: ' + e.message }) + '\n');
    await shutdown(1);
  }
  process.stdout.write(JSON.stringify({ id: 0, ok: true,
    value: version }) + '\n');
  const rl = createInterface({ input: process.stdin });
  let chain = Promise.resolve();   // one op at a time, answers in order
  rl.on('line', (line) => {
    chain = chain.then(async () => {
      let msg;
      try {
        msg = JSON.parse(line);
      } catch (e) {
        process.stdout.write(JSON.stringify({ id: null, ok: false,
          error: 'bad JSON: ' + e.message }) + '\n');
        return;
      }
      if (msg.op === 'quit') {
        process.stdout.write(JSON.stringify({ id: msg.id, ok: true }) + '\n');
        await shutdown(0);
      }
      const fn = ops[msg.op];
      let reply;
      try {
        if (!fn) throw new Error(`unknown op ${msg.op}`);
        const limit = Math.max(OP_TIMEOUT, (msg.timeout || 0) + 5000);
        const value = await withTimeout(fn(msg), limit, msg.op);
        reply = { id: msg.id, ok: true, value: value === undefined ? null : value };
      } catch (e) {
        reply = { id: msg.id, ok: false, error: String(e && e.message || e) };
      }
      process.stdout.write(JSON.stringify(reply) + '\n');
    });
  });
  rl.on('close', () => { chain.then(() => shutdown(0)); });
}

process.on('SIGTERM', () => shutdown(1));
main();
