-- sse-outbox: the outbox table. Safe to apply again to an existing
-- database: every statement is idempotent.
--
--   sqlite3 /path/to/app.db < sql/schema.sql
--
-- Producers notify with a plain insert, ideally in the same transaction
-- as the change it announces:
--
--   INSERT INTO outbox (user_id, event, data) VALUES ('42', 'notice', '{"text":"hi"}');

-- WAL lets the responder read while producers write, and its -wal file
-- is what the responder watches to notice commits.
PRAGMA journal_mode = WAL;

CREATE TABLE IF NOT EXISTS outbox (
  id         INTEGER PRIMARY KEY AUTOINCREMENT, -- the SSE event id; never reused
  user_id    TEXT,              -- recipient key; NULL sends to every stream
  event      TEXT,              -- SSE event type; NULL means "message"
  data       TEXT NOT NULL,     -- payload, usually JSON
  created_at INTEGER NOT NULL DEFAULT (CAST(strftime('%s','now') AS INTEGER))
);

CREATE INDEX IF NOT EXISTS outbox_user_id ON outbox (user_id, id);
