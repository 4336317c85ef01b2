// SPDX-License-Identifier: BSD-2-Clause
// sse-outbox demo page: one EventSource on /sse?user=..., and a form that
// posts to send.cgi. No dependencies. Untrusted text only goes through
// textContent, never innerHTML.
'use strict';

(function () {
  // Named event types the send form offers; EventSource delivers a named
  // event only to listeners for that name, so the page listens for each.
  // Rows without an event type arrive as "message" (onmessage).
  var EVENT_TYPES = ['notice', 'alert'];
  var MAX_ROWS = 200;
  var RETRY_CLOSED_MS = 5000;   // our own retry when the browser gives up

  var $ = function (id) { return document.getElementById(id); };
  var es = null;                // the current EventSource
  var wanted = false;           // the user asked to be connected
  var reconnects = 0;
  var retryTimer = null;
  var everOpened = false;
  var lastSeenId = '';          // resume point for our own reconnects

  function setState(cls, text, detail) {
    var s = $('state');
    s.className = cls;
    s.textContent = text;
    $('stateDetail').textContent = detail || '';
  }

  function pad(n, w) { return String(n).padStart(w, '0'); }

  function now() {
    var d = new Date();
    return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' +
      pad(d.getSeconds(), 2) + '.' + pad(d.getMilliseconds(), 3);
  }

  function showEvent(e) {
    var tr = document.createElement('tr');
    [now(), e.lastEventId || '-', e.type, e.data].forEach(function (v, i) {
      var td = document.createElement('td');
      td.textContent = v;
      if (i === 3) td.className = 'data';
      tr.appendChild(td);
    });
    var body = $('events');
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > MAX_ROWS) body.deleteRow(-1);
    if (e.lastEventId) {
      lastSeenId = e.lastEventId;
      $('lastId').textContent = e.lastEventId;
    }
  }

  function close() {
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
    if (es) { es.close(); es = null; }
  }

  function open() {
    close();
    var user = $('user').value.trim();
    if (!user) { setState('error', 'error', '(enter a user id)'); return; }
    var url = 'sse?user=' + encodeURIComponent(user);
    $('streamUrl').textContent = '/' + url;
    // A new EventSource starts without the browser's Last-Event-ID: when we
    // reconnect ourselves, resume from the last id shown, so nothing is
    // missed (the browser's own reconnects send the header).
    if (lastSeenId) url += '&lastEventId=' + encodeURIComponent(lastSeenId);
    setState('connecting', 'connecting', '');
    everOpened = false;
    var src = new EventSource(url);
    es = src;
    src.onopen = function () {
      if (es !== src) return;
      everOpened = true;
      setState('open', 'open', '');
    };
    src.onmessage = showEvent;
    EVENT_TYPES.forEach(function (t) { src.addEventListener(t, showEvent); });
    src.onerror = function () {
      if (es !== src) return;
      if (src.readyState === EventSource.CONNECTING) {
        // The browser reconnects by itself after the server's retry: delay
        // and resumes with Last-Event-ID.
        reconnects++;
        $('reconnects').textContent = reconnects;
        setState('error', 'error', '- connection lost, reconnecting (' +
          reconnects + ')...');
        return;
      }
      // CLOSED: the browser gave up (an HTTP error such as 400, 401 or 503,
      // or a wrong Content-Type). Try again ourselves after a pause.
      src.close();
      es = null;
      setState('error', 'error', everOpened ?
        '- stream closed, retrying in 5 s' :
        '- the server refused the stream (see its log), retrying in 5 s');
      retryTimer = setTimeout(function () {
        retryTimer = null;
        if (!wanted) return;
        reconnects++;
        $('reconnects').textContent = reconnects;
        open();
      }, RETRY_CLOSED_MS);
    };
  }

  $('connectForm').addEventListener('submit', function (ev) {
    ev.preventDefault();
    wanted = true;
    reconnects = 0;
    lastSeenId = '';
    $('reconnects').textContent = '0';
    $('lastId').textContent = '-';
    open();
  });

  $('disconnect').addEventListener('click', function () {
    wanted = false;
    close();
    setState('closed', 'closed', '');
  });

  $('clear').addEventListener('click', function () {
    $('events').textContent = '';
  });

  // The send form: event types from EVENT_TYPES plus the unnamed "message".
  var select = $('sendEvent');
  EVENT_TYPES.concat(['']).forEach(function (t) {
    var o = document.createElement('option');
    o.value = t;
    o.textContent = t || '(none: "message")';
    select.appendChild(o);
  });
  $('listened').textContent = EVENT_TYPES.concat(['message']).join(', ');

  $('sendForm').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var result = $('sendResult');
    var body = new URLSearchParams();
    var checked = document.querySelector('input[name=target]:checked');
    var toAll = checked.value === 'all';
    if (!toAll) {
      var user = $('sendUser').value.trim();
      if (!user) {
        result.className = 'bad';
        result.textContent = 'enter a user id, or choose "to everyone"';
        return;
      }
      body.set('user', user);
    }
    if (select.value) body.set('event', select.value);
    body.set('data', $('sendData').value);
    result.className = '';
    result.textContent = 'sending...';
    fetch('send.cgi', { method: 'POST', body: body }).then(function (r) {
      if (r.status === 204) {
        result.className = 'ok';
        result.textContent = 'stored as id ' + r.headers.get('X-Outbox-Id') +
          (toAll ? ' (broadcast)' : '');
        return;
      }
      return r.text().then(function (t) {
        result.className = 'bad';
        result.textContent = r.status + ': ' + t.trim();
      });
    }).catch(function (err) {
      result.className = 'bad';
      result.textContent = 'request failed: ' + err;
    });
  });

  // Connect as the default user on load.
  wanted = true;
  open();
}());
