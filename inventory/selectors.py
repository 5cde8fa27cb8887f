"""Reads of inventory data, scoped to the caller."""

from dataclasses import dataclass

from django.db.models import QuerySet

from inventory.eligibility import location_eligible
from inventory.errors import LocationOutOfScope, UnknownChannel, UnknownLocation, UnknownSku
from inventory.models import Channel, Location, Sku, StockLevel
from retailops.access import LocationScope


def skus_list() -> QuerySet[Sku]:
    return Sku.objects.all()


def locations_for(*, scope: LocationScope) -> QuerySet[Location]:
    return scope.filter(Location.objects.all(), field="pk")


def channels_list() -> QuerySet[Channel]:
    return Channel.objects.all()


@dataclass(frozen=True)
class AvailabilityRow:
    sku: str
    location: str
    on_hand: int
    committed: int
    unavailable: int
    available: int
    incoming: int


@dataclass(frozen=True)
class Availability:
    rows: list[AvailabilityRow]
    totals: dict[str, int]


def availability_for(*, sku_codes: list[str], location_codes: list[str] | None, channel_code: str | None,
                     scope: LocationScope) -> Availability:
    """Availability per (SKU, location) and per SKU, in a fixed number of queries.

    available = max(0, on_hand − committed − unavailable − the channel's buffer); with a
    channel, locations that may not serve it show 0.
    """
    skus = dict(Sku.objects.filter(code__in=sku_codes).values_list("code", "pk"))
    unknown = [code for code in sku_codes if code not in skus]
    if unknown:
        raise UnknownSku(f"Unknown SKU '{unknown[0]}'.", field="sku")
    channel = None
    if channel_code is not None:
        channel = Channel.objects.filter(code=channel_code).first()
        if channel is None:
            raise UnknownChannel(f"Unknown channel '{channel_code}'.", field="channel")

    levels = StockLevel.objects.filter(sku_id__in=skus.values())
    if location_codes:
        locations = dict(Location.objects.filter(code__in=location_codes).values_list("code", "pk"))
        unknown = [code for code in location_codes if code not in locations]
        if unknown:
            raise UnknownLocation(f"Unknown location '{unknown[0]}'.", field="location")
        outside = [code for code, pk in locations.items() if not scope.allows(pk)]
        if outside:
            raise LocationOutOfScope(f"Location '{outside[0]}' is outside the caller's location scope.")
        levels = levels.filter(location_id__in=locations.values())
    levels = scope.filter(levels)

    buffer = channel.safety_buffer if channel else 0
    rows: list[AvailabilityRow] = []
    totals = dict.fromkeys(sku_codes, 0)
    for (sku, location, on_hand, committed, damaged, quality_control, safety_stock, incoming, location_kind,
         active, ship_from_store, confidence) in levels.order_by("sku__code", "location__code").values_list(
            "sku__code", "location__code", "on_hand", "committed", "damaged", "quality_control", "safety_stock",
            "incoming", "location__kind", "location__active", "location__ship_from_store", "location__confidence"):
        unavailable = damaged + quality_control + safety_stock
        available = max(0, on_hand - committed - unavailable - buffer)
        if channel is not None and not location_eligible(
            channel_kind=channel.kind, location_kind=location_kind, active=active,
            ship_from_store=ship_from_store, confidence=confidence,
        ):
            available = 0
        rows.append(AvailabilityRow(sku, location, on_hand, committed, unavailable, available, incoming))
        totals[sku] += available
    return Availability(rows=rows, totals=totals)
