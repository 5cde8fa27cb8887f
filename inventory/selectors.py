"""Reads of inventory data, scoped to the caller."""

from django.db.models import QuerySet

from inventory.models import Channel, Location, Sku
from retailops.access import LocationScope


def skus_list() -> QuerySet[Sku]:
    return Sku.objects.all()


def locations_for(*, scope: LocationScope) -> QuerySet[Location]:
    return scope.filter(Location.objects.all(), field="pk")


def channels_list() -> QuerySet[Channel]:
    return Channel.objects.all()
