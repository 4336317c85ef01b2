-- SPDX-License-Identifier: BSD-2-Clause
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

-- Facts sse-outbox keeps about the outbox itself. schema_version lets a
-- responder refuse a database laid out by a newer release; pruned_through
-- is the highest id `sse-outbox prune` deleted, so a client resuming from
-- before it is told (a "reset" event) instead of silently missing rows.
-- Optional: a database without this table is version 1, never pruned.
CREATE TABLE IF NOT EXISTS outbox_meta (
  key   TEXT PRIMARY KEY,
  value INTEGER NOT NULL
);
INSERT OR IGNORE INTO outbox_meta (key, value) VALUES ('schema_version', 1);
INSERT OR IGNORE INTO outbox_meta (key, value) VALUES ('pruned_through', 0);
