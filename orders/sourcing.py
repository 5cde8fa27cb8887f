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
choice is then posted through the ledger as a promise, whose guarded update re-checks
what is available under the row lock. If stock moved in between, the caller raises
`StockMoved` with the figure the ledger saw, refreshes its snapshot and plans again, a
bounded number of times.

Every decision is explained: the candidates considered with their available figures,
the rule that decided, and the units taken where. The explanation is stored with the
allocation and shown on the order.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings

from inventory.eligibility import available_after_buffer, confidence_threshold, location_eligible
from inventory.errors import InsufficientStock
from inventory.ledger import LevelKey
from inventory.models import Channel
from inventory.selectors import levels_of_skus
from retailops.access import LocationScope

# How many times a plan is re-made after the ledger saw stock move under it.
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
    """The ledger saw less available under the lock than the plan assumed. Carries what
    it saw (available after the channel's buffer, per level) for the next plan."""

    def __init__(self, seen: dict[LevelKey, int]) -> None:
        super().__init__("Stock moved while the order was being sourced.")
        self.seen = seen


@dataclass
class Candidate:
    sku_id: int
    location_id: int
    location: str
    kind: str
    region: str
    available: int
    excluded: str = ""  # why the location may not serve; empty when eligible

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


def exclusion_reason(*, channel: Channel, row: dict, pickup_location_id: int | None, scope: LocationScope) -> str:
    """Why the location of a candidate row (`inventory.selectors.levels_of_skus`) may not serve
    the channel (or pickup order); "" when it may."""
    if not scope.allows(row["location_id"]):
        return "outside the caller's location scope"
    if not row["location__active"]:
        return "inactive"
    if pickup_location_id is not None:
        if row["location_id"] != pickup_location_id:
            return "not the pickup location"
        if not row["location__pickup"]:
            return "does not offer pickup"
        if Decimal(row["location__confidence"]) < confidence_threshold():
            return "confidence below threshold"
        return ""
    if location_eligible(channel_kind=channel.kind, location_kind=row["location__kind"],
                         active=row["location__active"], ship_from_store=row["location__ship_from_store"],
                         confidence=row["location__confidence"]):
        return ""
    if channel.kind == Channel.Kind.POS:
        return "point of sale sells from stores only"
    if not row["location__ship_from_store"]:
        return "not flagged for shipping"
    return "confidence below threshold"


class Snapshot:
    """Candidates per SKU, read once for all lines, refreshed from what the ledger saw."""

    def __init__(self, candidates: dict[int, list[Candidate]]) -> None:
        self.candidates = candidates

    @classmethod
    def read(cls, *, sku_ids: set[int], channel: Channel, scope: LocationScope,
             pickup_location_id: int | None = None, location_id: int | None = None) -> "Snapshot":
        """One query for every SKU of the order: levels with their locations (at the pickup
        location only, for a pickup order; at `location_id` only, when the caller names it)."""
        candidates: dict[int, list[Candidate]] = defaultdict(list)
        for row in levels_of_skus(sku_ids, location_id=pickup_location_id or location_id):
            candidates[row["sku_id"]].append(Candidate(
                sku_id=row["sku_id"], location_id=row["location_id"], location=row["location__code"],
                kind=row["location__kind"], region=row["location__region"],
                available=available_after_buffer(row["available"], channel),
                excluded=exclusion_reason(channel=channel, row=row, pickup_location_id=pickup_location_id,
                                          scope=scope),
            ))
        return cls(candidates)

    def candidate(self, key: LevelKey) -> Candidate:
        return next(candidate for candidate in self.candidates[key[0]] if candidate.location_id == key[1])

    def refresh(self, moved: StockMoved) -> None:
        for candidates in self.candidates.values():
            for candidate in candidates:
                if candidate.key in moved.seen:
                    candidate.available = moved.seen[candidate.key]

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
