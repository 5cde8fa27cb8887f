"""A small shop for the orders tests: two SKUs, a DC and two stores, one web channel."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

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


@pytest.fixture
def key_in_use(db):
    """Mark an Idempotency-Key as held by a request still running: key_in_use(client, url, body, key=…)."""
    from rest_framework.parsers import JSONParser
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from retailops.idempotency import request_fingerprint
    from retailops.models import IdempotencyRecord

    def mark(client, url: str, body: dict, *, key: str) -> None:
        request = Request(APIRequestFactory().post(url, body, format="json"), parsers=[JSONParser()])
        now = timezone.now()
        IdempotencyRecord.objects.create(client_key=f"client:{client.issued.client.pk}", key=key,
                                         request_fingerprint=request_fingerprint(request), locked_at=now,
                                         expires_at=now + timedelta(hours=24))

    return mark
