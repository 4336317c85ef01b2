// Type checks of the CommonJS declarations (tsc --noEmit, nodenext).
import SSEOutbox = require('sse-outbox');

const options: SSEOutbox.Options = { election: 'none', retry: 500 };
const s = new SSEOutbox('/events', options);
const open: 1 = SSEOutbox.OPEN;
s.onmessage = (e) => { const d: string = e.data; void d; };
s.addEventListener('auth-error', (e) => { const n: number = e.status; void n; });
void open;
