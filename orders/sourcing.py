"""Sourcing: which location serves each line, and why.

The rules, in order (DESIGN.md "Orders and reservations"):

1. Only *eligible* candidates: the location may serve the channel
   (`inventory.eligibility.location_eligible`: active, a store for POS, flagged for
   shipping and trusted above the confidence threshold for ship channels) — or, for a
   pickup order, it is the pickup location, offers pickup, is active and trusted —
   and it is inside the caller's location scope.
2. Enough *available* units after the channel's buffer:
   on_hand − committed − damaged − quality_control − safety_stock − channel.safety_buffer.
3. Fewest splits: one location for the whole order if one can serve every line; else
   one location per line; else the fewest locations (largest available first, which is
   the minimum number of locations that can cover the quantity).
4. Between equally good locations: location priority (SOURCING_LOCATION_PRIORITY, by
   kind: distribution centres before stores, so store shelves stay for walk-in
   customers), then the order's region, then the most available, then the code (so the
   choice is deterministic).

Candidates are read set-based (one query for every line) and without locks; the
choice is then posted through the ledger, whose `guard` re-checks availability and
eligibility under the row locks. If stock moved in between, the guard raises
`StockMoved` with the figures it saw; the caller refreshes its snapshot and plans
again, a bounded number of times.

Every decision is explained: the candidates considered with their available figures,
the rule that decided, and the units taken where. The explanation is stored with the
allocation and shown on the order.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache

from django.conf import settings

from inventory.eligibility import confidence_threshold, location_eligible
from inventory.errors import InsufficientStock
from inventory.ledger import LevelKey
from inventory.models import Channel, Location, Sku, StockLevel
from retailops.access import LocationScope
from retailops.sql import columns_of, execute, from_row, is_in

# How many times a plan is re-made after the guard saw stock move under it.
MAX_ATTEMPTS = 4
# Candidates written into an explanation (the best ones; the rest are counted).
EXPLAINED_CANDIDATES = 10

RULE_REQUESTED_LOCATION = "requested_location"
RULE_RESERVATION = "reservation"
RULE_WHOLE_ORDER = "whole_order_at_one_location"
RULE_WHOLE_LINE = "whole_line_at_one_location"
RULE_SPLIT = "split_fewest_locations"
RANKING = "fewest splits, then location priority, then region, then most available"


class StockMoved(InsufficientStock):
    """The guard saw less available (or a location no longer eligible) under the lock
    than the plan assumed. Carries what it saw so that the next plan uses it."""

    def __init__(self, seen: dict[LevelKey, int], ineligible: set[int]) -> None:
        super().__init__("Stock moved while the order was being sourced.")
        self.seen = seen
        self.ineligible = ineligible


@dataclass
class Candidate:
    sku_id: int
    location_id: int
    location: str
    kind: str
    region: str
    available: int
    excluded: str = ""  # why the location may not serve; empty when eligible
    decided_on: dict = field(default_factory=dict)  # the location's ELIGIBILITY_FIELDS as read

    @property
    def key(self) -> LevelKey:
        return (self.sku_id, self.location_id)


@dataclass(frozen=True)
class Demand:
    """What one line (or one hold) needs. `line_id` is empty for a hold."""

    line_id: str
    sku_id: int
    sku: str
    quantity: int


@dataclass
class LinePlan:
    demand: Demand
    takes: list[tuple[int, int]]  # (location id, quantity)
    rule: str
    explanation: dict = field(default_factory=dict)


def location_priority(kind: str) -> int:
    order = settings.SOURCING_LOCATION_PRIORITY
    return order.index(kind) if kind in order else len(order)


def exclusion_reason(*, channel: Channel, location: dict, pickup_location_id: int | None,
                     scope: LocationScope) -> str:
    """Why this location may not serve the channel (or pickup order); "" when it may."""
    if not scope.allows(location["id"]):
        return "outside the caller's location scope"
    if not location["active"]:
        return "inactive"
    if pickup_location_id is not None:
        if location["id"] != pickup_location_id:
            return "not the pickup location"
        if not location["pickup"]:
            return "does not offer pickup"
        if Decimal(location["confidence"]) < confidence_threshold():
            return "confidence below threshold"
        return ""
    if location_eligible(channel_kind=channel.kind, location_kind=location["kind"], active=location["active"],
                         ship_from_store=location["ship_from_store"], confidence=location["confidence"]):
        return ""
    if channel.kind == Channel.Kind.POS:
        return "point of sale sells from stores only"
    if not location["ship_from_store"]:
        return "not flagged for shipping"
    return "confidence below threshold"


def available_after_buffer(level: StockLevel, channel: Channel) -> int:
    return level.on_hand - level.committed - level.unavailable - channel.safety_buffer


_LOCATION_FIELDS = ("id", "code", "kind", "region", "active", "ship_from_store", "pickup", "confidence")
# The location fields eligibility depends on: a posting re-checks them under the lock.
ELIGIBILITY_FIELDS = ("kind", "active", "ship_from_store", "pickup", "confidence")


# A snapshot row: the level's buckets, then its location's `_LOCATION_FIELDS`.
_SNAPSHOT_COLUMNS = ", ".join(
    [f"l.{name}" for name in ("sku_id", "on_hand", "committed", "damaged", "quality_control", "safety_stock")]
    + [f"loc.{name}" for name in _LOCATION_FIELDS])


def _snapshot_rows(sku_ids: list[int], only_location_id: int | None) -> list[tuple]:
    """Fixed SQL: the hot path does not compile a queryset per request."""
    where, params = is_in("l.sku_id", sku_ids)
    if only_location_id is not None:
        where += " AND l.location_id = %s"
        params.append(only_location_id)
    return execute(
        f"SELECT {_SNAPSHOT_COLUMNS} "  # noqa: S608 (no user input)
        f"FROM {StockLevel._meta.db_table} l JOIN {Location._meta.db_table} loc ON loc.id = l.location_id "
        f"WHERE {where}",
        params,
    )


@cache
def _hold_read_sql(at_location: bool) -> str:
    """The SKU, the channel and the SKU's levels with their locations (every level, or the
    one at the location whose code is the first parameter), by codes: a checkout hold's
    whole read. No row when the SKU or channel code is unknown; one row with no level when
    the SKU has none there."""
    _names, sku_columns = columns_of(Sku, "s")
    _names, channel_columns = columns_of(Channel, "c")
    location_table = Location._meta.db_table
    at = f" AND l.location_id = (SELECT id FROM {location_table} WHERE code = %s)" if at_location else ""  # noqa: S608
    return (
        f"SELECT {sku_columns}, {channel_columns}, {_SNAPSHOT_COLUMNS} "  # noqa: S608 (no user input)
        f"FROM {Sku._meta.db_table} s CROSS JOIN {Channel._meta.db_table} c "
        f"LEFT JOIN {StockLevel._meta.db_table} l ON l.sku_id = s.id{at} "
        f"LEFT JOIN {location_table} loc ON loc.id = l.location_id "
        f"WHERE s.code = %s AND c.code = %s"
    )


def read_for_hold(sku_code: str, channel_code: str, location_code: str | None = None,
                  ) -> tuple[Sku, Channel, list[tuple]] | None:
    """(SKU, channel, the SKU's snapshot rows — at `location_code` only, when given) in one
    statement, or None when the SKU or channel code is unknown; whether they are active,
    and whether the location exists, is the caller's to judge."""
    at_location = location_code is not None
    rows = execute(_hold_read_sql(at_location), [*([location_code] if at_location else []), sku_code, channel_code])
    if not rows:
        return None
    sku_width, channel_width = len(columns_of(Sku)[0]), len(columns_of(Channel)[0])
    first = rows[0]
    sku = from_row(Sku, first[:sku_width])
    channel = from_row(Channel, first[sku_width:sku_width + channel_width])
    levels = [row[sku_width + channel_width:] for row in rows if row[sku_width + channel_width] is not None]
    return sku, channel, levels


class Snapshot:
    """Candidates per SKU, read once for all lines, refreshed from what guards saw."""

    def __init__(self, candidates: dict[int, list[Candidate]]) -> None:
        self.candidates = candidates

    @classmethod
    def read(cls, *, sku_ids: set[int], channel: Channel, scope: LocationScope,
             pickup_location_id: int | None = None) -> "Snapshot":
        """One query for every SKU of the order: levels joined with their locations (at the
        pickup location only, for a pickup order)."""
        return cls.of_rows(_snapshot_rows(sorted(sku_ids), pickup_location_id), channel=channel, scope=scope,
                           pickup_location_id=pickup_location_id)

    @classmethod
    def of_rows(cls, rows: list[tuple], *, channel: Channel, scope: LocationScope,
                pickup_location_id: int | None = None) -> "Snapshot":
        """The snapshot of rows read as `_SNAPSHOT_COLUMNS`."""
        candidates: dict[int, list[Candidate]] = defaultdict(list)
        for row in rows:
            sku_id, on_hand, committed, damaged, quality_control, safety_stock = row[:6]
            location = dict(zip(_LOCATION_FIELDS, row[6:], strict=True))
            available = on_hand - committed - damaged - quality_control - safety_stock - channel.safety_buffer
            candidates[sku_id].append(Candidate(
                sku_id=sku_id, location_id=location["id"], location=location["code"], kind=location["kind"],
                region=location["region"], available=available,
                excluded=exclusion_reason(channel=channel, location=location, pickup_location_id=pickup_location_id,
                                          scope=scope),
                decided_on={name: location[name] for name in ELIGIBILITY_FIELDS},
            ))
        return cls(candidates)

    def candidate(self, key: LevelKey) -> Candidate:
        return next(c for c in self.candidates.get(key[0], []) if c.location_id == key[1])

    def refresh(self, moved: StockMoved) -> None:
        for candidates in self.candidates.values():
            for candidate in candidates:
                if candidate.key in moved.seen:
                    candidate.available = moved.seen[candidate.key]
                if candidate.location_id in moved.ineligible:
                    candidate.excluded = "no longer eligible"

    def give_back(self, key: LevelKey, quantity: int) -> None:
        """Units released in the same posting (an expired or trimmed hold) count as available."""
        for candidate in self.candidates.get(key[0], []):
            if candidate.location_id == key[1]:
                candidate.available += quantity


def _rank(candidate: Candidate, remaining: int, region: str) -> tuple:
    return (location_priority(candidate.kind), bool(region) and candidate.region != region, -remaining,
            candidate.location)


def _explain(candidates: list[Candidate], remaining: dict[LevelKey, int], takes: list[tuple[int, int]],
             demand: Demand, rule: str, region: str) -> dict:
    taken = dict(takes)
    ordered = sorted(candidates, key=lambda c: (bool(c.excluded), _rank(c, remaining.get(c.key, c.available),
                                                                        region)))
    shown = ordered[:EXPLAINED_CANDIDATES]
    return {
        "requested": demand.quantity,
        "rule": rule,
        "ranking": RANKING,
        "region": region or None,
        "candidates": [
            {"location": c.location, "kind": c.kind, "region": c.region, "available": max(0, c.available),
             "eligible": not c.excluded, **({"excluded": c.excluded} if c.excluded else {}),
             **({"allocated": taken[c.location_id]} if c.location_id in taken else {})}
            for c in shown
        ],
        "candidates_not_shown": len(ordered) - len(shown),
    }


def plan(*, demands: list[Demand], snapshot: Snapshot, region: str = "", allow_split: bool = True,
         requested_location_id: int | None = None) -> list[LinePlan]:
    """Choose locations for every demand, or raise InsufficientStock naming the first
    line that cannot be served. Pure: reads only the snapshot."""
    remaining: dict[LevelKey, int] = {}
    for candidates in snapshot.candidates.values():
        for candidate in candidates:
            if not candidate.excluded:
                remaining[candidate.key] = candidate.available

    def usable(sku_id: int) -> list[Candidate]:
        return [c for c in snapshot.candidates.get(sku_id, []) if not c.excluded and remaining[c.key] > 0]

    plans: list[LinePlan] = []
    whole_order = _one_location_for_all(demands, snapshot, remaining, region) if len(demands) > 1 else None
    for demand in demands:
        candidates = snapshot.candidates.get(demand.sku_id, [])
        if requested_location_id is not None:
            rule = RULE_REQUESTED_LOCATION
            fits = [c for c in usable(demand.sku_id) if remaining[c.key] >= demand.quantity]
            takes = [(fits[0].location_id, demand.quantity)] if fits else []
        elif whole_order is not None:
            rule, takes = RULE_WHOLE_ORDER, [(whole_order, demand.quantity)]
        else:
            fits = [c for c in usable(demand.sku_id) if remaining[c.key] >= demand.quantity]
            if fits:
                best = min(fits, key=lambda c: _rank(c, remaining[c.key], region))
                rule, takes = RULE_WHOLE_LINE, [(best.location_id, demand.quantity)]
            elif allow_split:
                rule, takes = RULE_SPLIT, _split(demand, usable(demand.sku_id), remaining, region)
            else:
                takes = []
        if not takes:
            total = sum(max(0, remaining[c.key]) for c in usable(demand.sku_id))
            where = ("at the requested location" if requested_location_id is not None
                     else "across eligible locations" if allow_split else "at any one eligible location")
            line = f"line '{demand.line_id}': " if demand.line_id else ""
            raise InsufficientStock(
                f"{line}{demand.quantity} × '{demand.sku}' requested, {total} available {where}.",
                sku=demand.sku, requested=demand.quantity, available=total,
                **({"line_id": demand.line_id} if demand.line_id else {}),
            )
        explanation = _explain(candidates, remaining, takes, demand, rule, region)
        for location_id, quantity in takes:
            remaining[(demand.sku_id, location_id)] -= quantity
        plans.append(LinePlan(demand=demand, takes=takes, rule=rule, explanation=explanation))
    return plans


def _one_location_for_all(demands: list[Demand], snapshot: Snapshot, remaining: dict[LevelKey, int],
                          region: str) -> int | None:
    needed: dict[int, int] = defaultdict(int)
    for demand in demands:
        needed[demand.sku_id] += demand.quantity
    by_location: dict[int, list[Candidate]] = defaultdict(list)
    for sku_id in needed:
        for candidate in snapshot.candidates.get(sku_id, []):
            if not candidate.excluded and remaining[candidate.key] >= needed[sku_id]:
                by_location[candidate.location_id].append(candidate)
    complete = [cands for cands in by_location.values() if len(cands) == len(needed)]
    if not complete:
        return None
    best = min(complete, key=lambda cands: (location_priority(cands[0].kind),
                                            bool(region) and cands[0].region != region,
                                            -min(remaining[c.key] for c in cands), cands[0].location))
    return best[0].location_id


def _split(demand: Demand, usable: list[Candidate], remaining: dict[LevelKey, int],
           region: str) -> list[tuple[int, int]]:
    """Largest available first: the fewest locations that cover the quantity."""
    if sum(remaining[c.key] for c in usable) < demand.quantity:
        return []
    takes, left = [], demand.quantity
    for candidate in sorted(usable, key=lambda c: (-remaining[c.key], _rank(c, remaining[c.key], region))):
        quantity = min(left, remaining[candidate.key])
        takes.append((candidate.location_id, quantity))
        left -= quantity
        if not left:
            break
    return takes


def availability_guard(*, demand: dict[LevelKey, int], channel: Channel, pickup_location_id: int | None,
                       scope: LocationScope):
    """A ledger guard: under the row locks, every key with a net new demand still has that
    much available after the channel buffer, and its location may still serve."""

    def guard(levels: dict[LevelKey, StockLevel]) -> None:
        wanted = {key: quantity for key, quantity in demand.items() if quantity > 0}
        if not wanted:
            return
        locations = {row["id"]: row for row in Location.objects.filter(
            pk__in={location_id for _sku, location_id in wanted}).values(*_LOCATION_FIELDS)}
        seen = {key: available_after_buffer(levels[key], channel) for key in wanted}
        ineligible = {location_id for _sku, location_id in wanted if exclusion_reason(
            channel=channel, location=locations[location_id], pickup_location_id=pickup_location_id, scope=scope)}
        if ineligible or any(seen[key] < quantity for key, quantity in wanted.items()):
            raise StockMoved(seen, ineligible)

    return guard
