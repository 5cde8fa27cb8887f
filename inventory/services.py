"""Writes to inventory data. Master data is upserted by code, with history."""

from typing import Any

from django.db import IntegrityError, models, transaction

from inventory.models import Channel, Location, Sku


def _upsert(model: type[models.Model], *, code: str, values: dict[str, Any], actor, reason: str):
    """Create or update the row with this code; a PUT that changes nothing writes nothing.

    Returns (object, created). Two concurrent creates of one code: the loser of the
    unique constraint retries once and becomes an update.
    """
    for attempt in range(2):
        try:
            with transaction.atomic():
                obj = model.objects.select_for_update().filter(code=code).first()
                created = obj is None
                if created:
                    obj = model(code=code)
                elif all(getattr(obj, field) == value for field, value in values.items()):
                    return obj, False
                for field, value in values.items():
                    setattr(obj, field, value)
                obj._history_user = actor
                obj._change_reason = reason
                obj.save()
                return obj, created
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")


def sku_upsert(*, code: str, actor, reason: str = "master data upsert", **values) -> tuple[Sku, bool]:
    return _upsert(Sku, code=code, values=values, actor=actor, reason=reason)


def location_upsert(*, code: str, actor, reason: str = "master data upsert", **values) -> tuple[Location, bool]:
    return _upsert(Location, code=code, values=values, actor=actor, reason=reason)


def channel_upsert(*, code: str, actor, reason: str = "master data upsert", **values) -> tuple[Channel, bool]:
    return _upsert(Channel, code=code, values=values, actor=actor, reason=reason)
