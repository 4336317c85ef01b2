<?php
// SPDX-License-Identifier: BSD-2-Clause
// Notify from PHP on PostgreSQL (PDO pgsql): the outbox row is written in
// the same transaction as the change it announces, so a rolled-back
// change notifies no one.
//
//     php examples/producer-postgresql.php \
//         'pgsql:host=db.example;dbname=app;user=app' 42
//
// The first argument is a PDO DSN (pgsql:host=/run/postgresql for a unix
// socket; a password from ~/.pgpass or PGPASSFILE, as libpq reads it).
// Places an order for user 42 (committed: the browser gets an "order"
// event), then tries to cancel it and rolls back (no event is ever sent).
// The database must have the outbox (sql/schema-postgresql.sql); the
// orders table is created here if it is missing. Needs php-cli and
// php-pgsql (pdo_pgsql).
//
// The outbox id is given at COMMIT (docs/postgresql.md): lastInsertId()
// or RETURNING id would give a placeholder, so the example asks for none.

declare(strict_types=1);

if ($argc !== 3) {
    fwrite(STDERR, "usage: php producer-postgresql.php PDO_DSN USER_ID\n");
    exit(2);
}
[, $dsn, $user] = $argv;

$db = new PDO($dsn, null, null, [
    PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
]);
$db->exec('CREATE TABLE IF NOT EXISTS orders (
             id      bigserial PRIMARY KEY,
             user_id text NOT NULL,
             item    text NOT NULL,
             status  text NOT NULL)');

// The whole integration: one INSERT, inside the caller's transaction.
function notify(PDO $db, string $user, string $event, array $payload): void
{
    $db->prepare('INSERT INTO outbox (user_id, event, data) VALUES (?, ?, ?)')
       ->execute([$user, $event, json_encode($payload, JSON_THROW_ON_ERROR)]);
}

// 1. A change that commits: the order and its notification together.
$db->beginTransaction();
$st = $db->prepare('INSERT INTO orders (user_id, item, status)
                    VALUES (?, ?, ?) RETURNING id');
$st->execute([$user, 'tea', 'placed']);
$order = (int)$st->fetchColumn();
notify($db, $user, 'order',
    ['order' => $order, 'status' => 'placed', 'item' => 'tea', 'by' => 'php']);
$db->commit();
echo "order $order placed; outbox row committed\n";

// 2. A change that fails: its notification is rolled back with it.
try {
    $db->beginTransaction();
    $db->prepare('UPDATE orders SET status = ? WHERE id = ?')
       ->execute(['cancelled', $order]);
    notify($db, $user, 'order',
        ['order' => $order, 'status' => 'cancelled', 'by' => 'php']);
    throw new RuntimeException('refund declined');   // e.g. the payment provider
} catch (RuntimeException $e) {
    $db->rollBack();
    echo "cancelling order $order failed ({$e->getMessage()}); rolled back "
       . "with its outbox row: no notification\n";
}
