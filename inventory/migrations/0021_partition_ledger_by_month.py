"""On PostgreSQL, the movements (by `recorded_at`) and the inbound events (by
`received_at`) become tables partitioned by month (README "Partitioned ledger").

Each table is rebuilt under its own name: a partitioned copy with a partition for every
month its rows occupy up to a few months ahead and a DEFAULT one, its rows copied, the
old table dropped, then its primary key — (id, partition key), as PostgreSQL requires —
identity sequence (going on from where it was), indexes (partitioned), foreign keys,
check constraints and triggers (the movements' append-only one) recreated under the
same names (`inventory.ledger.partitions`). Django's model state does not change: it
still knows `id` as the primary key, and the indexes it declared exist as before, so
there is nothing for a SeparateDatabaseAndState to tell it. SQLite keeps plain tables.

It runs in the migration's one transaction: a failure leaves the tables as they were.
Foreign keys to events lost their database constraint first (0020, returns 0005).
"""

from django.db import migrations
from django.utils import timezone

TABLES = ("inventory_stockmovement", "inventory_inventoryevent")
MONTHS_AHEAD = 3


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from inventory.ledger.partitions import table_partition

    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            table_partition(cursor, table, months_ahead=MONTHS_AHEAD, now=timezone.now())


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    from inventory.ledger.partitions import table_unpartition

    with schema_editor.connection.cursor() as cursor:
        for table in TABLES:
            table_unpartition(cursor, table)


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0020_event_keys_and_ledger_checkpoint"),
        ("returns", "0005_receipt_event_without_constraint"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
