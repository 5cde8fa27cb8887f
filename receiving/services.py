"""Supplier receipts against advance shipping notices (API.md "Supplier receipts").

- `asn_create`: a notice of units on their way: incoming +expected at its location. The
  same external id from the same sender again is the same notice when its content
  matches (answered with the existing one), else 409 `asn_exists`.
- `asn_receive`: what arrived at the dock: on_hand +received (damaged units also into
  `damaged`), and incoming −expected once the delivery is complete (`complete`, the
  default; a partial delivery releases only what it brought). Over, short, damaged and
  unannounced lines open (or bump) one `receipt_variance` case per notice, valued at unit
  cost. The goods receipt goes to the ERP through the outbox, in the same transaction.
- `asn_close`, `asn_cancel` (before anything arrived: the units leave `incoming`).
- `asns_overdue_detect`: a notice still awaited after its expected date (plus
  ASN_OVERDUE_GRACE_HOURS) opens a `receipt_variance` case.
- `receipts_without_asn_report`: a partner's `receipt` event put units on hand with no
  notice received against (the ingest records the fact; receiving says what it means): a
  `receipt_variance` case per sender, location and day.

Quantities change only through `inventory.ledger.post_movements` with document type
`asn`. Each verb locks the notice first, then the levels through the ledger, and
re-checks its move under the lock; who and why are in the notice's and its lines' history.
"""

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import DecimalField, ExpressionWrapper, F, Sum
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from exceptions.services import CaseReport, raise_case, raise_cases
from exceptions.states import CaseKind
from integrations import outbox
from inventory.errors import LocationOutOfScope, UnknownSku
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket, Sku
from inventory.selectors import line_skus, location_by_code, skus_by_code
from inventory.signals import AppliedEvent
from receiving.errors import AsnExists
from receiving.models import Asn, AsnLine
from receiving.states import ASN_TRANSITIONS, AWAITED_STATUSES, AsnStatus
from retailops.access import LocationScope
from retailops.errors import InvalidInput
from retailops.lifecycle import check_transition
from retailops.transactions import in_retrying_transaction

MAX_LINES = 500
GOODS_RECEIPT = "goods_receipt"


@dataclass(frozen=True)
class AsnLineInput:
    sku: str
    quantity: int


@dataclass(frozen=True)
class ReceiptLineInput:
    sku: str
    quantity: int
    damaged: int = 0


# --- Announcing ------------------------------------------------------------------------------


def _content_hash(*, supplier: str, purchase_order: str, location: str, expected_at: datetime,
                  lines: list[AsnLineInput]) -> str:
    content = {
        "supplier": supplier, "purchase_order": purchase_order, "location": location,
        "expected_at": expected_at.astimezone(UTC).isoformat(),
        "lines": sorted([line.sku, line.quantity] for line in lines),
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _same_notice(*, source_system: str, external_id: str, content_hash: str) -> Asn | None:
    existing = Asn.objects.filter(source_system=source_system, external_id=external_id).first()
    if existing is None:
        return None
    if existing.content_hash != content_hash:
        raise AsnExists(f"Notice '{external_id}' already exists with other content.")
    return existing


class _DuplicateNotice(Exception):
    pass


def asn_create(*, actor, scope: LocationScope, source_system: str, external_id: str, location_code: str,
               expected_at: datetime, lines: list[AsnLineInput], supplier: str = "",
               purchase_order: str = "") -> tuple[Asn, bool]:
    """Announce units on their way to a location. Returns (notice, created); a resend of
    the same notice returns the existing one."""
    location = location_by_code(location_code, scope=scope)
    skus = line_skus(lines, noun="A notice", max_lines=MAX_LINES)
    content_hash = _content_hash(supplier=supplier, purchase_order=purchase_order, location=location.code,
                                 expected_at=expected_at, lines=lines)
    existing = _same_notice(source_system=source_system, external_id=external_id, content_hash=content_hash)
    if existing is not None:
        return existing, False
    try:
        asn = _asn_announce(actor=actor, source_system=source_system, external_id=external_id, location=location,
                            expected_at=expected_at, lines=lines, skus=skus, supplier=supplier,
                            purchase_order=purchase_order, content_hash=content_hash)
    except _DuplicateNotice:  # a concurrent request announced it first
        existing = _same_notice(source_system=source_system, external_id=external_id, content_hash=content_hash)
        if existing is None:
            raise
        return existing, False
    return asn, True


@in_retrying_transaction
def _asn_announce(*, actor, source_system, external_id, location, expected_at, lines, skus, supplier,
                  purchase_order, content_hash) -> Asn:
    asn = Asn(source_system=source_system, external_id=external_id, supplier=supplier,
              purchase_order=purchase_order, location=location, expected_at=expected_at,
              content_hash=content_hash, created_by=actor)
    asn._history_user = actor
    asn._change_reason = "announced"
    try:
        with transaction.atomic():
            asn.save()
    except IntegrityError as exc:
        raise _DuplicateNotice() from exc
    bulk_create_with_history([AsnLine(asn=asn, sku=skus[line.sku], expected=line.quantity) for line in lines],
                             AsnLine, default_user=actor, default_change_reason="announced")
    post_movements([Movement(skus[line.sku].pk, location.pk, Bucket.INCOMING, line.quantity, reason="asn_expected")
                    for line in lines], actor=actor, document_type=Asn.DOCUMENT_TYPE, document_id=str(asn.pk))
    return asn


# --- The lifecycle ---------------------------------------------------------------------------


def _lock(asn: Asn) -> Asn:
    return Asn.objects.select_for_update().select_related("location").get(pk=asn.pk)


def _transition(asn: Asn, to: str, *, actor, reason: str, note: str = "", stamp: str | None = None) -> None:
    """Move a locked notice to `to` and record who and why in its history."""
    check_transition(ASN_TRANSITIONS, asn.status, to, noun="notice")
    previous = asn.status
    asn.status = to
    fields = ["status", "updated_at"]
    if stamp:
        setattr(asn, stamp, timezone.now())
        fields.append(stamp)
    asn._history_user = actor
    asn._change_reason = f"{reason}{': ' + note if note else ''} ({previous} → {to})"
    asn.save(update_fields=fields)


def _require_location(asn: Asn, scope: LocationScope) -> None:
    if not scope.allows(asn.location_id):
        raise LocationOutOfScope("The notice's location is outside the caller's location scope.")


def _received_skus(lines: list[ReceiptLineInput]) -> dict[str, Sku]:
    if not 1 <= len(lines) <= MAX_LINES:
        raise InvalidInput(f"A receipt has 1 to {MAX_LINES} lines.", code="invalid_lines", field="lines")
    skus = skus_by_code(line.sku for line in lines)
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.sku not in skus:
            raise UnknownSku(f"Unknown SKU '{line.sku}'.", field=f"lines[{index}].sku")
        if line.quantity < 0:
            raise InvalidInput("quantity must not be negative.", code="min_value", field=f"lines[{index}].quantity")
        if not 0 <= line.damaged <= line.quantity:
            raise InvalidInput("damaged must be between 0 and the quantity received.", code="invalid_damaged",
                               field=f"lines[{index}].damaged")
        if line.sku in seen:
            raise InvalidInput(f"SKU '{line.sku}' appears twice.", code="duplicate_sku", field=f"lines[{index}].sku")
        seen.add(line.sku)
    return skus


@in_retrying_transaction
def asn_receive(*, asn: Asn, actor, scope: LocationScope, lines: list[ReceiptLineInput], complete: bool = True,
                note: str = "") -> Asn:
    """Record what arrived against the notice. A SKU of the notice not listed arrived
    with 0 units; a SKU not on it arrived unannounced (a line with 0 expected)."""
    locked = _lock(asn)
    _require_location(locked, scope)
    skus = _received_skus(lines)
    target = AsnStatus.RECEIVED if complete else AsnStatus.PARTIALLY_RECEIVED
    _transition(locked, target, actor=actor, reason="received" if complete else "partly received", note=note,
                stamp="received_at" if complete else None)
    asn_lines = {line.sku.code: line for line in locked.lines.select_related("sku").order_by("pk")}
    unannounced = [AsnLine(asn=locked, sku=skus[line.sku], expected=0) for line in lines if line.sku not in asn_lines]
    if unannounced:
        bulk_create_with_history(unannounced, AsnLine, default_user=actor, default_change_reason="arrived unannounced")
        asn_lines.update({line.sku.code: line for line in unannounced})
    arrived = {line.sku: line for line in lines}
    movements: list[Movement] = []
    for code, line in asn_lines.items():
        delivered = arrived.get(code, ReceiptLineInput(sku=code, quantity=0))
        outstanding = line.expected - line.released
        release = outstanding if complete else min(delivered.quantity, outstanding)
        line.received += delivered.quantity
        line.damaged += delivered.damaged
        line.released += release
        movements += [
            Movement(line.sku_id, locked.location_id, Bucket.INCOMING, -release, reason="asn_expected"),
            Movement(line.sku_id, locked.location_id, Bucket.ON_HAND, delivered.quantity, reason="asn_received"),
            Movement(line.sku_id, locked.location_id, Bucket.DAMAGED, delivered.damaged, reason="asn_damaged"),
        ]
    bulk_update_with_history(list(asn_lines.values()), AsnLine, ["received", "damaged", "released"],
                             default_user=actor, default_change_reason=f"received{': ' + note if note else ''}")
    post_movements([movement for movement in movements if movement.delta], actor=actor,
                   document_type=Asn.DOCUMENT_TYPE, document_id=str(locked.pk))
    _report_variance(locked, list(asn_lines.values()), complete=complete, actor=actor)
    received_now = [(line, arrived[code]) for code, line in asn_lines.items() if code in arrived]
    messages = outbox.document_enqueue(document_type=GOODS_RECEIPT,
                                       document=_goods_receipt(locked, received_now, complete=complete))
    locked.erp_messages = [*locked.erp_messages, *(message.pk for message in messages)]
    locked.save(update_fields=["erp_messages", "updated_at"])
    return locked


def _goods_receipt(asn: Asn, received: list[tuple[AsnLine, ReceiptLineInput]], *, complete: bool) -> dict:
    """The ERP's goods-receipt document of one delivery."""
    return {
        "asn": asn.pk, "external_id": asn.external_id, "supplier": asn.supplier,
        "purchase_order": asn.purchase_order, "location": asn.location.code, "complete": complete,
        "received_at": timezone.now().isoformat(),
        "lines": [{"sku": line.sku.code, "expected": line.expected, "received": delivered.quantity,
                   "damaged": delivered.damaged, "unit_cost": str(line.sku.unit_cost)}
                  for line, delivered in received],
    }


def variance_kinds(line: AsnLine, *, complete: bool) -> list[str]:
    """What is wrong with one line so far: over, short (once complete), damaged, unexpected."""
    kinds = []
    if line.expected == 0 and line.received > 0:
        kinds.append("unexpected")
    elif line.received > line.expected:
        kinds.append("over")
    elif complete and line.received < line.expected:
        kinds.append("short")
    if line.damaged:
        kinds.append("damaged")
    return kinds


def _report_variance(asn: Asn, lines: list[AsnLine], *, complete: bool, actor) -> None:
    wrong = [(line, variance_kinds(line, complete=complete)) for line in lines]
    wrong = [(line, kinds) for line, kinds in wrong if kinds]
    if not wrong:
        return
    value = sum(((abs(line.variance) if set(kinds) - {"damaged"} else 0) + line.damaged) * line.sku.unit_cost
                for line, kinds in wrong)
    named = sorted({kind for _line, kinds in wrong for kind in kinds})
    raise_case(CaseReport(
        kind=CaseKind.RECEIPT_VARIANCE,
        dedup_key=f"receipt_variance:{asn.pk}",
        title=f"Receipt of ASN {asn.external_id} at {asn.location.code}: {', '.join(named)}",
        detail="; ".join(f"{line.sku.code}: expected {line.expected}, received {line.received}"
                         + (f", {line.damaged} damaged" if line.damaged else "") for line, _kinds in wrong),
        subject=asn,
        location_id=asn.location_id,
        sku_id=wrong[0][0].sku_id if len(wrong) == 1 else None,
        money_at_risk=Decimal(value),
        context={"asn": asn.pk, "external_id": asn.external_id, "supplier": asn.supplier,
                 "lines": [{"sku": line.sku.code, "expected": line.expected, "received": line.received,
                            "damaged": line.damaged, "variance": kinds} for line, kinds in wrong]},
    ), actor=actor)


@in_retrying_transaction
def asn_close(*, asn: Asn, actor, scope: LocationScope, note: str = "") -> Asn:
    """Done: received, and any variance looked at."""
    locked = _lock(asn)
    _require_location(locked, scope)
    _transition(locked, AsnStatus.CLOSED, actor=actor, reason="closed", note=note, stamp="closed_at")
    return locked


@in_retrying_transaction
def asn_cancel(*, asn: Asn, actor, scope: LocationScope, note: str = "") -> Asn:
    """Called off before anything arrived: its units leave `incoming`."""
    locked = _lock(asn)
    _require_location(locked, scope)
    _transition(locked, AsnStatus.CANCELLED, actor=actor, reason="cancelled", note=note)
    lines = list(locked.lines.order_by("pk"))
    post_movements([Movement(line.sku_id, locked.location_id, Bucket.INCOMING, -(line.expected - line.released),
                             reason="asn_cancelled") for line in lines if line.expected > line.released],
                   actor=actor, document_type=Asn.DOCUMENT_TYPE, document_id=str(locked.pk))
    return locked


# --- Detection -------------------------------------------------------------------------------


def asns_overdue_detect(*, now: datetime | None = None) -> int:
    """Open (or bump) a receipt_variance case for every notice still awaited past its
    expected date and the grace period. One query finds them all, with the value due."""
    now = now or timezone.now()
    due_before = now - timedelta(hours=settings.ASN_OVERDUE_GRACE_HOURS)
    overdue = (
        Asn.objects.filter(status__in=AWAITED_STATUSES, expected_at__lt=due_before)
        .select_related("location")
        .annotate(value=Sum(ExpressionWrapper(
            (F("lines__expected") - F("lines__released")) * F("lines__sku__unit_cost"),
            output_field=DecimalField(max_digits=14, decimal_places=2))))
        .order_by("expected_at")
    )
    count = 0
    for asn in overdue:
        raise_case(CaseReport(
            kind=CaseKind.RECEIPT_VARIANCE,
            dedup_key=f"asn_overdue:{asn.pk}",
            title=f"ASN {asn.external_id} overdue at {asn.location.code}",
            detail=f"Expected {asn.expected_at.isoformat()}; still {asn.status.replace('_', ' ')}.",
            subject=asn,
            location_id=asn.location_id,
            money_at_risk=asn.value or Decimal("0"),
            context={"asn": asn.pk, "external_id": asn.external_id, "supplier": asn.supplier,
                     "expected_at": asn.expected_at.isoformat()},
        ))
        count += 1
    return count


def receipts_without_asn_report(*, receipts: list[AppliedEvent], actor) -> int:
    """Partner `receipt` events (a WMS or store system saying units arrived) are facts the
    ingest has already put on hand, but none of them was received against a notice: a
    delivery nobody announced, or one announced and then recorded past the dock's
    receiving (its notice still holds the units as incoming, so receiving it again would
    count them twice). Either way a person looks: one open `receipt_variance` case per
    sender and location, bumped by each further event until someone resolves it (a dock
    that keeps receiving without notices is one problem to fix, not one a day), valued at
    unit cost. An
    event whose reference is the external id of a notice at that location names it.

    Runs inside the ingest's transaction (the receiver of
    `inventory.signals.receipts_recorded`), so the fact and its case commit together; the
    ingest sends each event once. Returns the number of cases opened or bumped."""
    codes = {receipt.location_id: receipt.location_code for receipt in receipts}
    references = {receipt.reference.strip() for receipt in receipts if receipt.reference.strip()}
    notices = {}
    if references:
        notices = {(location_id, external_id): (pk, status) for pk, location_id, external_id, status in
                   Asn.objects.filter(location_id__in=set(codes), external_id__in=references)
                   .order_by("pk").values_list("pk", "location_id", "external_id", "status")}
    groups: dict[tuple[str, int], list[AppliedEvent]] = defaultdict(list)
    for receipt in receipts:
        groups[(receipt.source, receipt.location_id)].append(receipt)
    reports = []
    for (source, location_id), arrived in groups.items():
        day = timezone.localdate(min(receipt.occurred_at for receipt in arrived)).isoformat()
        lines = []
        for receipt in arrived:
            notice = notices.get((location_id, receipt.reference.strip()))
            lines.append({"event_id": receipt.event_id, "sku": receipt.sku_code,
                          "quantity": receipt.quantity, "reference": receipt.reference,
                          "asn": notice[0] if notice else None, "asn_status": notice[1] if notice else None})
        named = sorted({line["reference"] for line in lines if line["asn"] is not None})
        sku_ids = {receipt.sku_id for receipt in arrived}
        reports.append(CaseReport(
            kind=CaseKind.RECEIPT_VARIANCE,
            dedup_key=f"receipt_without_asn:{source}:{location_id}"[:255],
            title=f"{source} recorded receipts at {codes[location_id]} without a notice",
            detail="; ".join(
                f"{line['quantity']} × {line['sku']} (event {line['event_id']}"
                + (f", names ASN {line['reference']}, {line['asn_status'].replace('_', ' ')}" if line["asn"] else "")
                + ")" for line in lines)
            + (". The notices named still expect their units: close or cancel them rather than receive them again."
               if named else ". No notice announced them: ask the supplier or buyer which order they belong to."),
            location_id=location_id,
            sku_id=next(iter(sku_ids)) if len(sku_ids) == 1 else None,
            money_at_risk=sum((Decimal(receipt.quantity) * receipt.unit_cost for receipt in arrived),
                              Decimal("0")),
            occurrences=len(arrived),
            context={"variance": "receipt_without_asn", "source": source, "day": day, "receipts": lines,
                     "asns_named": named},
        ))
    # Cases locked in one order (their keys), so two batches raising the same ones cannot deadlock.
    raise_cases(sorted(reports, key=lambda report: report.dedup_key), actor=actor)
    return len(reports)
