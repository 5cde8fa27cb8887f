"""Transfers: stock moving between two of our locations (DESIGN.md "Adjustments, counts,
transfers", API.md "Transfers").

requested → approved → shipped → received → closed; cancelled only before shipping.
Quantities change only through the ledger, with document type `transfer`:
- ship: source on_hand −q, destination incoming +q (refused, 409 `insufficient_stock`, when
  the source has fewer than q available: shipping units promised to orders would oversell);
- receive: destination incoming −shipped, on_hand +received. A short or over receipt is
  recorded as counted at the dock and opens a `transfer_variance` case.

Who acts where: the source side approves and ships, the destination side receives, either
side may request, cancel or close. Shipping a transfer nobody approved yet approves it
(the shipper accepts the request). Each verb locks the transfer row first, then levels
through the ledger, and re-checks its move under the lock.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import DecimalField, ExpressionWrapper, F, Sum
from django.utils import timezone
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from inventory.errors import InsufficientStock, LocationOutOfScope
from inventory.ledger import Movement, NotAvailable, post_movements
from inventory.models import Bucket, Transfer, TransferLine
from inventory.selectors import line_skus, location_by_code
from inventory.states import TRANSFER_TRANSITIONS, TransferStatus
from retailops.access import LocationScope
from retailops.errors import InvalidInput
from retailops.lifecycle import check_transition
from retailops.transactions import in_retrying_transaction

MAX_LINES = 500


@dataclass(frozen=True)
class LineInput:
    sku: str
    quantity: int


# --- Requesting ----------------------------------------------------------------------------


@in_retrying_transaction
def transfer_request(*, from_code: str, to_code: str, lines: list[LineInput], actor, scope: LocationScope,
                     reference: str = "", note: str = "", expected_at: datetime | None = None,
                     source_system: str = "") -> Transfer:
    """Ask for units to move from one location to another. Either side may ask."""
    source = location_by_code(from_code, field="from_location")
    destination = location_by_code(to_code, field="to_location")
    if source.pk == destination.pk:
        raise InvalidInput("A transfer goes between two different locations.", code="same_location",
                           field="to_location")
    if not (scope.allows(source.pk) or scope.allows(destination.pk)):
        raise LocationOutOfScope("Neither location is inside the caller's location scope.")
    skus = line_skus(lines, noun="A transfer", max_lines=MAX_LINES)
    transfer = Transfer(source=source, destination=destination, reference=reference, note=note,
                        expected_at=expected_at, requested_by=actor, source_system=source_system)
    transfer._history_user = actor
    transfer._change_reason = "requested"
    transfer.save()
    bulk_create_with_history(
        [TransferLine(transfer=transfer, sku=skus[line.sku], quantity=line.quantity) for line in lines],
        TransferLine, default_user=actor, default_change_reason="requested",
    )
    return transfer


# --- The lifecycle ---------------------------------------------------------------------------


def _lock(transfer: Transfer) -> Transfer:
    return Transfer.objects.select_for_update().select_related("source", "destination").get(pk=transfer.pk)


def _transition(transfer: Transfer, to: str, *, actor, reason: str, note: str = "",
                stamp: str | None = None, fields: tuple[str, ...] = ()) -> None:
    """Move a locked transfer to `to`, stamp when, and record who and why in its history."""
    check_transition(TRANSFER_TRANSITIONS, transfer.status, to, noun="transfer")
    previous = transfer.status
    transfer.status = to
    fields = ["status", "updated_at", *fields]
    if stamp:
        setattr(transfer, stamp, timezone.now())
        fields.append(stamp)
    transfer._history_user = actor
    transfer._change_reason = f"{reason}{': ' + note if note else ''} ({previous} → {to})"
    transfer.save(update_fields=fields)


def _require_side(transfer: Transfer, scope: LocationScope, *, side: str) -> None:
    """The caller must work at the transfer's `side`: source, destination or either."""
    allowed = {"source": scope.allows(transfer.source_id), "destination": scope.allows(transfer.destination_id)}
    if side == "either" and not any(allowed.values()):
        raise LocationOutOfScope("Neither location of the transfer is inside the caller's location scope.")
    if side != "either" and not allowed[side]:
        raise LocationOutOfScope(f"The transfer's {side} location is outside the caller's location scope.")


@in_retrying_transaction
def transfer_approve(*, transfer: Transfer, actor, scope: LocationScope, note: str = "") -> Transfer:
    """The source side accepts the request and will ship it."""
    locked = _lock(transfer)
    _require_side(locked, scope, side="source")
    _transition(locked, TransferStatus.APPROVED, actor=actor, reason="approved", note=note, stamp="approved_at")
    return locked


@in_retrying_transaction
def transfer_ship(*, transfer: Transfer, actor, scope: LocationScope, note: str = "") -> Transfer:
    """The units leave the source (on_hand −q) and are in transit to the destination
    (incoming +q). Shipping a requested transfer approves it first."""
    locked = _lock(transfer)
    _require_side(locked, scope, side="source")
    if locked.status == TransferStatus.REQUESTED:
        _transition(locked, TransferStatus.APPROVED, actor=actor, reason="approved by shipping",
                    stamp="approved_at")
    if locked.expected_at is None:
        locked.expected_at = timezone.now() + timedelta(hours=settings.TRANSFER_TRANSIT_HOURS)
    _transition(locked, TransferStatus.SHIPPED, actor=actor, reason="shipped", note=note, stamp="shipped_at",
                fields=("expected_at",))
    lines = list(locked.lines.select_related("sku").order_by("pk"))
    for line in lines:
        line.shipped = line.quantity
    bulk_update_with_history(lines, TransferLine, ["shipped"], default_user=actor,
                             default_change_reason="shipped")
    movements = []
    for line in lines:
        movements.append(Movement(line.sku_id, locked.source_id, Bucket.ON_HAND, -line.shipped,
                                  reason="transfer_out"))
        movements.append(Movement(line.sku_id, locked.destination_id, Bucket.INCOMING, line.shipped,
                                  reason="transfer_in_transit"))
    # Units promised to orders are not shipped away: a promise, not a fact (it would oversell).
    try:
        post_movements(movements, actor=actor, document_type=Transfer.DOCUMENT_TYPE, document_id=str(locked.pk),
                       require_available={(line.sku_id, locked.source_id): line.shipped for line in lines})
    except NotAvailable as short:
        code = next(line.sku.code for line in lines if line.sku_id == short.key[0])
        available = max(short.available or 0, 0)
        raise InsufficientStock(f"Only {available} of {code} are available to ship; {short.required} needed.",
                                sku=code, available=available, requested=short.required) from short
    return locked


@in_retrying_transaction
def transfer_receive(*, transfer: Transfer, actor, scope: LocationScope, lines: list[LineInput],
                     note: str = "") -> Transfer:
    """The destination counts what arrived: incoming −shipped, on_hand +received. A SKU
    not listed arrived with 0 units. A short or over receipt opens a transfer_variance case."""
    locked = _lock(transfer)
    _require_side(locked, scope, side="destination")
    _transition(locked, TransferStatus.RECEIVED, actor=actor, reason="received", note=note,
                stamp="received_at")
    transfer_lines = {line.sku.code: line for line in locked.lines.select_related("sku").order_by("pk")}
    received: dict[str, int] = {}
    for index, line in enumerate(lines):
        if line.sku not in transfer_lines:
            raise InvalidInput(f"SKU '{line.sku}' is not on this transfer.", code="not_on_transfer",
                               field=f"lines[{index}].sku")
        if line.quantity < 0:
            raise InvalidInput("quantity must not be negative.", code="min_value",
                               field=f"lines[{index}].quantity")
        if line.sku in received:
            raise InvalidInput(f"SKU '{line.sku}' appears twice.", code="duplicate_sku",
                               field=f"lines[{index}].sku")
        received[line.sku] = line.quantity
    movements = []
    for code, line in transfer_lines.items():
        line.received = received.get(code, 0)
        movements.append(Movement(line.sku_id, locked.destination_id, Bucket.INCOMING, -line.shipped,
                                  reason="transfer_in_transit"))
        movements.append(Movement(line.sku_id, locked.destination_id, Bucket.ON_HAND, line.received,
                                  reason="transfer_in"))
    bulk_update_with_history(list(transfer_lines.values()), TransferLine, ["received"], default_user=actor,
                             default_change_reason="received")
    post_movements([movement for movement in movements if movement.delta], actor=actor,
                   document_type=Transfer.DOCUMENT_TYPE, document_id=str(locked.pk))
    variances = [line for line in transfer_lines.values() if line.received != line.shipped]
    if variances:
        _report_variance(locked, variances, actor=actor)
    return locked


def _report_variance(transfer: Transfer, lines: list[TransferLine], *, actor) -> None:
    short = sum(max(line.shipped - line.received, 0) for line in lines)
    over = sum(max(line.received - line.shipped, 0) for line in lines)
    raise_case(CaseReport(
        kind=CaseKind.TRANSFER_VARIANCE,
        dedup_key=f"transfer_variance:{transfer.pk}",
        title=f"Transfer {transfer.pk} {transfer.source.code} → {transfer.destination.code} received "
              + ", ".join(part for part in (f"{short} short" if short else "", f"{over} over" if over else "")
                          if part),
        subject=transfer,
        location_id=transfer.destination_id,
        sku_id=lines[0].sku_id if len(lines) == 1 else None,
        money_at_risk=sum((abs(line.received - line.shipped) * line.sku.unit_cost for line in lines), Decimal("0")),
        context={"transfer": transfer.pk, "from": transfer.source.code, "to": transfer.destination.code,
                 "lines": [{"sku": line.sku.code, "shipped": line.shipped, "received": line.received}
                           for line in lines]},
    ), actor=actor)


@in_retrying_transaction
def transfer_close(*, transfer: Transfer, actor, scope: LocationScope, note: str = "") -> Transfer:
    """Done: received and any variance looked at."""
    locked = _lock(transfer)
    _require_side(locked, scope, side="either")
    _transition(locked, TransferStatus.CLOSED, actor=actor, reason="closed", note=note, stamp="closed_at")
    return locked


@in_retrying_transaction
def transfer_cancel(*, transfer: Transfer, actor, scope: LocationScope, note: str = "") -> Transfer:
    """Called off before it ships (409 `invalid_state` once shipped): nothing moved yet."""
    locked = _lock(transfer)
    _require_side(locked, scope, side="either")
    _transition(locked, TransferStatus.CANCELLED, actor=actor, reason="cancelled", note=note,
                stamp="cancelled_at")
    return locked


# --- Detection -------------------------------------------------------------------------------


def transfers_overdue_detect(*, now: datetime | None = None) -> int:
    """Open (or bump) a transfer_variance case for every transfer still in transit after
    its expected arrival. One query finds them all, with the value in transit."""
    now = now or timezone.now()
    overdue = (
        Transfer.objects.filter(status=TransferStatus.SHIPPED, expected_at__lt=now)
        .select_related("source", "destination")
        .annotate(value=Sum(ExpressionWrapper(F("lines__shipped") * F("lines__sku__unit_cost"),
                                              output_field=DecimalField(max_digits=14, decimal_places=2))))
        .order_by("expected_at")
    )
    count = 0
    for transfer in overdue:
        late_hours = int((now - transfer.expected_at).total_seconds() // 3600)
        raise_case(CaseReport(
            kind=CaseKind.TRANSFER_VARIANCE,
            dedup_key=f"transfer_overdue:{transfer.pk}",
            title=f"Transfer {transfer.pk} {transfer.source.code} → {transfer.destination.code} is overdue",
            detail=f"Expected {transfer.expected_at.isoformat()}; {late_hours} hours late, still in transit.",
            subject=transfer,
            location_id=transfer.destination_id,
            money_at_risk=transfer.value or Decimal("0"),
            context={"transfer": transfer.pk, "from": transfer.source.code, "to": transfer.destination.code,
                     "expected_at": transfer.expected_at.isoformat(), "shipped_at": transfer.shipped_at.isoformat()},
        ))
        count += 1
    return count
