// SPDX-License-Identifier: BSD-2-Clause
// sse-outbox demo: the tabs page. Every tab makes an SSEOutbox for the
// same URL; sse-outbox.js keeps one EventSource among them. Untrusted text
// only goes through textContent. window.demoEvents lists what this tab
// received (read by the browser tests).
'use strict';

(function () {
  var EVENT_TYPES = ['notice', 'alert'];
  var MAX_ROWS = 200;
  var $ = function (id) { return document.getElementById(id); };
  var user = new URLSearchParams(location.search).get('user') || '42';
  var url = 'sse?user=' + encodeURIComponent(user);
  var received = window.demoEvents = [];

  $('user').textContent = user;
  $('streamUrl').textContent = '/' + url;

  // The tabs share by path (the query is left out of the default name,
  // so per-page tokens in it do not split them); the demo names its
  // users in the query, so each user's tabs get a name of their own.
  var stream = new SSEOutbox(url, { events: EVENT_TYPES, name: url });
  window.demoStream = stream;

  function show(e) {
    received.push({ type: e.type, id: e.lastEventId, data: e.data });
    var tr = document.createElement('tr');
    [e.lastEventId || '-', e.type, e.data].forEach(function (v, i) {
      var td = document.createElement('td');
      td.textContent = v;
      if (i === 2) td.className = 'data';
      tr.appendChild(td);
    });
    var body = $('events');
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > MAX_ROWS) body.deleteRow(-1);
    $('lastId').textContent = stream.lastEventId || '-';
  }

  stream.onmessage = show;
  EVENT_TYPES.forEach(function (t) { stream.addEventListener(t, show); });
  stream.onopen = function () { $('state').textContent = 'open'; };
  stream.onerror = function () {
    $('state').textContent = stream.readyState === SSEOutbox.OPEN ?
      'open' : 'reconnecting';
  };
  stream.addEventListener('leaderchange', function () {
    $('role').textContent = stream.isLeader ? 'leader' : 'follower';
    $('role').className = stream.isLeader ? 'leader' : 'follower';
  });
}());
