// The application: the package as a bundler resolves it.
import SSEOutbox from 'sse-outbox';

const src = new URLSearchParams(location.search).get('src');
const rows = [];
window.app = { rows, version: SSEOutbox.OPEN, stream: null };
document.getElementById('src').textContent = src || '-';
if (src) {
  const stream = new SSEOutbox(src, { withCredentials: true, events: ['notice'] });
  window.app.stream = stream;
  stream.addEventListener('notice', (e) => {
    rows.push([e.lastEventId, e.data]);
    const li = document.createElement('li');
    li.textContent = `${e.lastEventId} ${e.data}`;
    document.getElementById('rows').appendChild(li);
  });
  stream.onopen = () => { document.getElementById('state').textContent = 'open'; };
}
