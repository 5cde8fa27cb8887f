from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from inventory.ledger import Movement, post_movements
from inventory.models import Bucket
from tests.inventory.factories import LocationFactory, SkuFactory

AS_OF = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def ledger(db):
    """Post on-hand changes at a time: ledger("A", "DC1", 10, at=AS_OF - 1h)."""

    def post(sku: str, location: str, delta: int, *, at: datetime = AS_OF - timedelta(days=1),
             unit_cost: str = "10.00") -> None:
        sku_row = SkuFactory(code=sku, unit_cost=Decimal(unit_cost))
        location_row = LocationFactory(code=location)
        post_movements([Movement(sku_row.pk, location_row.pk, Bucket.ON_HAND, delta, reason="test_receipt",
                                 occurred_at=at)])

    return post


@pytest.fixture
def system(db):
    from integrations.models import ExternalSystem

    def make(code: str = "wms", **fields):
        return ExternalSystem.objects.get_or_create(code=code, defaults={"name": code, "kind": "wms", **fields})[0]

    return make


@pytest.fixture
def reconcile(system):
    """Submit a snapshot through the intake service and run it: reconcile([("A", "DC1", 5)])."""
    from integrations.snapshots import SnapshotLines, line_row
    from reconciliation.services import run_execute, snapshot_submit

    def run(lines, *, as_of: datetime = AS_OF, on=None):
        rows = [line_row(index, *line) for index, line in enumerate(lines)]
        submitted, _created = snapshot_submit(system=on or system(), source="upload",
                                              document=SnapshotLines(as_of=as_of, rows=rows))
        return run_execute(run_id=submitted.pk)

    return run
