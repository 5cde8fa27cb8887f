"""Scoring every location and keeping the scores (formula: the package docstring)."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from exceptions.services import cases_rerank_at_locations
from inventory.confidence import scoring
from inventory.confidence.factors import FACTORS
from inventory.models import Location, LocationConfidence


@dataclass(frozen=True)
class ScoringRun:
    scored: int
    changed: list[int]  # ids of the locations whose confidence changed


def _factor_entries(location_ids: list[int], *, since) -> dict[int, dict]:
    """Per location, per factor: what the page shows under "why this confidence"."""
    entries: dict[int, dict] = {location_id: {} for location_id in location_ids}
    for factor in FACTORS:
        readings = factor.read(since)
        minimum = factor.minimum_basis()
        enough = {location_id: value for location_id, (value, basis) in readings.items()
                  if basis >= minimum and location_id in entries}
        estate = scoring.estate_of(list(enough.values())) if len(enough) >= settings.CONFIDENCE_MIN_ESTATE else None
        for location_id in location_ids:
            value, basis = readings.get(location_id, (0.0, 0))
            entry = {"label": factor.label, "weight": factor.weight, "value": round(value, 4), "basis": basis,
                     "basis_label": factor.basis_label, "minimum_basis": minimum}
            if estate is None or location_id not in enough:
                entry.update(scored=False, z=0.0, multiplier=1.0,
                             why=(f"fewer than {settings.CONFIDENCE_MIN_ESTATE} locations have enough data"
                                  if estate is None else f"fewer than {minimum} {factor.basis_label}"))
            else:
                z = scoring.robust_z(value, estate)
                entry.update(scored=True, z=round(z, 2), multiplier=round(scoring.multiplier(z, factor.weight), 4),
                             median=round(estate.median, 4), mad=round(estate.mad, 4), estate=estate.locations)
            entries[location_id][factor.name] = entry
    return entries


@transaction.atomic
def locations_score(*, trigger: str = LocationConfidence.Trigger.SCHEDULE, actor=None,
                    window_days: int | None = None) -> ScoringRun:
    """Score every active location against the estate: a history row each, the new score
    on the location where it changed, and those locations' active cases ranked again.
    Safe to run twice (the second run appends the same scores and changes nothing)."""
    window_days = window_days or settings.CONFIDENCE_WINDOW_DAYS
    now = timezone.now()
    locations = list(Location.objects.filter(active=True).select_for_update().order_by("pk"))
    entries = _factor_entries([location.pk for location in locations], since=now - timedelta(days=window_days))
    rows, changed = [], []
    for location in locations:
        factors = entries[location.pk]
        score = scoring.combined([entry["multiplier"] for entry in factors.values()])
        rows.append(LocationConfidence(location=location, score=score, previous=location.confidence,
                                       factors=factors, window_days=window_days, trigger=trigger, actor=actor,
                                       computed_at=now))
        if score != location.confidence:
            location.confidence = score
            location.updated_at = now
            changed.append(location)
    LocationConfidence.objects.bulk_create(rows)
    if changed:
        bulk_update_with_history(changed, Location, ["confidence", "updated_at"], default_user=actor,
                                 default_change_reason=f"confidence recomputed ({trigger})", default_date=now)
        cases_rerank_at_locations([location.pk for location in changed])
    return ScoringRun(scored=len(locations), changed=[location.pk for location in changed])
