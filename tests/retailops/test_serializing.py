"""Serializers run through a shared instance (retailops.serializing) answer as DRF does."""

import pytest
from rest_framework import serializers

from orders.api.serializers import ReservationInSerializer, ReservationSerializer
from retailops.serializing import represented, validated
from tests.orders.factories import AllocationFactory

INPUTS = [
    {"sku": "A", "quantity": 1, "channel": "web"},
    {"sku": " A ", "quantity": "3", "channel": "web", "ttl_seconds": 60, "reference": "cart-1", "region": "north",
     "fulfillment": "pickup", "location": "S1"},
    {"sku": "A", "quantity": 2.0, "channel": "web"},
    {},
    {"sku": "", "quantity": 0, "channel": None},
    {"sku": "A" * 65, "quantity": True, "channel": "web", "fulfillment": "drone"},
    {"sku": ["A"], "quantity": 1.5, "channel": "web", "ttl_seconds": 10**9},
    {"sku": "A\x00", "quantity": "x" * 1001, "channel": "web"},
    [],
    "sku",
    None,
]


def drf(data) -> tuple[str, object]:
    serializer = ReservationInSerializer(data=data)
    try:
        serializer.is_valid(raise_exception=True)
    except serializers.ValidationError as exc:
        return "invalid", exc.get_full_details()
    return "valid", dict(serializer.validated_data)


def shared(data) -> tuple[str, object]:
    try:
        return "valid", validated(ReservationInSerializer, data)
    except serializers.ValidationError as exc:
        return "invalid", exc.get_full_details()


@pytest.mark.parametrize("data", INPUTS)
def test_validation_gives_what_drf_gives_values_messages_and_codes(data):
    assert shared(data) == drf(data)


def test_the_inputs_cover_both_outcomes():
    outcomes = {drf(data)[0] for data in INPUTS}
    assert outcomes == {"valid", "invalid"}


@pytest.mark.django_db
def test_representation_is_drfs():
    hold = AllocationFactory()
    assert represented(ReservationSerializer, hold) == ReservationSerializer(hold).data
