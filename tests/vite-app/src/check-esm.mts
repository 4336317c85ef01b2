// Type checks of the ES module declarations (tsc --noEmit, nodenext).
import SSEOutbox, { type SSEOutboxOptions, type SSEOutboxAuthErrorEvent } from 'sse-outbox';

const options: SSEOutboxOptions = {
  events: ['notice'],
  token: async ({ authFailed }) => (authFailed ? 'fresh' : 'cached'),
};
const s = new SSEOutbox('/events', options);
s.addEventListener('notice', (e) => { const id: string = e.lastEventId; void id; });
s.addEventListener('auth-error', (e: SSEOutboxAuthErrorEvent) => { const n: number = e.status; void n; });
const state: 0 | 1 | 2 = s.readyState;
const sharing: 'locks' | 'broadcast' | 'none' = s.sharing;
const fromFn = new SSEOutbox(async () => '/events', { name: '/events' });
fromFn.reconnect();
s.close();
void state; void sharing;
