-- SPDX-License-Identifier: BSD-2-Clause
-- Notify from a trigger on an application table (PostgreSQL): every
-- message inserted into `messages` notifies its recipient, in the same
-- transaction, whoever inserts it (the application, a batch job, psql).
-- A message whose transaction rolls back notifies no one: the outbox row
-- goes with it.
--
--   psql postgresql://owner@db.example/app -f examples/trigger-postgresql.sql
--
-- Apply sql/schema-postgresql.sql first. Idempotent. Then, from anywhere:
--
--   INSERT INTO messages (recipient, sender, body) VALUES ('42', '7', 'hi');
--
-- and user 42's stream gets a "message" event with the message as JSON.
\set ON_ERROR_STOP on

CREATE TABLE IF NOT EXISTS messages (
  id         bigserial PRIMARY KEY,
  recipient  text NOT NULL,
  sender     text NOT NULL,
  body       text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- AFTER INSERT, FOR EACH ROW: the outbox row is written by the inserting
-- transaction itself, so it commits or rolls back with the message. Its
-- id (the SSE event id) is given at COMMIT by the outbox's own trigger.
CREATE OR REPLACE FUNCTION messages_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO outbox (user_id, event, data)
  VALUES (NEW.recipient, 'message',
          json_build_object('message', NEW.id, 'from', NEW.sender,
                            'body', NEW.body)::text);
  RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS messages_notify ON messages;
CREATE TRIGGER messages_notify AFTER INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION messages_notify();
