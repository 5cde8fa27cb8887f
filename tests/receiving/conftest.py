"""A dock to receive at: two SKUs, a DC and two stores."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from inventory.models import Location
from tests.inventory.factories import LocationFactory, SkuFactory


@pytest.fixture
def dock(db):
    class Dock:
        a = SkuFactory(code="A", unit_cost=Decimal("4.00"))
        b = SkuFactory(code="B", unit_cost=Decimal("10.00"))
        c = SkuFactory(code="C", unit_cost=Decimal("1.50"))
        dc = LocationFactory(code="DC1", kind=Location.Kind.DC, pickup=False)
        s1 = LocationFactory(code="S1")
        s2 = LocationFactory(code="S2")
        tomorrow = (timezone.now() + timedelta(days=1)).replace(microsecond=0)

    return Dock


def asn_body(dock, external_id="ASN-1", location="DC1", lines=None, **extra):
    return {"external_id": external_id, "supplier": "ACME", "purchase_order": "PO-9", "location": location,
            "expected_at": dock.tomorrow.isoformat(),
            "lines": lines if lines is not None else [{"sku": "A", "quantity": 10}, {"sku": "B", "quantity": 5}],
            **extra}
