"""Cycle counts: ops schedule a count of some SKUs at a location, the people on the floor
count them blind, and submitting settles the ledger (DESIGN.md "Adjustments, counts,
transfers").

scheduled → in_progress → submitted → accepted; a submitted count may instead get
recount_requested → in_progress → submitted again (the next round); cancelled only before
it is submitted. Who: `add_cyclecount` schedules and cancels, `change_cyclecount` counts
and submits, `review_cyclecount` accepts or asks for a recount; each only at locations in
their scope.

Submitting takes the ledger's on-hand of every line under the levels' row locks (the
snapshot the counter never sees) and turns each difference into a count adjustment
through `inventory.adjustments`, so the approval policy decides:

- a count equal to on-hand, or a difference below the threshold, settles the level now:
  the level is marked counted (`last_counted_at`) and the active cases about it that a
  count answers (negative on-hand, reconciliation variance, stale level) are resolved with
  the system's root cause `recounted`;
- a difference at or above the threshold waits for finance. The level is not marked
  counted and its cases stay open until the adjustment applies: only an applied count
  says what is on the shelf, and marking the level counted earlier would make finance's
  approval look superseded.

A recount clears the lines for a blind second round. What the first round applied stays
applied (the second round's differences are against the ledger after it); a first-round
adjustment still waiting for finance is superseded by any later applied count of its
level, and finance are refused if they approve it (see `inventory.adjustments`).
"""

import random
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from exceptions.selectors import active_cases_about
from exceptions.services import cases_resolve_recounted
from exceptions.states import CaseKind
from inventory.adjustments import adjustment_from_count, approval_policy_current
from inventory.errors import LocationOutOfScope, UnknownSku
from inventory.ledger import lock_levels, post_movements, posting_time
from inventory.models import CycleCount, CycleCountLine, Location, Sku, StockLevel
from inventory.selectors import location_by_code, skus_by_code
from inventory.states import CYCLE_COUNT_TRANSITIONS, CycleCountStatus
from retailops.access import LocationScope, location_scope_for_user
from retailops.errors import InvalidInput, InvalidState
from retailops.lifecycle import check_transition
from retailops.transactions import in_retrying_transaction

MAX_LINES = 500
COUNT_PERMISSION = "inventory.change_cyclecount"
# Cases a count answers: each is about what is on the shelf at one level.
VARIANCE_CASE_KINDS = (CaseKind.NEGATIVE_ON_HAND, CaseKind.RECONCILIATION_VARIANCE, CaseKind.STALE_LEVEL)

Selection = CycleCount.Selection


@dataclass(frozen=True)
class CountedLine:
    sku: str
    counted: int


# --- Scheduling -------------------------------------------------------------------------------


def _explicit_skus(codes: list[str]) -> list[Sku]:
    wanted = list(dict.fromkeys(code.strip() for code in codes if code.strip()))
    if not wanted:
        raise InvalidInput("Name at least one SKU to count.", code="required", field="skus")
    skus = {code: sku for code, sku in skus_by_code(wanted).items() if sku.active}
    unknown = [code for code in wanted if code not in skus]
    if unknown:
        raise UnknownSku(f"Unknown SKU{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.", field="skus")
    return [skus[code] for code in wanted]


def _skus_with_variance_cases(location: Location) -> list[Sku]:
    sku_ids = set(active_cases_about(location_id=location.pk, kinds=VARIANCE_CASE_KINDS)
                  .filter(sku__isnull=False).values_list("sku_id", flat=True))
    skus = list(Sku.objects.filter(pk__in=sku_ids, active=True).order_by("code"))
    if not skus:
        raise InvalidInput(f"No open variance cases at {location.code}: nothing to count.",
                           code="nothing_to_count", field="selection")
    return skus


def _random_sample(location: Location, size: int | None) -> list[Sku]:
    if size is None or not 1 <= size <= MAX_LINES:
        raise InvalidInput(f"The sample size is 1 to {MAX_LINES}.", code="invalid_sample_size", field="sample_size")
    carried = list(StockLevel.objects.filter(location=location, sku__active=True).values_list("sku_id", flat=True))
    if not carried:
        raise InvalidInput(f"{location.code} carries no SKUs yet.", code="nothing_to_count", field="selection")
    chosen = random.sample(carried, min(size, len(carried)))
    return list(Sku.objects.filter(pk__in=chosen).order_by("code"))


def _check_counter(user, location: Location) -> None:
    if not user.is_active or not user.has_perm(COUNT_PERMISSION):
        raise InvalidInput(f"{user.get_username()} does not count stock.", code="invalid_assignee", field="assignee")
    if not location_scope_for_user(user).allows(location.pk):
        raise InvalidInput(f"{user.get_username()} does not work at {location.code}.", code="invalid_assignee",
                           field="assignee")


@in_retrying_transaction
def count_schedule(*, location_code: str, selection: str, actor, scope: LocationScope, sku_codes: list[str] = (),
                   sample_size: int | None = None, reason: str = "", assignee=None,
                   now: datetime | None = None) -> CycleCount:
    """Schedule a count at a location of: the SKUs named (`explicit`), every SKU with an
    open variance case there (`variance_cases`), or a random sample of `sample_size` SKUs
    the location carries (`random_sample`). `now`: when (default: the current time)."""
    now = posting_time(now)
    location = location_by_code(location_code, scope=scope)
    if selection == Selection.EXPLICIT:
        skus = _explicit_skus(list(sku_codes))
    elif selection == Selection.VARIANCE_CASES:
        skus = _skus_with_variance_cases(location)
    elif selection == Selection.RANDOM_SAMPLE:
        skus = _random_sample(location, sample_size)
    else:
        raise InvalidInput(f"Unknown selection '{selection}'; one of {', '.join(Selection.values)}.",
                           code="invalid_selection", field="selection")
    if len(skus) > MAX_LINES:
        raise InvalidInput(f"A count has at most {MAX_LINES} SKUs.", code="invalid_lines", field="skus")
    if assignee is not None:
        _check_counter(assignee, location)
    count = CycleCount(location=location, selection=selection, reason=reason.strip(), scheduled_by=actor,
                       sample_size=sample_size if selection == Selection.RANDOM_SAMPLE else None, created_at=now)
    if assignee is not None:
        count.assigned_to, count.assigned_at = assignee, now
    count._history_user = actor
    count._change_reason = f"scheduled: {Selection(selection).label}, {len(skus)} SKUs"
    count._history_date = now
    count.save()
    bulk_create_with_history([CycleCountLine(count=count, sku=sku) for sku in skus], CycleCountLine,
                             default_user=actor, default_change_reason="scheduled", default_date=now)
    return count


# --- The lifecycle -----------------------------------------------------------------------------


def _lock(count: CycleCount, scope: LocationScope) -> CycleCount:
    locked = CycleCount.objects.select_for_update().select_related("location").get(pk=count.pk)
    if not scope.allows(locked.location_id):
        raise LocationOutOfScope("The count's location is outside the caller's location scope.")
    return locked


def _transition(count: CycleCount, to: str, *, actor, reason: str, note: str = "", stamp: str | None = None,
                fields: tuple[str, ...] = (), at: datetime | None = None) -> None:
    """Move a locked count to `to`, stamp who and when, and record why in its history."""
    check_transition(CYCLE_COUNT_TRANSITIONS, count.status, to, noun="count")
    previous = count.status
    count.status = to
    update = ["status", "updated_at", *fields]
    if stamp:
        setattr(count, f"{stamp}_by", actor)
        setattr(count, f"{stamp}_at", at or timezone.now())
        update += [f"{stamp}_by", f"{stamp}_at"]
    count._history_user = actor
    count._change_reason = f"{reason}{': ' + note if note else ''} ({previous} → {to})"[:100]
    count._history_date = at or timezone.now()
    count.save(update_fields=update)


@in_retrying_transaction
def count_start(*, count: CycleCount, actor, scope: LocationScope) -> CycleCount:
    """The counter starts (or, after a recount request, starts again)."""
    locked = _lock(count, scope)
    _transition(locked, CycleCountStatus.IN_PROGRESS, actor=actor,
                reason="started" if locked.round == 1 else f"round {locked.round} started", stamp="started")
    return locked


def _counted_by_sku(lines: list[CountedLine], expected: dict[str, CycleCountLine]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for index, line in enumerate(lines):
        if line.sku not in expected:
            raise InvalidInput(f"SKU '{line.sku}' is not on this count.", code="not_on_count",
                               field=f"lines[{index}].sku")
        if line.counted < 0:
            raise InvalidInput("A counted quantity cannot be negative.", code="min_value",
                               field=f"lines[{index}].counted")
        if line.sku in counted:
            raise InvalidInput(f"SKU '{line.sku}' appears twice.", code="duplicate_sku", field=f"lines[{index}].sku")
        counted[line.sku] = line.counted
    missing = [code for code in expected if code not in counted]
    if missing:
        raise InvalidInput(f"Count every line before submitting (enter 0 for none): {', '.join(missing)}.",
                           code="count_incomplete", field="lines")
    return counted


@in_retrying_transaction
def count_submit(*, count: CycleCount, lines: list[CountedLine], actor, scope: LocationScope,
                 now: datetime | None = None) -> CycleCount:
    """The counter hands in every line. Each difference to the ledger becomes a count
    adjustment through the approval policy; see the module docstring for what settles now.
    `now`: when it was counted (default: the current time; never ahead of the clock)."""
    counted_at = posting_time(now)
    locked = _lock(count, scope)
    if locked.status in (CycleCountStatus.SCHEDULED, CycleCountStatus.RECOUNT_REQUESTED):
        _transition(locked, CycleCountStatus.IN_PROGRESS, actor=actor, reason="started by submitting",
                    stamp="started", at=counted_at)
    check_transition(CYCLE_COUNT_TRANSITIONS, locked.status, CycleCountStatus.SUBMITTED, noun="count")
    count_lines = {line.sku.code: line for line in locked.lines.select_related("sku").order_by("pk")}
    counted = _counted_by_sku(lines, count_lines)
    levels = lock_levels((line.sku_id, locked.location_id) for line in count_lines.values())
    policy = approval_policy_current()
    settled = []
    for code, line in count_lines.items():
        key = (line.sku_id, locked.location_id)
        line.counted_quantity = counted[code]
        line.system_quantity = levels[key].on_hand
        line.variance = line.counted_quantity - line.system_quantity
        line.adjustment = adjustment_from_count(
            sku=line.sku, level=levels[key], counted=line.counted_quantity, counted_at=counted_at, actor=actor,
            policy=policy, reference=locked.reference, note=f"Cycle count {locked.pk}, round {locked.round}",
        )
        if line.adjustment is None or line.adjustment.applied_at is not None:
            settled.append(key)
    unchanged = {(line.sku_id, locked.location_id): counted_at for line in count_lines.values()
                 if line.adjustment is None}
    if unchanged:  # a count that matches the ledger still verifies the level
        post_movements([], counted_at=unchanged, actor=actor, document_type=CycleCount.DOCUMENT_TYPE,
                       document_id=str(locked.pk))
    bulk_update_with_history(list(count_lines.values()), CycleCountLine,
                             ["counted_quantity", "system_quantity", "variance", "adjustment"],
                             default_user=actor, default_change_reason=f"round {locked.round} submitted",
                             default_date=counted_at)
    _transition(locked, CycleCountStatus.SUBMITTED, actor=actor, reason=f"round {locked.round} submitted",
                stamp="submitted", at=counted_at)
    _resolve_settled_cases(locked, settled, actor=actor)
    return locked


def _resolve_settled_cases(count: CycleCount, keys: list[tuple[int, int]], *, actor) -> None:
    if not keys:
        return
    ids = list(active_cases_about(location_id=count.location_id, sku_ids=[sku_id for sku_id, _ in keys],
                                  kinds=VARIANCE_CASE_KINDS).values_list("pk", flat=True))
    if ids:
        cases_resolve_recounted(ids, actor=actor, note=f"Settled by cycle count {count.pk} "
                                                       f"(round {count.round}).")


@in_retrying_transaction
def count_request_recount(*, count: CycleCount, actor, scope: LocationScope, note: str) -> CycleCount:
    """Before accepting, ops ask for the lines to be counted again (blind, a new round)."""
    if not note or not note.strip():
        raise InvalidInput("Say why the lines need a recount.", code="required", field="note")
    locked = _lock(count, scope)
    check_transition(CYCLE_COUNT_TRANSITIONS, locked.status, CycleCountStatus.RECOUNT_REQUESTED, noun="count")
    locked.round += 1
    _transition(locked, CycleCountStatus.RECOUNT_REQUESTED, actor=actor, reason="recount requested",
                note=note.strip(), fields=("round",))
    lines = list(locked.lines.order_by("pk"))
    for line in lines:
        line.counted_quantity = line.system_quantity = line.variance = line.adjustment = None
    bulk_update_with_history(lines, CycleCountLine, ["counted_quantity", "system_quantity", "variance",
                                                     "adjustment"],
                             default_user=actor, default_change_reason="recount requested")
    return locked


@in_retrying_transaction
def count_accept(*, count: CycleCount, actor, scope: LocationScope, note: str = "",
                 now: datetime | None = None) -> CycleCount:
    """Ops accept the submitted count: done (adjustments waiting for finance stay with finance)."""
    accepted_at = posting_time(now)
    locked = _lock(count, scope)
    _transition(locked, CycleCountStatus.ACCEPTED, actor=actor, reason="accepted", note=note.strip(),
                stamp="accepted", at=accepted_at)
    return locked


@in_retrying_transaction
def count_cancel(*, count: CycleCount, actor, scope: LocationScope, note: str = "") -> CycleCount:
    """Called off before it is submitted (409 `invalid_state` after): nothing was posted yet."""
    locked = _lock(count, scope)
    if locked.round > 1:  # an earlier round was submitted and posted: see it through
        raise InvalidState("The count was submitted before; accept it or submit the recount.",
                           current_status=locked.status)
    _transition(locked, CycleCountStatus.CANCELLED, actor=actor, reason="cancelled", note=note.strip(),
                stamp="cancelled")
    return locked
