/*!
 * sse-outbox 0.1.0 (script): One Server-Sent Events stream shared by every tab, with token refresh, for the sse-outbox server
 * Built by js/build.mjs from js/src/; edit the source, not this file.
 *
 * BSD 2-Clause License
 *
 * Copyright (c) 2026, the sse-outbox authors
 *
 * Redistribution and use in source and binary forms, with or without
 * modification, are permitted provided that the following conditions are met:
 *
 * 1. Redistributions of source code must retain the above copyright notice, this
 *    list of conditions and the following disclaimer.
 *
 * 2. Redistributions in binary form must reproduce the above copyright notice,
 *    this list of conditions and the following disclaimer in the documentation
 *    and/or other materials provided with the distribution.
 *
 * THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
 * AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
 * IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE ARE
 * DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE LIABLE
 * FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR CONSEQUENTIAL
 * DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF SUBSTITUTE GOODS OR
 * SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS INTERRUPTION) HOWEVER
 * CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN CONTRACT, STRICT LIABILITY,
 * OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE) ARISING IN ANY WAY OUT OF THE USE
 * OF THIS SOFTWARE, EVEN IF ADVISED OF THE POSSIBILITY OF SUCH DAMAGE.
 */
(function () {
// SPDX-License-Identifier: BSD-2-Clause
/*
 * sse-outbox: one Server-Sent Events stream shared by every tab.
 *
 * Browsers open at most about six HTTP/1.1 connections per origin, so a
 * user with seven tabs, each holding its own EventSource, hangs. With
 * this helper the tabs of one origin elect one leader that holds the only
 * EventSource for a stream and relays every event to the others over a
 * BroadcastChannel. When the leader tab closes, another one takes over
 * and resumes from the last event id the tabs have seen (sent as
 * ?lastEventId=, since an EventSource cannot set headers), so nothing is
 * lost; every tab drops ids it has already delivered, so nothing is
 * repeated.
 *
 *   const s = new SSEOutbox('/events');
 *   s.addEventListener('notice', (e) => show(JSON.parse(e.data)));
 *   s.onmessage = (e) => console.log(e.lastEventId, e.data);
 *   s.close();
 *
 * Tokens expire while a page stays open: give a `token` function (or a
 * function as the URL) and it is called before every connection; a
 * stream the server refuses with 401/403 twice in a row fires
 * 'auth-error' and stops instead of retrying forever.
 *
 * The election uses Web Locks (navigator.locks, one lock per stream);
 * where they are missing it falls back to an election over the
 * BroadcastChannel with heartbeats, and where BroadcastChannel is missing
 * each tab holds a plain EventSource of its own. Ids are the outbox's:
 * decimal integers that only grow.
 *
 * This is the one source of the package: js/build.mjs makes the ES
 * module, the CommonJS module and the classic <script> from it. No
 * dependencies. The full description is docs/browser.md.
 */
'use strict';

var root = typeof globalThis !== 'undefined' ? globalThis : self;

var CONNECTING = 0;
var OPEN = 1;
var CLOSED = 2;
var PREFIX = 'sse-outbox ';
// Events of the object itself, not types to ask the stream for.
var OWN_TYPES = { open: 1, error: 1, leaderchange: 1, 'auth-error': 1 };

// Fallback election (no Web Locks), in milliseconds.
var HEARTBEAT_MS = 1000;      // the leader says it is alive
var SUSPECT_MS = 2500;        // silence before a follower pings it
var PING_WAIT_MS = 1000;      // then waits this long for an answer
var CLAIM_WAIT_MS = 300;      // an election collects claims this long
var HELLO_WAIT_MS = 400;      // a new tab waits this long for a leader

var RETRY_MS = 1000;          // the helper's own reconnects: first delay,
var RETRY_MAX_MS = 30000;     // doubled after each failure up to this
var AUTH_TRIES = 2;           // 401/403 in a row before 'auth-error'

function isId(s) {
  return typeof s === 'string' && /^[0-9]+$/.test(s);
}

// Compare two decimal id strings of any length: <0, 0, >0.
function compareIds(a, b) {
  a = a.replace(/^0+(?=.)/, '');
  b = b.replace(/^0+(?=.)/, '');
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

function randomId() {
  if (root.crypto && root.crypto.randomUUID) return root.crypto.randomUUID();
  return Date.now().toString(36) + '-' +
    Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2);
}

function makeEvent(type, init) {
  if (typeof MessageEvent === 'function') return new MessageEvent(type, init);
  var e = new Event(type);
  e.data = init.data;
  e.lastEventId = init.lastEventId;
  e.origin = init.origin;
  return e;
}

function pageUrl() {
  return root.location ? root.location.href : undefined;
}

// The default sharing name: the stream's URL without query and fragment,
// so that tabs whose URLs carry their own token (?token=...) still share.
function streamName(href) {
  var u = new URL(href);
  u.search = '';
  u.hash = '';
  return u.href;
}

/*
 * new SSEOutbox(url, options)
 *   url      the stream's URL (relative to the page, like EventSource), or
 *            a function ({lastEventId, authFailed}) returning it (or a
 *            Promise of it), called before every connection; a function
 *            needs options.name
 *   options  {
 *     lastEventId: 'N'      resume after id N (the page rendered up to N);
 *                           a lastEventId query parameter in url works too
 *     withCredentials: bool passed to EventSource (cross-origin cookies)
 *     events: ['notice']    event types to ask for before any listener is
 *                           added (addEventListener adds its type anyway)
 *     token: function       ({lastEventId, authFailed}) -> token or a
 *                           Promise of it, called before every connection;
 *                           sent as the query parameter `token`
 *     retry: ms             first delay of the helper's own reconnects
 *     name: 'string'        lock and channel name; default: the absolute
 *                           URL without its query and fragment
 *     election: 'auto'      'locks', 'broadcast' or 'none' to force one
 *   }
 */
// An EventTarget of its own, so that listeners see e.target === it.
class SSEOutbox extends EventTarget {
  constructor(url, options) {
    super();
    this._init(url, options || {});
  }
}

var proto = SSEOutbox.prototype;
var addListener = EventTarget.prototype.addEventListener;

proto._init = function (url, options) {
  var first = options.lastEventId !== undefined && options.lastEventId !== null
    ? String(options.lastEventId) : null;

  this._urlFn = null;
  if (typeof url === 'function') {
    if (!options.name) {
      throw new TypeError('SSEOutbox: a URL function needs options.name');
    }
    this._urlFn = url;
    this.url = '';
  } else {
    var u = new URL(String(url), pageUrl());
    var fromUrl = u.searchParams.get('lastEventId');
    u.searchParams.delete('lastEventId');
    this.url = u.href;
    if (first === null) first = fromUrl;
  }
  if (options.token !== undefined && typeof options.token !== 'function') {
    throw new TypeError('SSEOutbox: options.token must be a function');
  }
  this._tokenFn = options.token || null;
  // With a provider the helper makes every connection itself; without
  // one the browser's own reconnects (with Last-Event-ID) are used.
  this._dynamic = !!(this._urlFn || this._tokenFn);
  this._retryMin = typeof options.retry === 'number' && options.retry >= 0
    ? options.retry : RETRY_MS;

  this.withCredentials = !!options.withCredentials;
  this.readyState = CONNECTING;
  this.isLeader = false;
  this.lastEventId = '';
  if (first !== null && first !== '') {
    if (!isId(first)) throw new SyntaxError('lastEventId must be digits');
    this.lastEventId = first;
  }

  this.name = options.name ? String(options.name) : streamName(this.url);
  this._name = PREFIX + this.name;
  this._tab = randomId();
  this._types = { message: 1 };
  (options.events || []).forEach(function (t) { this._types[t] = 1; }, this);
  this._listening = {};        // types the leader's EventSource listens to
  this._handlers = {};         // on<type> properties
  this._closed = false;
  this._es = null;
  this._gen = 0;               // bumped to forget pending connects
  this._retryTimer = null;
  this._retryMs = this._retryMin;
  this._authFails = 0;         // 401/403 in a row
  this._authStatus = 0;        // the status of the last 'auth-error'
  this._release = null;        // resolves the held Web Lock
  this._abort = null;          // cancels a pending lock request
  this._channel = null;

  var self = this;
  this._onSourceEvent = function (e) { self._fromSource(e); };

  var method = options.election || 'auto';
  var locks = root.navigator && root.navigator.locks;
  var sharing = locks ? 'locks' : 'broadcast';
  if (method === 'none' || (method === 'locks' && !locks)) {
    sharing = 'none';
  } else if (method === 'broadcast') {
    sharing = 'broadcast';
  }
  if (sharing !== 'none') {
    try {
      this._channel = new BroadcastChannel(this._name);
      this._channel.onmessage = function (m) { self._fromChannel(m.data); };
    } catch (err) {
      // No BroadcastChannel (older Safari, some embedded views): no
      // sharing, a plain EventSource in this tab.
      this._channel = null;
      sharing = 'none';
    }
  }
  this.sharing = sharing;
  this._useLocks = sharing === 'locks';

  if (sharing === 'none') {
    // Lead after the caller has added its listeners, as with a lock.
    Promise.resolve().then(function () { self._lead(); });
    return;
  }
  this._post({ k: 'hello', types: Object.keys(this._types),
    lastEventId: this.lastEventId });
  if (this._useLocks) {
    this._electWithLock(locks);
  } else {
    this._electWithChannel();
  }
};

SSEOutbox.CONNECTING = SSEOutbox.prototype.CONNECTING = CONNECTING;
SSEOutbox.OPEN = SSEOutbox.prototype.OPEN = OPEN;
SSEOutbox.CLOSED = SSEOutbox.prototype.CLOSED = CLOSED;

proto.addEventListener = function (type, listener, options) {
  type = String(type);
  addListener.call(this, type, listener, options);
  this._want(type);
};

['message', 'open', 'error'].forEach(function (t) {
  Object.defineProperty(proto, 'on' + t, {
    get: function () { return this._handlers[t] || null; },
    set: function (fn) {
      var self = this;
      if (!(t in this._handlers)) {
        addListener.call(this, t, function (e) {
          var h = self._handlers[t];
          if (typeof h === 'function') h.call(self, e);
        });
      }
      this._handlers[t] = typeof fn === 'function' ? fn : null;
    },
  });
});

// Connect again now, calling the providers: after 'auth-error' once the
// user has logged in again, or when the page has a new token. Any tab may
// call it; the leader does it.
proto.reconnect = function () {
  if (this._closed) return;
  if (!this.isLeader) {
    this._post({ k: 'reconnect' });
    return;
  }
  // After 'auth-error' the providers are told (authFailed) to refresh.
  this._authFails = this._authStatus ? 1 : 0;
  this._retryMs = this._retryMin;
  this._disconnect();
  this._connect();
};

// Stop: this tab leaves; if it led, another tab takes over.
proto.close = function () {
  if (this._closed) return;
  this._closed = true;
  this._stopLeading(true);
  if (this._abort) this._abort.abort();
  if (this._release) this._release();
  this._release = null;
  clearInterval(this._tick);
  clearTimeout(this._electTimer);
  if (this._pagehide) root.removeEventListener('pagehide', this._pagehide);
  if (this._channel) this._channel.close();
  this.readyState = CLOSED;
};

// ---- events in ----

// Ask the stream for a type (every tab learns every tab's types, so a
// new leader listens for all of them from its first event on).
proto._want = function (type) {
  if (OWN_TYPES[type] || this._types[type]) return;
  this._types[type] = 1;
  this._post({ k: 'types', types: [type] });
  if (this._es) this._listen(type);
};

proto._learnTypes = function (types) {
  (types || []).forEach(function (t) {
    if (OWN_TYPES[t]) return;
    this._types[t] = 1;
    if (this._es) this._listen(t);
  }, this);
};

proto._listen = function (type) {
  if (this._listening[type]) return;
  this._listening[type] = 1;
  this._es.addEventListener(type, this._onSourceEvent);
};

// From the leader's EventSource: relay, then deliver here.
proto._fromSource = function (e) {
  var msg = { k: 'event', type: e.type, data: e.data, id: e.lastEventId,
    origin: e.origin };
  this._post(msg);
  this._deliver(msg);
};

// Deliver an event once: an id at or below the last one delivered is a
// repeat (the outbox's ids only grow). "reset" carries no id of its own.
proto._deliver = function (m) {
  if (this._closed) return;
  if (m.type !== 'reset' && isId(m.id)) {
    if (this.lastEventId !== '' && compareIds(m.id, this.lastEventId) <= 0) {
      return;
    }
    this.lastEventId = m.id;
  }
  this.dispatchEvent(makeEvent(m.type, { data: m.data,
    lastEventId: m.id || '', origin: m.origin || '' }));
};

proto._setState = function (state, relay) {
  var was = this.readyState;
  this.readyState = state;
  if (relay) this._post({ k: 'state', readyState: state });
  if (state === OPEN && was !== OPEN) this.dispatchEvent(new Event('open'));
  if (state !== OPEN && (was === OPEN || relay)) {
    this.dispatchEvent(new Event('error'));
  }
};

// The server refused the stream for good: CLOSED, and 'auth-error' with
// the HTTP status, in every tab.
proto._authError = function (status) {
  this.readyState = CLOSED;
  this._authStatus = status;
  var e = new Event('auth-error');
  e.status = status;
  this.dispatchEvent(e);
};

proto._post = function (msg) {
  if (!this._channel || (this._closed && msg.k !== 'resign')) return;
  msg.from = this._tab;
  try {
    this._channel.postMessage(msg);
  } catch (err) {
    // A closed channel: this tab is going away.
  }
};

proto._fromChannel = function (m) {
  if (this._closed || !m || m.from === this._tab) return;
  switch (m.k) {
  case 'event':
    this._deliver(m);
    break;
  case 'state':
    if (!this.isLeader) this._setState(m.readyState, false);
    break;
  case 'auth-error':
    if (!this.isLeader) this._authError(m.status);
    break;
  case 'reconnect':
    if (this.isLeader) this.reconnect();
    break;
  case 'types':
    this._learnTypes(m.types);
    break;
  case 'hello':
    this._learnTypes(m.types);
    if (this.isLeader) {
      this._post({ k: 'welcome', to: m.from, types: Object.keys(this._types),
        lastEventId: this.lastEventId, readyState: this.readyState,
        authStatus: this._authStatus });
    }
    break;
  case 'welcome':
    if (m.to !== this._tab) break;
    this._learnTypes(m.types);
    this._sawLeader(m.from);
    // A new tab starts where the stream is, like a new EventSource.
    if (this.lastEventId === '' && isId(m.lastEventId)) {
      this.lastEventId = m.lastEventId;
    }
    if (!this.isLeader) this._setState(m.readyState, false);
    if (!this.isLeader && m.authStatus) this._authError(m.authStatus);
    break;
  default:
    if (!this._useLocks) this._electionMessage(m);
  }
};

// ---- leading: the one connection ----

proto._lead = function () {
  if (this._closed || this.isLeader) return;
  this.isLeader = true;
  this.dispatchEvent(new Event('leaderchange'));
  this._connect();
};

// Resolve the URL (and token) for this connection, then open it. Each
// connection has a generation; anything that answers for an older one
// (a slow provider, a probe) is ignored.
proto._connect = function () {
  var self = this;
  var gen = ++this._gen;
  var info = { lastEventId: this.lastEventId, authFailed: this._authFails > 0 };
  var url = new Promise(function (resolve) {
    resolve(self._urlFn ? self._urlFn(info) : self.url);
  });
  var token = url.then(function () {
    return self._tokenFn ? self._tokenFn(info) : undefined;
  });
  Promise.all([url, token]).then(function (got) {
    if (gen !== self._gen || !self.isLeader || self._closed) return;
    if (got[0] === undefined || got[0] === null || got[0] === '') {
      throw new TypeError('SSEOutbox: the URL function gave no URL');
    }
    var u = new URL(String(got[0]), pageUrl());
    u.searchParams.delete('lastEventId');
    if (self._urlFn) self.url = u.href;
    if (self._tokenFn) {
      if (got[1] === undefined || got[1] === null || got[1] === '') {
        u.searchParams.delete('token');
      } else {
        u.searchParams.set('token', String(got[1]));
      }
    }
    if (self.lastEventId !== '') {
      u.searchParams.set('lastEventId', self.lastEventId);
    }
    self._openSource(u.href);
  }).catch(function (err) {
    if (gen !== self._gen || !self.isLeader || self._closed) return;
    // A provider that failed (its refresh request did not get through):
    // like a failed connection, try again later.
    if (root.console) root.console.warn('SSEOutbox:', err);
    self._setState(CONNECTING, true);
    self._later();
  });
};

proto._openSource = function (href) {
  var self = this;
  var es = new EventSource(href, { withCredentials: this.withCredentials });
  this._es = es;
  this._listening = {};
  for (var t in this._types) this._listen(t);
  es.onopen = function () {
    if (self._es !== es) return;
    self._retryMs = self._retryMin;
    self._authFails = 0;
    self._authStatus = 0;
    self._setState(OPEN, true);
  };
  es.onerror = function () {
    if (self._es !== es) return;
    var gaveUp = es.readyState === CLOSED;
    if (!gaveUp && !self._dynamic) {
      // The browser reconnects by itself with Last-Event-ID.
      self._setState(CONNECTING, true);
      return;
    }
    self._disconnect();
    self._setState(CONNECTING, true);
    if (gaveUp) {
      // An HTTP error (401, 503, ...) or a refused CORS check: the
      // EventSource does not say which; ask with HEAD.
      self._probe(href, self._gen);
    } else {
      // The stream ended or the network dropped: connect again through
      // the providers, which may give a fresh token.
      self._later();
    }
  };
};

// The status a GET of href would get, without holding a stream (the
// responder answers HEAD with the head only). 401/403 are an auth
// failure; anything else, a network error included, is retried later.
proto._probe = function (href, gen) {
  var self = this;
  if (typeof root.fetch !== 'function') {
    this._later();
    return;
  }
  root.fetch(href, { method: 'HEAD', cache: 'no-store',
    credentials: this.withCredentials ? 'include' : 'same-origin' })
    .then(function (r) { return r.status; }, function () { return 0; })
    .then(function (status) {
      if (gen !== self._gen || !self.isLeader || self._closed) return;
      if (status !== 401 && status !== 403) {
        self._later();
        return;
      }
      self._authFails++;
      if (self._authFails < AUTH_TRIES) {
        // Once more at once; the providers see authFailed: true.
        self._connect();
        return;
      }
      self._post({ k: 'auth-error', status: status });
      self._authError(status);
    });
};

// Connect again after the current delay, doubling it for next time.
proto._later = function () {
  var self = this;
  var delay = this._retryMs;
  this._retryMs = Math.min(Math.max(this._retryMs * 2, 1), RETRY_MAX_MS);
  clearTimeout(this._retryTimer);
  this._retryTimer = setTimeout(function () {
    self._retryTimer = null;
    if (self.isLeader && !self._closed) self._connect();
  }, delay);
};

proto._disconnect = function () {
  this._gen++;
  if (this._retryTimer) clearTimeout(this._retryTimer);
  this._retryTimer = null;
  if (this._es) this._es.close();
  this._es = null;
};

proto._stopLeading = function (resign) {
  this._disconnect();
  if (!this.isLeader) return;
  this.isLeader = false;
  if (resign) this._post({ k: 'resign', lastEventId: this.lastEventId });
  if (!this._closed) this.dispatchEvent(new Event('leaderchange'));
};

// ---- election with Web Locks: the lock holder leads until it closes
// or its page goes away, then the next tab waiting for it gets it ----

proto._electWithLock = function (locks) {
  var self = this;
  var opts = {};
  if (typeof AbortController === 'function') {
    this._abort = new AbortController();
    opts.signal = this._abort.signal;
  }
  locks.request(this._name, opts, function () {
    if (self._closed) return undefined;
    return new Promise(function (resolve) {
      self._release = resolve;
      self._lead();
    });
  }).catch(function (err) {
    if (err && err.name === 'AbortError') return;
    // Locks refused (an opaque origin, say): elect over the channel.
    self._useLocks = false;
    self.sharing = 'broadcast';
    self._electWithChannel();
  });
};

// ---- fallback election over the BroadcastChannel ----
//
// The leader posts a heartbeat every HEARTBEAT_MS, answers pings at
// once, and posts "resign" when it closes or its page is hidden for
// good. A follower that hears nothing for SUSPECT_MS pings; with no
// answer within PING_WAIT_MS (or after "resign") it claims; after
// CLAIM_WAIT_MS the smallest tab id among the claims leads. Two leaders
// (a frozen tab waking up) resolve the same way; until then each tab
// still drops repeated ids.

proto._electWithChannel = function () {
  var self = this;
  this._leader = null;
  this._leaderSeen = 0;
  this._pinged = 0;
  this._claims = null;
  this._tick = setInterval(function () { self._check(); }, HEARTBEAT_MS / 2);
  this._pagehide = function (e) {
    if (!e.persisted) self.close();
  };
  root.addEventListener('pagehide', this._pagehide);
  // A leader answers our hello with "welcome"; without one, elect.
  this._electTimer = setTimeout(function () {
    if (!self._leader && !self.isLeader) self._claim();
  }, HELLO_WAIT_MS);
};

proto._sawLeader = function (tab) {
  if (this._useLocks) return;
  this._leader = tab;
  this._leaderSeen = Date.now();
  this._pinged = 0;
};

proto._check = function () {
  if (this._closed) return;
  var now = Date.now();
  if (this.isLeader) {
    this._post({ k: 'heartbeat' });
    return;
  }
  if (this._claims || !this._leaderSeen) return;
  var quiet = now - this._leaderSeen;
  if (quiet < SUSPECT_MS) return;
  if (!this._pinged) {
    this._pinged = now;
    this._post({ k: 'ping' });
  } else if (now - this._pinged >= PING_WAIT_MS) {
    this._claim();
  }
};

proto._claim = function () {
  if (this._closed || this.isLeader || this._claims) return;
  var self = this;
  this._claims = {};
  this._claims[this._tab] = 1;
  this._post({ k: 'claim' });
  this._electTimer = setTimeout(function () {
    var claims = self._claims;
    self._claims = null;
    if (self._closed || !claims) return;
    var winner = Object.keys(claims).sort()[0];
    if (winner === self._tab) {
      self._lead();
      self._post({ k: 'heartbeat' });
    } else {
      // Give the winner time to speak before suspecting it.
      self._leader = winner;
      self._leaderSeen = Date.now();
      self._pinged = 0;
    }
  }, CLAIM_WAIT_MS);
};

proto._electionMessage = function (m) {
  switch (m.k) {
  case 'heartbeat':
    if (this.isLeader) {
      // Two leaders: the smaller tab id keeps the stream.
      if (m.from < this._tab) {
        this._stopLeading(false);
        this._sawLeader(m.from);
      } else {
        this._post({ k: 'heartbeat' });
      }
      return;
    }
    this._claims = null;
    clearTimeout(this._electTimer);
    this._sawLeader(m.from);
    break;
  case 'ping':
    if (this.isLeader) this._post({ k: 'heartbeat' });
    break;
  case 'claim':
    if (this.isLeader) {
      this._post({ k: 'heartbeat' });
    } else if (this._claims) {
      this._claims[m.from] = 1;
    } else if (m.from === this._leader || !this._leader ||
        Date.now() - this._leaderSeen >= SUSPECT_MS) {
      // Join the election someone else started.
      this._claim();
      if (this._claims) this._claims[m.from] = 1;
    }
    break;
  case 'resign':
    if (m.from === this._leader || !this._leader) {
      this._leader = null;
      this._leaderSeen = 0;
      this._claim();
    }
    break;
  default:
    break;
  }
};

if (typeof module === 'object' && module && module.exports) {
  module.exports = SSEOutbox;
} else {
  root.SSEOutbox = SSEOutbox;
}
}());
