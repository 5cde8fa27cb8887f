"""Sourcing: which location serves each line, and why.

The rules, in order (DESIGN.md "Orders and reservations"):

1. Only *eligible* candidates: the location may serve the channel
   (`inventory.eligibility.location_eligible`: active, a store for POS, flagged for
   shipping and trusted above the confidence threshold for ship channels: the SKU ×
   location's own confidence where it has one, else the location's) — or, for a
   pickup order, it is the pickup location, offers pickup, is active and trusted —
   and it is inside the caller's location scope.
   A location with a daily `capacity` takes at most that many open order allocations a
   day; the last share of it (SOURCING_PRIORITY_CAPACITY_SHARE) is kept for the
   highest-priority channels, so a lower-priority channel stops short of it
   (rules `capacity` and `channel_priority`). The count is read with the candidates,
   without a lock: capacity is a planning limit, not a promise (two orders placed at the
   same instant may both take the last slot, so a busy location can end the day a few
   allocations over). This is deliberate: an exact limit needs a per-location, per-day
   counter row locked by every order and hold placed there, which serialises the
   reservation path at that location; units are never over-promised either way, since
   the ledger re-checks availability under its row lock (README "Re-sourcing").
2. Enough *available* units after the channel's buffer:
   on_hand − committed − damaged − quality_control − safety_stock − channel.safety_buffer.
3. Fewest splits: one location for the whole order if one can serve every line; else
   one location per line; else the fewest locations (largest available first, which is
   the minimum number of locations that can cover the quantity).
4. Between equally good locations: the fulfilment SLA (when the order names its region,
   locations whose handling plus transit time meets the channel's SLA come first), then
   location priority (SOURCING_LOCATION_PRIORITY, by kind: distribution centres before
   stores, so store shelves stay for walk-in customers), then the order's region, then
   the most available, then the code (so the choice is deterministic).

Candidates are read set-based (one query for every line) and without locks; the
choice is then posted through the ledger as a promise, whose guarded update re-checks
what is available under the row lock. If stock moved in between, the caller raises
`StockMoved` with the figure the ledger saw, refreshes its snapshot and plans again, a
bounded number of times.

Every decision is explained: the candidates considered with their available figures,
the rule that decided, and the units taken where. `decided_by` names every rule that
shaped the choice: the split rule, the tie-break that set the winner apart from the
runner-up, and the limits (capacity, channel priority) that took candidates out. The
explanation is stored with the allocation and shown on the order.
"""

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from inventory.eligibility import available_after_buffer, confidence_threshold, level_confidence, location_eligible
from inventory.errors import InsufficientStock
from inventory.ledger import LevelKey
from inventory.models import Channel
from inventory.selectors import highest_channel_priority, levels_of_skus
from orders.selectors import open_allocations_today
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
RANKING = "fewest splits, then fulfilment SLA, then location priority, then region, then most available"

# Rules that take a candidate out, and the tie-breaks in the order they are applied
# (the names `decided_by` uses; the order screen puts them in words).
RULE_ELIGIBILITY = "eligibility"
RULE_CAPACITY = "capacity"
RULE_CHANNEL_PRIORITY = "channel_priority"
RULE_EXCLUDED = "excluded_by_request"
TIE_BREAKS = ("fulfilment_sla", "location_priority", "region", "most_available", "location_code")


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
    excluded_by: str = ""  # the rule that took it out (RULE_*)
    capacity: dict | None = None  # {"open_today", "limit", "limit_for_channel"} when the location has one

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
        if level_confidence(row) < confidence_threshold():
            return "confidence below threshold"
        return ""
    if location_eligible(channel_kind=channel.kind, location_kind=row["location__kind"],
                         active=row["location__active"], ship_from_store=row["location__ship_from_store"],
                         confidence=level_confidence(row)):
        return ""
    if channel.kind == Channel.Kind.POS:
        return "point of sale sells from stores only"
    if not row["location__ship_from_store"]:
        return "not flagged for shipping"
    return "confidence below threshold"


class Snapshot:
    """Candidates per SKU, read once for all lines, refreshed from what the ledger saw."""

    def __init__(self, candidates: dict[int, list[Candidate]], *, channel: Channel | None = None) -> None:
        self.candidates = candidates
        self.channel = channel
        self.sla_hours = settings.FULFILMENT_SLA_HOURS.get(channel.kind) if channel is not None else None

    @classmethod
    def read(cls, *, sku_ids: set[int], channel: Channel, scope: LocationScope,
             pickup_location_id: int | None = None, location_id: int | None = None) -> "Snapshot":
        """One query for every SKU of the order: levels with their locations (at the pickup
        location only, for a pickup order; at `location_id` only, when the caller names it)."""
        candidates: dict[int, list[Candidate]] = defaultdict(list)
        rows = list(levels_of_skus(sku_ids, location_id=pickup_location_id or location_id))
        for row in rows:
            excluded = exclusion_reason(channel=channel, row=row, pickup_location_id=pickup_location_id, scope=scope)
            candidates[row["sku_id"]].append(Candidate(
                sku_id=row["sku_id"], location_id=row["location_id"], location=row["location__code"],
                kind=row["location__kind"], region=row["location__region"],
                available=available_after_buffer(row["available"], channel),
                excluded=excluded, excluded_by=RULE_ELIGIBILITY if excluded else "",
            ))
        snapshot = cls(candidates, channel=channel)
        limits = {row["location_id"]: row["location__capacity"] for row in rows
                  if row["location__capacity"] is not None}
        if limits:
            snapshot._apply_capacity(limits, channel)
        return snapshot

    def _apply_capacity(self, limits: dict[int, int], channel: Channel) -> None:
        """Take out locations whose daily capacity is used up (for this channel)."""
        start_of_day = timezone.make_aware(datetime.combine(timezone.localdate(), time.min))
        open_today = open_allocations_today(set(limits), since=start_of_day)
        top_priority = highest_channel_priority()
        kept_back = channel.priority < top_priority
        share = Decimal(settings.SOURCING_PRIORITY_CAPACITY_SHARE)
        for candidates in self.candidates.values():
            for candidate in candidates:
                limit = limits.get(candidate.location_id)
                if limit is None:
                    continue
                used = open_today.get(candidate.location_id, 0)
                for_channel = math.floor(limit * (1 - share)) if kept_back else limit
                candidate.capacity = {"open_today": used, "limit": limit, "limit_for_channel": for_channel}
                if candidate.excluded:
                    continue
                if used >= limit:
                    candidate.excluded = f"at capacity: {used} of {limit} open allocations today"
                    candidate.excluded_by = RULE_CAPACITY
                elif used >= for_channel:
                    candidate.excluded = (f"capacity kept for higher-priority channels: {used} of {limit} used, "
                                          f"'{channel.code}' (priority {channel.priority}, highest "
                                          f"{top_priority}) may use {for_channel}")
                    candidate.excluded_by = RULE_CHANNEL_PRIORITY

    def exclude(self, location_id: int, why: str) -> None:
        """Take a location out of this plan (re-sourcing away from it)."""
        for candidates in self.candidates.values():
            for candidate in candidates:
                if candidate.location_id == location_id:
                    candidate.excluded, candidate.excluded_by = why, RULE_EXCLUDED

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


def estimated_hours(candidate: Candidate, region: str) -> int | None:
    """Handling at the location plus transit to the ship-to region (None without a region)."""
    if not region:
        return None
    handling = settings.SOURCING_HANDLING_HOURS.get(candidate.kind, 0)
    transit = settings.SOURCING_TRANSIT_HOURS.get("same_region" if candidate.region == region else "other_region", 0)
    return handling + transit


def _misses_sla(candidate: Candidate, region: str, sla_hours: int | None) -> bool:
    hours = estimated_hours(candidate, region)
    return hours is not None and sla_hours is not None and hours > sla_hours


def _rank(candidate: Candidate, remaining: int, region: str, sla_hours: int | None = None) -> tuple:
    """The tie-break key, one element per TIE_BREAKS entry."""
    return (_misses_sla(candidate, region, sla_hours), location_priority(candidate.kind),
            bool(region) and candidate.region != region, -remaining, candidate.location)


def _deciding_tie_break(best: tuple, runner_up: tuple | None) -> str | None:
    """The first tie-break on which the winner beat the runner-up (None when unopposed)."""
    if runner_up is None:
        return None
    return next((name for name, mine, theirs in zip(TIE_BREAKS, best, runner_up, strict=True) if mine != theirs),
                None)


def _explain(candidates: list[Candidate], remaining: dict[LevelKey, int], takes: list[tuple[int, int]],
             demand: Demand, rule: str, region: str, sla_hours: int | None, tie_break: str | None,
             channel: Channel | None) -> dict:
    taken = dict(takes)
    ordered = sorted(candidates, key=lambda c: (bool(c.excluded), _rank(c, remaining.get(c.key, c.available),
                                                                        region, sla_hours)))
    shown = ordered[:EXPLAINED_CANDIDATES]
    limits = sorted({c.excluded_by for c in candidates if c.excluded_by in (RULE_CAPACITY, RULE_CHANNEL_PRIORITY)})
    decided_by = [rule, *([tie_break] if tie_break else []), *limits]
    return {
        "requested": demand.quantity,
        "rule": rule,
        "decided_by": decided_by,
        "ranking": RANKING,
        "region": region or None,
        **({"channel": {"code": channel.code, "priority": channel.priority}} if channel is not None else {}),
        **({"sla_hours": sla_hours} if region and sla_hours is not None else {}),
        "candidates": [
            {"location": c.location, "kind": c.kind, "region": c.region, "available": max(0, c.available),
             "eligible": not c.excluded, **({"excluded": c.excluded, "excluded_by": c.excluded_by}
                                            if c.excluded else {}),
             **({"capacity": c.capacity} if c.capacity else {}),
             **({"estimated_hours": estimated_hours(c, region),
                 "meets_sla": not _misses_sla(c, region, sla_hours)} if region and sla_hours is not None else {}),
             **({"allocated": taken[c.location_id]} if c.location_id in taken else {})}
            for c in shown
        ],
        "candidates_not_shown": len(ordered) - len(shown),
    }


def plan(*, demands: list[Demand], snapshot: Snapshot, region: str = "", allow_split: bool = True,
         requested_location_id: int | None = None) -> list[LinePlan]:
    """Choose locations for every demand, or raise InsufficientStock naming the first
    line that cannot be served. Pure: reads only the snapshot."""
    sla_hours = snapshot.sla_hours
    remaining: dict[LevelKey, int] = {}
    for candidates in snapshot.candidates.values():
        for candidate in candidates:
            if not candidate.excluded:
                remaining[candidate.key] = candidate.available

    def usable(sku_id: int) -> list[Candidate]:
        return [c for c in snapshot.candidates.get(sku_id, []) if not c.excluded and remaining[c.key] > 0]

    plans: list[LinePlan] = []
    whole_order, whole_order_tie = (_one_location_for_all(demands, snapshot, remaining, region, sla_hours)
                                    if len(demands) > 1 else (None, None))
    for demand in demands:
        candidates = snapshot.candidates.get(demand.sku_id, [])
        tie_break = None
        if requested_location_id is not None:
            rule = RULE_REQUESTED_LOCATION
            fits = [c for c in usable(demand.sku_id) if remaining[c.key] >= demand.quantity]
            takes = [(fits[0].location_id, demand.quantity)] if fits else []
        elif whole_order is not None:
            rule, takes, tie_break = RULE_WHOLE_ORDER, [(whole_order, demand.quantity)], whole_order_tie
        else:
            fits = sorted((c for c in usable(demand.sku_id) if remaining[c.key] >= demand.quantity),
                          key=lambda c: _rank(c, remaining[c.key], region, sla_hours))
            if fits:
                best = fits[0]
                rule, takes = RULE_WHOLE_LINE, [(best.location_id, demand.quantity)]
                tie_break = _deciding_tie_break(_rank(best, remaining[best.key], region, sla_hours),
                                                _rank(fits[1], remaining[fits[1].key], region, sla_hours)
                                                if len(fits) > 1 else None)
            elif allow_split:
                rule, takes = RULE_SPLIT, _split(demand, usable(demand.sku_id), remaining, region, sla_hours)
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
        explanation = _explain(candidates, remaining, takes, demand, rule, region, sla_hours, tie_break,
                               snapshot.channel)
        for location_id, quantity in takes:
            remaining[(demand.sku_id, location_id)] -= quantity
        plans.append(LinePlan(demand=demand, takes=takes, rule=rule, explanation=explanation))
    return plans


def _one_location_for_all(demands: list[Demand], snapshot: Snapshot, remaining: dict[LevelKey, int],
                          region: str, sla_hours: int | None) -> tuple[int | None, str | None]:
    """The best location that can serve every line, and the tie-break that chose it."""
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
        return None, None

    def rank(cands: list[Candidate]) -> tuple:
        return _rank(cands[0], min(remaining[c.key] for c in cands), region, sla_hours)

    ranked = sorted(complete, key=rank)
    tie_break = _deciding_tie_break(rank(ranked[0]), rank(ranked[1]) if len(ranked) > 1 else None)
    return ranked[0][0].location_id, tie_break


def _split(demand: Demand, usable: list[Candidate], remaining: dict[LevelKey, int],
           region: str, sla_hours: int | None) -> list[tuple[int, int]]:
    """Largest available first: the fewest locations that cover the quantity."""
    if sum(remaining[c.key] for c in usable) < demand.quantity:
        return []
    takes, left = [], demand.quantity
    for candidate in sorted(usable, key=lambda c: (-remaining[c.key], _rank(c, remaining[c.key], region,
                                                                             sla_hours))):
        quantity = min(left, remaining[candidate.key])
        takes.append((candidate.location_id, quantity))
        left -= quantity
        if not left:
            break
    return takes
