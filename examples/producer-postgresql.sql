-- SPDX-License-Identifier: BSD-2-Clause
-- Notify from psql (or any SQL client) on PostgreSQL: the outbox row is
-- written in the same transaction as the change it announces, so a
-- rolled-back change notifies no one.
--
--   psql postgresql://app@db.example/app -v user=42 \
--       -f examples/producer-postgresql.sql
--
-- Places an order for user :user (committed: the browser gets an "order"
-- event), then cancels it and rolls back (no event is ever sent). The
-- database must have the outbox (sql/schema-postgresql.sql); the orders
-- table is created here if it is missing. :'user' is quoted by psql.
\set ON_ERROR_STOP on
\set QUIET on

CREATE TABLE IF NOT EXISTS orders (
  id      bigserial PRIMARY KEY,
  user_id text NOT NULL,
  item    text NOT NULL,
  status  text NOT NULL
);

-- 1. A change that commits: the order and its notification together.
BEGIN;
INSERT INTO orders (user_id, item, status) VALUES (:'user', 'tea', 'placed');
INSERT INTO outbox (user_id, event, data)
  VALUES (:'user', 'order', json_build_object('order', currval('orders_id_seq'),
          'status', 'placed', 'item', 'tea', 'by', 'psql')::text);
COMMIT;
\pset tuples_only on
SELECT 'order ' || currval('orders_id_seq') || ' placed; outbox row committed';

-- 2. A change that is abandoned: its notification goes with it.
BEGIN;
UPDATE orders SET status = 'cancelled' WHERE id = currval('orders_id_seq');
INSERT INTO outbox (user_id, event, data)
  VALUES (:'user', 'order', json_build_object('order',
          currval('orders_id_seq'), 'status', 'cancelled', 'by', 'psql')::text);
ROLLBACK;
SELECT 'cancelling the order was rolled back: no notification';
