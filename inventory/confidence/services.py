"""Scoring every location, and every SKU × location counted enough, and keeping the scores
(formula: the package docstring)."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from exceptions.services import cases_rerank_at_locations
from inventory.confidence import scoring
from inventory.confidence.factors import FACTORS, Factor
from inventory.ledger import lock_levels
from inventory.models import LevelConfidence, Location, LocationConfidence, StockLevel

# The factor whose basis decides whether a level is scored on its own: its count lines.
LEVEL_GATE = "count_variance_rate"


@dataclass(frozen=True)
class ScoringRun:
    scored: int
    changed: list[int]  # ids of the locations whose confidence changed
    levels: int = 0  # SKU × location levels scored


def _factor_entries(keys: list, readings: list[tuple[Factor, dict, int]], *, estate_noun: str) -> dict:
    """Per key (a location id, or a level's (sku id, location id)), per factor: what a page
    shows under "why this confidence", each factor scored against the keys with enough data."""
    entries: dict = {key: {} for key in keys}
    for factor, values, minimum in readings:
        enough = {key: value for key, (value, basis) in values.items() if basis >= minimum and key in entries}
        estate = scoring.estate_of(list(enough.values())) if len(enough) >= settings.CONFIDENCE_MIN_ESTATE else None
        for key in keys:
            value, basis = values.get(key, (0.0, 0))
            entry = {"label": factor.label, "weight": factor.weight, "value": round(value, 4), "basis": basis,
                     "basis_label": factor.basis_label, "minimum_basis": minimum}
            if estate is None or key not in enough:
                entry.update(scored=False, z=0.0, multiplier=1.0,
                             why=(f"fewer than {settings.CONFIDENCE_MIN_ESTATE} {estate_noun} have enough data"
                                  if estate is None else f"fewer than {minimum} {factor.basis_label}"))
            else:
                z = scoring.robust_z(value, estate)
                entry.update(scored=True, z=round(z, 2), multiplier=round(scoring.multiplier(z, factor.weight), 4),
                             median=round(estate.median, 4), mad=round(estate.mad, 4), estate=estate.locations)
            entries[key][factor.name] = entry
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
    since = now - timedelta(days=window_days)
    entries = _factor_entries([location.pk for location in locations],
                              [(factor, factor.read(since), factor.minimum_basis()) for factor in FACTORS],
                              estate_noun="locations")
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
    levels = _levels_score(location_ids={location.pk for location in locations}, since=since, now=now,
                           window_days=window_days, trigger=trigger, actor=actor)
    return ScoringRun(scored=len(locations), changed=[location.pk for location in changed], levels=levels)


def _levels_score(*, location_ids: set[int], since, now, window_days: int, trigger: str, actor=None) -> int:
    """Score every SKU × location (at `location_ids`, the active ones) with at least
    CONFIDENCE_LEVEL_MIN_COUNTED_LINES count lines since `since`, on the factors that can be
    read per level, against the levels that have enough data: a history row each, and the
    score on the level. A level that no longer has enough counts loses its score (its
    location's stands again). One query per factor for every level, never one per level.
    Returns the levels scored."""
    readings = [(factor, factor.read_levels(since), (factor.level_minimum_basis or factor.minimum_basis)())
                for factor in FACTORS if factor.read_levels is not None]
    counted = next(values for factor, values, _ in readings if factor.name == LEVEL_GATE)
    minimum = settings.CONFIDENCE_LEVEL_MIN_COUNTED_LINES
    keys = sorted(key for key, (_, basis) in counted.items() if basis >= minimum and key[1] in location_ids)
    held = set(StockLevel.objects.filter(confidence__isnull=False).values_list("sku_id", "location_id"))
    # Locked in the ledger's one order, so this run and a posting queue up, never deadlock.
    levels = lock_levels(set(keys) | held)
    entries = _factor_entries(keys, readings, estate_noun="levels")
    rows = []
    for key, level in levels.items():
        score = scoring.combined([entry["multiplier"] for entry in entries[key].values()]) if key in entries else None
        if key in entries:
            rows.append(LevelConfidence(sku_id=key[0], location_id=key[1], score=score, previous=level.confidence,
                                        factors=entries[key], window_days=window_days, trigger=trigger, actor=actor,
                                        computed_at=now))
        level.confidence = score
    LevelConfidence.objects.bulk_create(rows, batch_size=1000)
    StockLevel.objects.bulk_update(list(levels.values()), ["confidence"], batch_size=1000)
    return len(rows)
