"""Exactly-once moves from a unique index on the events to `InventoryEventKey`, so the
events can be partitioned by month (0021); every stored event gets its key here. Foreign
keys to events lose their database constraint for the same reason. The tables of
`verify_ledger --incremental` are created empty."""

import importlib

import django.db.models.deletion
from django.db import migrations, models

append_only = importlib.import_module("inventory.migrations.0003_stock_movement_append_only")


def append_only_again(apps, schema_editor):
    """SQLite rebuilds a table to alter one of its columns (`event` here), and the copy has
    no trigger: the movements' append-only trigger is put back (0003's own SQL)."""
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(append_only.SQLITE_DOWN)
        schema_editor.execute(append_only.SQLITE_UP)


class Migration(migrations.Migration):

    dependencies = [
        ('inventory', '0019_level_confidence'),
    ]

    operations = [
        migrations.CreateModel(
            name='InventoryEventKey',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('source', models.CharField(max_length=64)),
                ('event_id', models.CharField(max_length=255)),
                ('delivery_id', models.UUIDField()),
                ('received_at', models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name='LedgerClosingBalance',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('on_hand', models.BigIntegerField(default=0)),
                ('committed', models.BigIntegerField(default=0)),
                ('damaged', models.BigIntegerField(default=0)),
                ('quality_control', models.BigIntegerField(default=0)),
                ('safety_stock', models.BigIntegerField(default=0)),
                ('incoming', models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name='LedgerMonthChecksum',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('month', models.DateField(help_text="First day of the month (UTC) of the movements' recorded_at.", unique=True)),
                ('movements', models.BigIntegerField()),
                ('delta_total', models.BigIntegerField()),
                ('summed_at', models.DateTimeField()),
            ],
        ),
        migrations.RemoveConstraint(
            model_name='inventoryevent',
            name='inventory_event_once_per_source',
        ),
        migrations.AlterField(
            model_name='adjustment',
            name='event',
            field=models.OneToOneField(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='adjustment', to='inventory.inventoryevent'),
        ),
        migrations.AlterField(
            model_name='stockmovement',
            name='event',
            field=models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='inventory.inventoryevent'),
        ),
        migrations.AddIndex(
            model_name='inventoryevent',
            index=models.Index(fields=['event_id', 'source'], name='inventory_event_sender_id'),
        ),
        migrations.AddConstraint(
            model_name='inventoryeventkey',
            constraint=models.UniqueConstraint(fields=('event_id', 'source'), name='inventory_event_once_per_source'),
        ),
        migrations.AddField(
            model_name='ledgerclosingbalance',
            name='location',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='inventory.location'),
        ),
        migrations.AddField(
            model_name='ledgerclosingbalance',
            name='sku',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='inventory.sku'),
        ),
        migrations.AddConstraint(
            model_name='ledgerclosingbalance',
            constraint=models.UniqueConstraint(fields=('sku', 'location'), name='ledger_closing_balance_per_level'),
        ),
        migrations.RunSQL(
            "INSERT INTO inventory_inventoryeventkey (source, event_id, delivery_id, received_at) "
            "SELECT source, event_id, delivery_id, received_at FROM inventory_inventoryevent",
            reverse_sql=migrations.RunSQL.noop,
        ),
        migrations.RunPython(append_only_again, migrations.RunPython.noop),
    ]
