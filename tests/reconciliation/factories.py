"""Reconciliation runs and lines as the engine writes them, for the review's tests.

`VarianceLineFactory` needs `ledger_on_hand_at_as_of` (what the ledger held as of the
run's time); it derives the difference and value from it and the snapshot. Tests that
accept a line put that stock in the ledger first (`stock_at`), so the figures agree."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from integrations.models import ExternalSystem, InventorySnapshot
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket
from reconciliation.models import ReconciliationLine, ReconciliationRun
from reconciliation.states import Classification, RunStatus
from tests.inventory.factories import LocationFactory, SkuFactory


def stock_at(sku, location, delta: int, *, occurred_at=None, reason: str = "receipt") -> None:
    """Post an on-hand movement through the ledger (the one posting entry point)."""
    post_movements([Movement(sku.pk, location.pk, Bucket.ON_HAND, delta, reason=reason, occurred_at=occurred_at)])


class ExternalSystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExternalSystem
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"wms-{n}")
    name = factory.LazyAttribute(lambda system: f"Warehouse system {system.code}")
    kind = ExternalSystem.Kind.WMS
    adapter = ExternalSystem.Adapter.JSON_HTTP
    base_url = "http://127.0.0.1:9/wms"

    class Params:
        inbound_only = factory.Trait(adapter=ExternalSystem.Adapter.NONE, base_url="")


class SnapshotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InventorySnapshot

    system = factory.SubFactory(ExternalSystemFactory)
    source = InventorySnapshot.Source.UPLOAD
    as_of = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1))


class RunFactory(factory.django.DjangoModelFactory):
    """A run that finished with variance lines to review (`closed=True`: already reviewed)."""

    class Meta:
        model = ReconciliationRun

    snapshot = factory.SubFactory(SnapshotFactory)
    system = factory.SelfAttribute("snapshot.system")
    as_of = factory.SelfAttribute("snapshot.as_of")
    status = RunStatus.REVIEW
    started_at = factory.LazyAttribute(lambda run: run.as_of + timedelta(minutes=5))
    finished_at = factory.LazyAttribute(lambda run: run.started_at + timedelta(seconds=3))

    class Params:
        closed = factory.Trait(status=RunStatus.CLOSED, closed_at=factory.LazyFunction(timezone.now))


class LineFactory(factory.django.DjangoModelFactory):
    """A matched line: the snapshot equals the ledger then and now."""

    class Meta:
        model = ReconciliationLine

    run = factory.SubFactory(RunFactory)
    sku = factory.SubFactory(SkuFactory)
    location = factory.SubFactory(LocationFactory)
    sku_code = factory.SelfAttribute("sku.code")
    location_code = factory.SelfAttribute("location.code")
    snapshot_on_hand = 10
    ledger_on_hand_at_as_of = factory.SelfAttribute("snapshot_on_hand")
    ledger_on_hand_now = factory.SelfAttribute("ledger_on_hand_at_as_of")
    difference = factory.LazyAttribute(lambda line: line.snapshot_on_hand - line.ledger_on_hand_at_as_of)
    classification = Classification.MATCHED
    unit_cost = factory.SelfAttribute("sku.unit_cost")
    value = Decimal("0")


class VarianceLineFactory(LineFactory):
    ledger_on_hand_at_as_of = 10
    snapshot_on_hand = 7
    classification = Classification.VARIANCE
    value = factory.LazyAttribute(lambda line: (abs(line.difference) * line.unit_cost).quantize(Decimal("0.01")))


class MissingLineFactory(LineFactory):
    sku = None
    location = None
    sku_code = factory.Sequence(lambda n: f"UNKNOWN-{n}")
    location_code = "NOWHERE"
    ledger_on_hand_at_as_of = None
    ledger_on_hand_now = None
    difference = None
    unit_cost = None
    classification = Classification.MISSING_IN_LEDGER
