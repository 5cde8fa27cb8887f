"""Stock movements are append-only in the database itself, not only in Python.

PostgreSQL refuses UPDATE and DELETE on the table with a trigger (TRUNCATE, used by
test database flushes, is a separate statement and stays possible for the owner).
SQLite refuses UPDATE; DELETE stays possible there because test flushes use it.
"""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION inventory_stockmovement_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'stock movements are append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER inventory_stockmovement_append_only
    BEFORE UPDATE OR DELETE ON inventory_stockmovement
    FOR EACH ROW EXECUTE FUNCTION inventory_stockmovement_append_only();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS inventory_stockmovement_append_only ON inventory_stockmovement;
DROP FUNCTION IF EXISTS inventory_stockmovement_append_only();
"""
SQLITE_UP = """
CREATE TRIGGER inventory_stockmovement_append_only BEFORE UPDATE ON inventory_stockmovement
BEGIN SELECT RAISE(ABORT, 'stock movements are append-only (UPDATE refused)'); END;
"""
SQLITE_DOWN = "DROP TRIGGER IF EXISTS inventory_stockmovement_append_only;"


def forwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_UP)


def backwards(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_DOWN)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0002_ledger")]

    operations = [migrations.RunPython(forwards, backwards)]
