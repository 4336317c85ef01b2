-- SPDX-License-Identifier: BSD-2-Clause
-- sse-outbox: the outbox table on PostgreSQL. Safe to apply again to an
-- existing database: every statement is idempotent.
--
--   psql "postgresql://owner@db.example/app" -f sql/schema-postgresql.sql
--
-- Producers notify with a plain insert, ideally in the same transaction
-- as the change it announces (the id is given at COMMIT, see below):
--
--   INSERT INTO outbox (user_id, event, data) VALUES ('42', 'notice', '{"text":"hi"}');
--
-- The responder only reads: grant its role
--   GRANT SELECT ON outbox, outbox_meta, outbox_id_seq TO sse_outbox;
-- and `sse-outbox prune` needs DELETE on outbox and INSERT, UPDATE on
-- outbox_meta as well.

-- Why ids are given at commit. A sequence hands out ids at INSERT, but
-- transactions commit in any order: if A takes 10, B takes 11 and B
-- commits first, a reader that sent 11 and moved past it never sends 10.
-- So a row gets a placeholder (a negative number, never visible to
-- anyone else) at INSERT, and its real id from outbox_id_seq as the last
-- thing its transaction does before it commits, under one advisory lock.
-- PostgreSQL releases that lock only after the commit is visible to new
-- snapshots, so the next transaction takes its ids after every id before
-- it became readable: readers see ids appear in order, with no hole
-- that fills in later. A transaction that rolls back takes no id.

CREATE SEQUENCE IF NOT EXISTS outbox_id_seq;       -- ids, given at commit
CREATE SEQUENCE IF NOT EXISTS outbox_pending_seq;  -- placeholders

CREATE TABLE IF NOT EXISTS outbox (
  id         bigint PRIMARY KEY
             DEFAULT -nextval('outbox_pending_seq'), -- the SSE event id, set at commit
  user_id    text COLLATE "C", -- recipient key, compared byte for byte; NULL sends to every stream
  event      text,             -- SSE event type; NULL means "message"
  data       text NOT NULL,    -- payload, usually JSON
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS outbox_user_id ON outbox (user_id, id);

-- Facts sse-outbox keeps about the outbox itself (as in sql/schema.sql):
-- schema_version, and pruned_through, the highest id `sse-outbox prune`
-- deleted, so a client resuming from before it gets a "reset" event.
CREATE TABLE IF NOT EXISTS outbox_meta (
  key   text PRIMARY KEY,
  value bigint NOT NULL
);
INSERT INTO outbox_meta (key, value) VALUES ('schema_version', 1)
  ON CONFLICT (key) DO NOTHING;
INSERT INTO outbox_meta (key, value) VALUES ('pruned_through', 0)
  ON CONFLICT (key) DO NOTHING;

-- Runs once per row at COMMIT (a deferred constraint trigger). The
-- advisory lock (key: "SSE" and the table's oid) is held to the end of
-- the transaction; every row of one transaction gets consecutive-ish
-- ids in insert order. pg_notify wakes every listening responder once
-- per transaction (identical notifications are folded); it carries no
-- data: the responder reads the rows from the table.
CREATE OR REPLACE FUNCTION outbox_commit_order() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(x'5353450000000000'::bigint + TG_RELID::bigint);
  UPDATE outbox SET id = nextval('outbox_id_seq') WHERE id = NEW.id;
  PERFORM pg_notify('sse_outbox', '');
  RETURN NULL;
END
$$;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_trigger
                 WHERE tgrelid = 'outbox'::regclass
                   AND tgname = 'outbox_commit_order') THEN
    CREATE CONSTRAINT TRIGGER outbox_commit_order
      AFTER INSERT ON outbox
      DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW EXECUTE FUNCTION outbox_commit_order();
  END IF;
END
$$;
