-- SPDX-License-Identifier: BSD-2-Clause
-- Notify from the sqlite3 shell (or any SQL client): the outbox row is
-- written in the same transaction as the change it announces, so a
-- rolled-back change notifies no one.
--
--   sqlite3 -cmd ".parameter set @user '42'" /var/lib/myapp/app.db \
--       < examples/producer.sql
--
-- Places an order for user @user (committed: the browser gets an "order"
-- event), then cancels it and rolls back (no event is ever sent). The
-- database must have the outbox (sql/schema.sql); the orders table is
-- created here if it is missing. @user is an SQL literal: quote it.
.bail on
.timeout 5000

CREATE TABLE IF NOT EXISTS orders (
  id      INTEGER PRIMARY KEY,
  user_id TEXT NOT NULL,
  item    TEXT NOT NULL,
  status  TEXT NOT NULL
);

-- 1. A change that commits: the order and its notification together.
BEGIN IMMEDIATE;
INSERT INTO orders (user_id, item, status) VALUES (@user, 'tea', 'placed');
INSERT INTO outbox (user_id, event, data)
  VALUES (@user, 'order', json_object('order', last_insert_rowid(),
          'status', 'placed', 'item', 'tea', 'by', 'sqlite3'));
COMMIT;
SELECT 'order ' || o.id || ' placed; outbox row ' || b.id || ' committed'
  FROM (SELECT max(id) AS id FROM orders WHERE user_id = @user) AS o,
       (SELECT max(id) AS id FROM outbox WHERE user_id = @user) AS b;

-- 2. A change that is abandoned: its notification goes with it.
BEGIN IMMEDIATE;
UPDATE orders SET status = 'cancelled'
  WHERE id = (SELECT max(id) FROM orders WHERE user_id = @user);
INSERT INTO outbox (user_id, event, data)
  VALUES (@user, 'order', json_object('order',
          (SELECT max(id) FROM orders WHERE user_id = @user),
          'status', 'cancelled', 'by', 'sqlite3'));
ROLLBACK;
SELECT 'cancelling the order was rolled back: no notification';
