"""Returns: authorise, receive, inspect, close (DESIGN.md "Returns", API.md "Returns").

Stock moves only through the ledger, with document type `return` and the return's id:
- receiving puts the units on hand but in `quality_control` (on_hand +q,
  quality_control +q): they are here, and not for sale until inspected;
- inspecting settles each group of units: restock → quality_control −q (available
  again); damaged → quality_control −q, damaged +q; write-off and return-to-vendor →
  quality_control −q, on_hand −q (they leave).

Units that arrive with no authorisation are a fact: they are received all the same (a
return with `authorized=False`) and open a `return_unreconciled` case. Closing a return
that received fewer units than it authorised opens one too (an over-receipt is refused
at the dock, 409 `exceeds_expected`, so it never needs one).

Every verb locks the return, then its lines (`returns.lifecycle`), and re-checks its move
under those locks; two people inspecting the same units at once cannot both succeed.
"""

import hashlib
import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from inventory.errors import LocationOutOfScope, UnknownSku
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket
from inventory.selectors import line_skus, location_by_code, skus_by_code, units_out_by_document
from inventory.signals import AppliedEvent
from retailops.access import LocationScope
from retailops.errors import InvalidInput, InvalidState
from retailops.transactions import in_retrying_transaction
from returns.cases import report_unreconciled
from returns.errors import ExceedsExpected, ExceedsShipped, NotOnReturn, ReturnExists, UnknownOrder
from returns.lifecycle import lines_lock, return_lock, return_transition, settle_if_done
from returns.models import DISPOSITION_FIELD, ReturnAuthorization, ReturnInspection, ReturnLine, ReturnReceipt
from returns.states import INSPECTING_STATUSES, RECEIVING_STATUSES, Disposition, ReturnStatus

MAX_LINES = 500
MAX_QUANTITY = 1_000_000
ORDER_DOCUMENT_TYPE = "order"  # how the ledger names an order's movements


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int
    reason: str = ""


@dataclass(frozen=True)
class InspectionInput:
    sku: str
    quantity: int
    disposition: str


# What each disposition posts, per unit: (bucket, sign) pairs, and the movements' reason.
_DISPOSITION_MOVES = {
    Disposition.RESTOCK: ([(Bucket.QUALITY_CONTROL, -1)], "return_restock"),
    Disposition.DAMAGED: ([(Bucket.QUALITY_CONTROL, -1), (Bucket.DAMAGED, +1)], "return_damaged"),
    Disposition.WRITE_OFF: ([(Bucket.QUALITY_CONTROL, -1), (Bucket.ON_HAND, -1)], "return_write_off"),
    Disposition.RETURN_TO_VENDOR: ([(Bucket.QUALITY_CONTROL, -1), (Bucket.ON_HAND, -1)], "return_to_vendor"),
}


def _check_quantity(quantity: int, field: str) -> None:
    if quantity <= 0:
        raise InvalidInput("quantity must be positive.", code="min_value", field=field)
    if quantity > MAX_QUANTITY:
        raise InvalidInput(f"quantity must be at most {MAX_QUANTITY:,}.", code="max_value", field=field)


def _check_lines(lines: list, *, noun: str = "A return") -> None:
    if not 1 <= len(lines) <= MAX_LINES:
        raise InvalidInput(f"{noun} has 1 to {MAX_LINES} lines.", code="invalid_lines", field="lines")


def _content_hash(*, order_id: int | None, location_code: str, lines: list[LineInput]) -> str:
    content = {"order": order_id, "location": location_code,
               "lines": sorted([line.sku, line.quantity, line.reason] for line in lines)}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


# --- Authorising ------------------------------------------------------------------------------


def _check_against_order(order_id: int, lines: list[LineInput], skus: dict) -> None:
    """A return against an order takes back no more than left on it, counting what other
    returns of that order already authorised."""
    shipped = units_out_by_document(document_type=ORDER_DOCUMENT_TYPE, document_id=str(order_id))
    if shipped is None:
        raise UnknownOrder(f"Unknown order {order_id}.", field="order")
    earlier: dict[int, int] = defaultdict(int)
    for sku_id, authorized in ReturnLine.objects.filter(
            return_authorization__order_id=order_id,
            sku_id__in=[sku.pk for sku in skus.values()]).exclude(
            return_authorization__status__in=(ReturnStatus.CANCELLED, ReturnStatus.EXPIRED)).values_list(
            "sku_id", "authorized"):
        earlier[sku_id] += authorized
    for index, line in enumerate(lines):
        sku = skus[line.sku]
        out = shipped.get(sku.pk, 0)
        if earlier[sku.pk] + line.quantity > out:
            raise ExceedsShipped(
                f"Order {order_id} shipped {out} × {line.sku}"
                + (f", of which {earlier[sku.pk]} are already on other returns" if earlier[sku.pk] else "")
                + f"; {line.quantity} cannot come back.",
                sku=line.sku, shipped=out, already_returned=earlier[sku.pk], requested=line.quantity,
                field=f"lines[{index}].quantity")


@in_retrying_transaction
def return_authorize(*, external_id: str, location_code: str, lines: list[LineInput], actor, scope: LocationScope,
                     order_id: int | None = None, source_system: str = "",
                     note: str = "") -> tuple[ReturnAuthorization, bool]:
    """Authorise a customer return: these units may come back to this location. Returns
    (the return, whether it is new). The same external id from the same system again:
    the same content is the same return; other content is `ReturnExists`."""
    if not external_id.strip():
        raise InvalidInput("external_id must not be blank.", code="blank", field="external_id")
    content_hash = _content_hash(order_id=order_id, location_code=location_code, lines=lines)
    existing = ReturnAuthorization.objects.filter(source_system=source_system, external_id=external_id).first()
    if existing is not None:
        return _same_or_refused(existing, content_hash), False
    location = location_by_code(location_code, scope=scope)
    skus = line_skus(lines, noun="A return", max_lines=MAX_LINES, max_quantity=MAX_QUANTITY)
    if order_id is not None:
        _check_against_order(order_id, lines, skus)
    authorization = ReturnAuthorization(external_id=external_id, source_system=source_system, order_id=order_id,
                                        location=location, note=note, content_hash=content_hash, created_by=actor)
    authorization._history_user = actor
    authorization._change_reason = "authorised"
    try:
        with transaction.atomic():
            authorization.save()
    except IntegrityError:  # the same external id, authorised by a concurrent request
        existing = ReturnAuthorization.objects.get(source_system=source_system, external_id=external_id)
        return _same_or_refused(existing, content_hash), False
    bulk_create_with_history(
        [ReturnLine(return_authorization=authorization, sku=skus[line.sku], authorized=line.quantity,
                    reason=line.reason) for line in lines],
        ReturnLine, default_user=actor, default_change_reason="authorised",
    )
    return authorization, True


def _same_or_refused(existing: ReturnAuthorization, content_hash: str) -> ReturnAuthorization:
    if existing.content_hash != content_hash:
        raise ReturnExists(f"Return {existing.external_id} already exists with other content.",
                           id=existing.pk)
    return existing


# --- Receiving --------------------------------------------------------------------------------


def _require_scope(authorization: ReturnAuthorization, scope: LocationScope) -> None:
    if not scope.allows(authorization.location_id):
        raise LocationOutOfScope("The return's location is outside the caller's location scope.")


def _lines_by_code(lines: list[ReturnLine], inputs: list, *, verb: str) -> list[ReturnLine]:
    """The return's line each input names, in input order; a SKU the return does not
    list is 400 `not_on_return` (or `unknown_sku` when no SKU has that code)."""
    by_code = {line.sku.code: line for line in lines}
    named = []
    for index, item in enumerate(inputs):
        line = by_code.get(item.sku)
        if line is None:
            if not skus_by_code([item.sku]):
                raise UnknownSku(f"Unknown SKU '{item.sku}'.", field=f"lines[{index}].sku")
            raise NotOnReturn(f"SKU '{item.sku}' is not on this return; it cannot be {verb}.",
                              field=f"lines[{index}].sku")
        _check_quantity(item.quantity, f"lines[{index}].quantity")
        named.append(line)
    return named


def _post(authorization: ReturnAuthorization, movements: list[Movement], *, actor) -> None:
    post_movements(movements, actor=actor, document_type=ReturnAuthorization.DOCUMENT_TYPE,
                   document_id=str(authorization.pk))


def _record_receipts(authorization: ReturnAuthorization, receipts: list[tuple[ReturnLine, int, int | None]], *,
                     actor, note: str) -> None:
    """Record units that arrived as (line, units, source event id or None): the lines'
    counts and one receipt row each. Posting them is the caller's business."""
    for line, quantity, _event in receipts:
        line.received += quantity
    changed = list({line.pk: line for line, _quantity, _event in receipts}.values())
    bulk_update_with_history(changed, ReturnLine, ["received"], default_user=actor, default_change_reason="received")
    ReturnReceipt.objects.bulk_create([
        ReturnReceipt(return_authorization=authorization, line=line, quantity=quantity, received_by=actor,
                      note=note[:2000], event_id=event) for line, quantity, event in receipts])


def _receive_lines(authorization: ReturnAuthorization, received: dict[int, int], lines: dict[int, ReturnLine], *,
                   actor, note: str) -> None:
    """Record and post units that arrived (line id → units), into quality control."""
    _record_receipts(authorization, [(lines[line_id], quantity, None) for line_id, quantity in received.items()],
                     actor=actor, note=note)
    movements = []
    for line_id, quantity in received.items():
        sku_id = lines[line_id].sku_id
        movements.append(Movement(sku_id, authorization.location_id, Bucket.ON_HAND, quantity,
                                  reason="return_received"))
        movements.append(Movement(sku_id, authorization.location_id, Bucket.QUALITY_CONTROL, quantity,
                                  reason="return_received"))
    _post(authorization, movements, actor=actor)


@in_retrying_transaction
def return_receive(*, authorization: ReturnAuthorization, lines: list[LineInput], actor, scope: LocationScope,
                   note: str = "") -> ReturnAuthorization:
    """Units of an authorised return arrived: on hand, in quality control. More than
    authorised (with what arrived before) is `ExceedsExpected` and nothing is kept."""
    locked = return_lock(authorization.pk)
    _require_scope(locked, scope)
    if locked.status not in RECEIVING_STATUSES:
        raise InvalidState(f"The return is {locked.status}; units can no longer be received on it.",
                           current_status=locked.status)
    _check_lines(lines, noun="A receipt")
    return_lines = lines_lock(locked)
    received: dict[int, int] = defaultdict(int)
    for index, (item, line) in enumerate(zip(lines, _lines_by_code(return_lines, lines, verb="received"),
                                             strict=True)):
        received[line.pk] += item.quantity
        if line.received + received[line.pk] > line.authorized:
            raise ExceedsExpected(
                f"{line.authorized} × {item.sku} authorised, {line.received} already received; "
                f"{received[line.pk]} more is too many.",
                sku=item.sku, authorized=line.authorized, received=line.received, field=f"lines[{index}].quantity")
    by_id = {line.pk: line for line in return_lines}
    _receive_lines(locked, dict(received), by_id, actor=actor, note=note)
    complete = all(line.received >= line.authorized for line in return_lines)
    return_transition(locked, ReturnStatus.RECEIVED if complete else ReturnStatus.PARTIALLY_RECEIVED, actor=actor,
                      reason="received" if complete else "partly received", note=note)
    return locked


@in_retrying_transaction
def return_receive_unauthorized(*, location_code: str, lines: list[LineInput], actor, scope: LocationScope,
                                external_id: str = "", source_system: str = "", note: str = "") -> ReturnAuthorization:
    """Units came back that no authorisation names. They are here, so they are received
    (into quality control) like any return, on a return of their own marked unauthorised,
    and a `return_unreconciled` case asks someone to find out whose they are."""
    location = location_by_code(location_code, scope=scope)
    skus = line_skus(lines, noun="A return", max_lines=MAX_LINES, max_quantity=MAX_QUANTITY)
    external_id = external_id.strip() or f"UNAUTHORISED-{uuid.uuid4().hex[:10].upper()}"
    if ReturnAuthorization.objects.filter(source_system=source_system, external_id=external_id).exists():
        raise ReturnExists(f"Return {external_id} already exists: receive the units on it instead.")
    authorization = ReturnAuthorization(external_id=external_id, source_system=source_system, location=location,
                                        authorized=False, note=note, created_by=actor)
    authorization._history_user = actor
    authorization._change_reason = "units arrived without an authorisation"
    authorization.save()
    return_lines = bulk_create_with_history(
        [ReturnLine(return_authorization=authorization, sku=skus[line.sku], authorized=0, reason=line.reason)
         for line in lines], ReturnLine, default_user=actor, default_change_reason="arrived unauthorised")
    return_lines = list(ReturnLine.objects.filter(return_authorization=authorization).select_related("sku"))
    by_code = {line.sku.code: line for line in return_lines}
    _receive_lines(authorization, {by_code[line.sku].pk: line.quantity for line in lines},
                   {line.pk: line for line in return_lines}, actor=actor, note=note)
    return_transition(authorization, ReturnStatus.RECEIVED, actor=actor, reason="received without authorisation",
                      note=note)
    units = sum(line.quantity for line in lines)
    report_unreconciled(
        authorization, why=f"{units} unit(s) arrived without an authorisation", actor=actor,
        money_at_risk=sum((skus[line.sku].price * line.quantity for line in lines), Decimal("0")),
        context={"lines": [{"sku": line.sku, "received": line.quantity} for line in lines]})
    return authorization


# --- Till returns into inspection ------------------------------------------------------------

TILL_RETURN_PREFIX = "TILL-"


def till_returns_receive(*, held: list[AppliedEvent], actor) -> list[ReturnAuthorization]:
    """POS `return` events whose units went into quality control (the location inspects
    till returns): each lands on an unauthorised return, received, with the event as its
    receipt's source, so the desk can find and inspect the units like any return's.

    Events with the same till reference (else each event alone), from one system at one
    location, add to one return while it waits for inspection (`till_reference`); its RA
    number is generated (`TILL-` and the first event's id). Like any unauthorised receipt
    it opens the return's `return_unreconciled` case (bumped, never doubled). The units
    are already on the ledger through their events, so nothing is posted again; an event
    already on a receipt is skipped. Runs inside the ingest's transaction (the receiver of
    `inventory.signals.till_returns_held`)."""
    groups: dict[tuple[str, int, str], list[AppliedEvent]] = defaultdict(list)
    for item in held:
        groups[(item.source, item.location_id, item.reference.strip() or item.event_id)].append(item)
    touched = []
    for (source, location_id, reference), items in sorted(groups.items()):
        authorization = _till_return_receive(source=source, location_id=location_id, reference=reference,
                                             items=items, actor=actor)
        if authorization is not None:
            touched.append(authorization)
    return touched


def _till_return_receive(*, source: str, location_id: int, reference: str, items: list[AppliedEvent],
                         actor) -> ReturnAuthorization | None:
    recorded = set(ReturnReceipt.objects.filter(event_id__in=[item.event_pk for item in items])
                   .values_list("event_id", flat=True))
    items = [item for item in items if item.event_pk not in recorded]
    if not items:
        return None
    authorization, new = _till_return_open(source=source, location_id=location_id, reference=reference,
                                           first=items[0], actor=actor)
    lines = {line.sku_id: line for line in lines_lock(authorization)}
    missing = sorted({item.sku_id for item in items} - set(lines))
    if missing:
        bulk_create_with_history(
            [ReturnLine(return_authorization=authorization, sku_id=sku_id, authorized=0, reason="returned at the till")
             for sku_id in missing], ReturnLine, default_user=actor, default_change_reason="returned at the till")
        lines = {line.sku_id: line for line in lines_lock(authorization)}
    note = f"returned at the till ({source})"
    _record_receipts(authorization, [(lines[item.sku_id], item.quantity, item.event_pk) for item in items],
                     actor=actor, note=note)
    if new:
        return_transition(authorization, ReturnStatus.RECEIVED, actor=actor,
                          reason="returned at the till without an authorisation")
    else:
        authorization._history_user = actor
        authorization._change_reason = "more units returned at the till"
        authorization.save(update_fields=["updated_at"])
    units = sum(item.quantity for item in items)
    report_unreconciled(
        authorization, why=f"{units} unit(s) returned at the till without an authorisation", actor=actor,
        money_at_risk=sum((lines[item.sku_id].sku.price * item.quantity for item in items), Decimal("0")),
        context={"till_reference": reference, "source": source,
                 "events": [{"event_id": item.event_id, "sku": lines[item.sku_id].sku.code,
                             "quantity": item.quantity} for item in items]})
    return authorization


def _till_return_open(*, source: str, location_id: int, reference: str, first: AppliedEvent,
                      actor) -> tuple[ReturnAuthorization, bool]:
    """The till return waiting for inspection under this reference, locked; else a new
    one (still `authorized`, the caller receives it). Returns (it, whether it is new)."""
    waiting = ReturnAuthorization.objects.filter(source_system=source, location_id=location_id,
                                                 till_reference=reference, authorized=False,
                                                 status=ReturnStatus.RECEIVED)
    existing = waiting.values_list("pk", flat=True).first()
    if existing is not None:
        return return_lock(existing), False
    external_id = f"{TILL_RETURN_PREFIX}{first.event_pk}"
    if ReturnAuthorization.objects.filter(source_system=source, external_id=external_id).exists():
        external_id = f"{external_id}-{uuid.uuid4().hex[:6].upper()}"  # a partner's own RA took the number
    authorization = ReturnAuthorization(
        external_id=external_id, source_system=source, location_id=location_id, authorized=False,
        till_reference=reference, created_by=actor,
        note=f"Returned at a till of {source}: reference {reference}, first event {first.event_id}."[:2000])
    authorization._history_user = actor
    authorization._change_reason = "units returned at the till into inspection"
    try:
        with transaction.atomic():
            authorization.save()
    except IntegrityError:  # a concurrent batch opened it first under the same reference
        return return_lock(waiting.values_list("pk", flat=True).get()), False
    return return_lock(authorization.pk), True


# --- Inspecting -------------------------------------------------------------------------------


@in_retrying_transaction
def return_inspect(*, authorization: ReturnAuthorization, lines: list[InspectionInput], actor,
                   scope: LocationScope, note: str = "") -> ReturnAuthorization:
    """Decide what becomes of units waiting in inspection, group by group. More than
    wait on a line (received and not yet inspected) is `ExceedsExpected`: of two people
    inspecting the same units at once, the second finds them already inspected."""
    locked = return_lock(authorization.pk)
    _require_scope(locked, scope)
    if locked.status not in INSPECTING_STATUSES:
        raise InvalidState(f"The return is {locked.status}; nothing on it waits for inspection.",
                           current_status=locked.status)
    _check_lines(lines, noun="An inspection")
    for index, item in enumerate(lines):
        if item.disposition not in Disposition.values:
            raise InvalidInput(f"Unknown disposition '{item.disposition}'; one of {', '.join(Disposition.values)}.",
                               code="invalid_disposition", field=f"lines[{index}].disposition")
    return_lines = lines_lock(locked)
    named = _lines_by_code(return_lines, lines, verb="inspected")
    taking: dict[int, int] = defaultdict(int)
    for index, (item, line) in enumerate(zip(lines, named, strict=True)):
        taking[line.pk] += item.quantity
        if taking[line.pk] > line.awaiting_inspection:
            raise ExceedsExpected(
                f"{line.awaiting_inspection} × {item.sku} wait for inspection; {taking[line.pk]} is too many.",
                sku=item.sku, awaiting_inspection=line.awaiting_inspection, field=f"lines[{index}].quantity")
    movements, inspections = [], []
    for item, line in zip(lines, named, strict=True):
        field = DISPOSITION_FIELD[item.disposition]
        setattr(line, field, getattr(line, field) + item.quantity)
        moves, reason = _DISPOSITION_MOVES[item.disposition]
        movements += [Movement(line.sku_id, locked.location_id, bucket, sign * item.quantity, reason=reason)
                      for bucket, sign in moves]
        inspections.append(ReturnInspection(return_authorization=locked, line=line, disposition=item.disposition,
                                            quantity=item.quantity, inspected_by=actor, note=note[:2000]))
    changed = list({line.pk: line for line in named}.values())
    bulk_update_with_history(changed, ReturnLine, list(DISPOSITION_FIELD.values()), default_user=actor,
                             default_change_reason="inspected")
    ReturnInspection.objects.bulk_create(inspections)
    _post(locked, movements, actor=actor)
    if locked.status == ReturnStatus.RECEIVED and all(line.awaiting_inspection == 0 for line in return_lines):
        return_transition(locked, ReturnStatus.INSPECTED, actor=actor, reason="inspected", note=note)
        settle_if_done(locked, actor=actor)
    else:
        locked._history_user = actor
        locked._change_reason = "partly inspected"
        locked.save(update_fields=["updated_at"])
    return locked


# --- Closing, cancelling ------------------------------------------------------------------------


@in_retrying_transaction
def return_close(*, authorization: ReturnAuthorization, actor, scope: LocationScope,
                 note: str = "") -> ReturnAuthorization:
    """Done with the return. Every unit that arrived must have been inspected. Fewer
    units than authorised (the customer kept some) opens a `return_unreconciled` case:
    whatever was refunded for them is for someone to look at."""
    locked = return_lock(authorization.pk)
    _require_scope(locked, scope)
    return_lines = lines_lock(locked)
    waiting = sum(line.awaiting_inspection for line in return_lines)
    if waiting:
        raise InvalidState(f"{waiting} unit(s) still wait for inspection; inspect them before closing.",
                           current_status=locked.status)
    return_transition(locked, ReturnStatus.CLOSED, actor=actor, reason="closed", note=note)
    short = [line for line in return_lines if line.received < line.authorized]
    if short:
        units = sum(line.authorized - line.received for line in short)
        report_unreconciled(
            locked, why=f"closed with {units} authorised unit(s) never received", actor=actor,
            money_at_risk=sum(((line.authorized - line.received) * line.sku.price for line in short), Decimal("0")),
            context={"lines": [{"sku": line.sku.code, "authorized": line.authorized, "received": line.received}
                               for line in short]})
    return locked


@in_retrying_transaction
def return_cancel(*, authorization: ReturnAuthorization, actor, scope: LocationScope,
                  note: str = "") -> ReturnAuthorization:
    """Called off before anything arrived and while no refund stands."""
    locked = return_lock(authorization.pk)
    _require_scope(locked, scope)
    if locked.refunds.exclude(status="rejected").exists():
        raise InvalidState("A refund stands on this return; it cannot be cancelled.", current_status=locked.status)
    return_transition(locked, ReturnStatus.CANCELLED, actor=actor, reason="cancelled", note=note)
    return locked
