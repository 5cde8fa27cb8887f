from io import StringIO

import pytest
from django.core.management import call_command

from inventory.models import Channel, Location, Sku

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
