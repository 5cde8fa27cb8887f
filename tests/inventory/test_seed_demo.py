from io import StringIO

import pytest
from django.core.management import call_command
from django.db.models import Sum

from exceptions.models import Case
from exceptions.states import CaseKind
from inventory.ledger import ledger_drifts
from inventory.models import Channel, InventoryEvent, Location, Sku, StockLevel, StockMovement

pytestmark = pytest.mark.django_db


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", "--stores", "4", "--skus", "30", *args, stdout=out)
    return out.getvalue()


def counts():
    return (Sku.objects.count(), Location.objects.count(), Channel.objects.count(), Sku.history.count())


def test_seed_demo_is_deterministic_and_idempotent(django_user_model):
    output = seed()
    first = counts()
    first_prices = list(Sku.objects.order_by("code").values_list("price", flat=True))
    seed()

    assert first == counts()
    assert first == (30, 7, 3, 30)
    assert list(Sku.objects.order_by("code").values_list("price", flat=True)) == first_prices
    for username in ("control", "store", "finance", "integration", "admin"):
        assert username in output
        assert django_user_model.objects.get(username=username).groups.count() == 1


def stock_state():
    return (
        StockMovement.objects.count(),
        InventoryEvent.objects.count(),
        list(StockLevel.objects.order_by("sku_id", "location_id").values_list(
            "on_hand", "damaged", "quality_control", "version")),
    )


def test_seed_demo_stocks_a_ledger_that_verifies_and_a_rerun_adds_nothing():
    output = seed("--no-users")
    first = stock_state()
    seed("--no-users")

    assert stock_state() == first
    assert "duplicate" in output or "applied" in output
    assert ledger_drifts() == []
    totals = StockLevel.objects.aggregate(damaged=Sum("damaged"), qc=Sum("quality_control"), on_hand=Sum("on_hand"))
    assert totals["damaged"] > 0 and totals["qc"] > 0 and totals["on_hand"] > 0
    assert InventoryEvent.objects.filter(status=InventoryEvent.Status.APPLIED).count() > 50
    # The history ends with a few oversells on purpose, so the queue has something to show.
    assert StockLevel.objects.filter(on_hand__lt=0).exists()
    assert Case.objects.filter(kind=CaseKind.NEGATIVE_ON_HAND).exists()
