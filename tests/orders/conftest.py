"""A small shop for the orders tests: two SKUs, a DC and two stores, one web channel."""

from decimal import Decimal

import pytest

from inventory.models import Location
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory


@pytest.fixture
def shop(db):
    class Shop:
        a = SkuFactory(code="A", price=Decimal("20.00"))
        b = SkuFactory(code="B", price=Decimal("5.00"))
        dc = LocationFactory(code="DC1", kind=Location.Kind.DC, region="north", pickup=False)
        s1 = LocationFactory(code="S1", region="north")
        s2 = LocationFactory(code="S2", region="south")
        web = ChannelFactory(code="web")

    return Shop
