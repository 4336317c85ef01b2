<?php
// SPDX-License-Identifier: BSD-2-Clause
// Notify from PHP (PDO SQLite): the outbox row is written in the same
// transaction as the change it announces, so a rolled-back change
// notifies no one.
//
//     php examples/producer.php /var/lib/myapp/app.db 42
//
// Places an order for user 42 (committed: the browser gets an "order"
// event), then tries to cancel it and rolls back (no event is ever sent).
// The database must have the outbox (sql/schema.sql); the orders table is
// created here if it is missing. Needs php-cli and php-sqlite3 (pdo_sqlite).

declare(strict_types=1);

if ($argc !== 3) {
    fwrite(STDERR, "usage: php producer.php DATABASE USER_ID\n");
    exit(2);
}
[, $path, $user] = $argv;
if (!is_file($path)) {              // PDO would create a new, empty file
    fwrite(STDERR, "producer.php: no database at $path\n");
    exit(1);
}

$db = new PDO('sqlite:' . $path, null, null, [
    PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION,
]);
$db->exec('PRAGMA busy_timeout = 5000');   // wait for another writer
$db->exec('CREATE TABLE IF NOT EXISTS orders (
             id      INTEGER PRIMARY KEY,
             user_id TEXT NOT NULL,
             item    TEXT NOT NULL,
             status  TEXT NOT NULL)');

// The whole integration: one INSERT, inside the caller's transaction.
function notify(PDO $db, string $user, string $event, array $payload): int
{
    $db->prepare('INSERT INTO outbox (user_id, event, data) VALUES (?, ?, ?)')
       ->execute([$user, $event, json_encode($payload, JSON_THROW_ON_ERROR)]);
    return (int)$db->lastInsertId();
}

// 1. A change that commits: the order and its notification together.
$db->beginTransaction();
$db->prepare('INSERT INTO orders (user_id, item, status) VALUES (?, ?, ?)')
   ->execute([$user, 'tea', 'placed']);
$order = (int)$db->lastInsertId();
$row = notify($db, $user, 'order',
    ['order' => $order, 'status' => 'placed', 'item' => 'tea', 'by' => 'php']);
$db->commit();
echo "order $order placed; outbox row $row committed\n";

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
