"""What holds and orders share: plan where the units come from, promise them through the
ledger, and plan again when stock moved in between; a promise that cannot be kept
becomes a case."""

from collections.abc import Callable
from decimal import Decimal
from typing import TypeVar

from exceptions.services import CaseReport, raise_case
from exceptions.states import CaseKind
from inventory.errors import InsufficientStock
from inventory.models import Channel, Location, Sku
from orders import sourcing
from orders.callers import Caller
from retailops.transactions import in_retrying_transaction

T = TypeVar("T")


def sourced(*, demands: list[sourcing.Demand], snapshot: sourcing.Snapshot, region: str, allow_split: bool,
            requested_location_id: int | None, attempt: Callable[[list[sourcing.LinePlan], int], T]) -> T:
    """Plan, then `attempt` the plan (each attempt its own transaction, or savepoint); when
    stock moved under the plan, plan again with what the ledger saw (bounded)."""
    for attempt_number in range(1, sourcing.MAX_ATTEMPTS + 1):
        plans = sourcing.plan(demands=demands, snapshot=snapshot, region=region, allow_split=allow_split,
                              requested_location_id=requested_location_id)
        try:
            return in_retrying_transaction(attempt)(plans, attempt_number)
        except sourcing.StockMoved as moved:
            snapshot.refresh(moved)
    raise InsufficientStock("Stock kept moving while sourcing; nothing was held. Retry shortly.")


def report_reservation_failure(*, error: InsufficientStock, sku: Sku, channel: Channel, location: Location | None,
                               quantity: int, caller: Caller, document: str) -> None:
    """Open (or bump) the `reservation_failure` case of a promise that could not be kept."""
    where = f"location:{location.pk}" if location else f"channel:{channel.pk}"
    raise_case(CaseReport(
        kind=CaseKind.RESERVATION_FAILURE,
        dedup_key=f"reservation_failure:{sku.pk}:{where}",
        title=f"Could not promise {quantity} × {sku.code} to {channel.code}"
              + (f" at {location.code}" if location else ""),
        detail=error.detail,
        sku_id=sku.pk,
        location_id=location.pk if location else None,
        money_at_risk=Decimal(quantity) * sku.price,
        context={"channel": channel.code, "requested": quantity, "document": document, **error.extra},
    ), actor=caller.actor)
