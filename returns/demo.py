"""Demo returns for `seed_demo`: one in each state, a refund waiting for finance and an
unauthorised receipt with its case, all made through the returns services (the ledger, the
refund policy, the outbox and the cases see them as they would any return).

Deterministic (fixed RA numbers, SKUs picked by index) and idempotent: each demo return is
driven from the state it is in towards its target, so a second run finds every one there
and adds nothing; a run cut short is finished by the next.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from inventory.adjustments import approval_policy_current
from inventory.demo import sku_code
from inventory.selectors import locations_by_code, skus_by_code
from retailops.access import LocationScope
from returns import detectors, refunds, services
from returns.models import ReturnAuthorization
from returns.states import ACTIVE_REFUND_STATUSES, ReturnStatus

SOURCE_SYSTEM = "demo-web"  # the sandbox web shop: its returns show as its own to its token
UNAUTHORISED_ID = "DEMO-UNAUTHORISED-1"
FALLBACK_LOCATION = "DC-NORTH"  # always seeded; for a demo with no stores
_EVERYWHERE = LocationScope(None)
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class DemoReturn:
    external_id: str
    location: str
    sku_index: int  # 1-based, folded into the demo's SKU count
    quantity: int
    target: str  # a ReturnStatus, or "refund_pending"
    reason: str


DEMO_RETURNS = [
    DemoReturn("DEMO-RA-0001", "S001", 3, 2, ReturnStatus.AUTHORIZED, "too small"),
    DemoReturn("DEMO-RA-0002", "DC-NORTH", 7, 3, ReturnStatus.PARTIALLY_RECEIVED, "changed mind"),
    DemoReturn("DEMO-RA-0003", "DC-NORTH", 11, 2, ReturnStatus.RECEIVED, "wrong colour"),
    DemoReturn("DEMO-RA-0004", "DARK-01", 13, 2, ReturnStatus.INSPECTED, "arrived damaged"),
    DemoReturn("DEMO-RA-0005", "DC-SOUTH", 17, 1, ReturnStatus.REFUNDED, "too large"),
    DemoReturn("DEMO-RA-0006", "S001", 19, 1, ReturnStatus.CLOSED, "not as pictured"),
    DemoReturn("DEMO-RA-0007", "DARK-01", 23, 1, ReturnStatus.CANCELLED, "customer kept it"),
    DemoReturn("DEMO-RA-0008", "DC-SOUTH", 29, 2, ReturnStatus.EXPIRED, "never sent back"),
    DemoReturn("DEMO-RA-0009", "DC-NORTH", 5, 4, "refund_pending", "faulty zip"),
]


@dataclass
class ReturnsSummary:
    created: int
    by_status: dict[str, int]


def _demo_sku(index: int, skus: int) -> str:
    return sku_code((index - 1) % skus + 1)


def _small_refund(value: Decimal) -> Decimal:
    """An amount the approval policy pays at once: the units' value, kept below its threshold."""
    threshold = approval_policy_current().threshold
    return max(_CENT, min(value, (threshold - _CENT) if threshold > _CENT else _CENT)).quantize(_CENT)


def _large_refund(value: Decimal) -> Decimal:
    """An amount the approval policy holds for finance: the threshold at least."""
    return max(value, approval_policy_current().threshold, _CENT).quantize(_CENT)


def _drive(authorization: ReturnAuthorization, spec: DemoReturn, sku: str, value: Decimal) -> None:
    """Take the return one step at a time from where it is to the spec's target."""
    line = [services.LineInput(sku, spec.quantity)]
    scope = _EVERYWHERE
    steps: dict[str, list[Callable[[ReturnAuthorization], object]]] = {
        ReturnStatus.PARTIALLY_RECEIVED: [lambda a: services.return_receive(
            authorization=a, lines=[services.LineInput(sku, 1)], actor=None, scope=scope, note="first parcel")],
        ReturnStatus.RECEIVED: [_receive_all(line)],
        ReturnStatus.INSPECTED: [_receive_all(line), _inspect(sku, spec.quantity)],
        ReturnStatus.REFUNDED: [_receive_all(line), _inspect(sku, spec.quantity), _refund(_small_refund(value))],
        ReturnStatus.CLOSED: [_receive_all(line), _inspect(sku, spec.quantity), _refund(_small_refund(value)),
                              lambda a: services.return_close(authorization=a, actor=None, scope=scope,
                                                              note="done")],
        ReturnStatus.CANCELLED: [lambda a: services.return_cancel(authorization=a, actor=None, scope=scope,
                                                                  note="the customer kept it")],
        ReturnStatus.EXPIRED: [lambda a: detectors.return_expire(
            a.pk, reason="demo: nothing came back within the return window")],
        "refund_pending": [_receive_all(line), _refund(_large_refund(value))],
    }
    for step in steps.get(spec.target, []):
        authorization.refresh_from_db()
        if _reached(authorization, spec.target):
            return
        step(authorization)


def _reached(authorization: ReturnAuthorization, target: str) -> bool:
    if target == "refund_pending":
        return authorization.refunds.filter(status__in=ACTIVE_REFUND_STATUSES).exists()
    return authorization.status == target


def _receive_all(line: list[services.LineInput]):
    def step(authorization: ReturnAuthorization) -> None:
        if authorization.status == ReturnStatus.AUTHORIZED:
            services.return_receive(authorization=authorization, lines=line, actor=None, scope=_EVERYWHERE,
                                    note="parcel scanned at the dock")
    return step


def _inspect(sku: str, quantity: int):
    def step(authorization: ReturnAuthorization) -> None:
        if authorization.status == ReturnStatus.RECEIVED:
            restock = quantity - 1 if quantity > 1 else quantity
            groups = [services.InspectionInput(sku, restock, "restock")]
            if quantity > restock:
                groups.append(services.InspectionInput(sku, quantity - restock, "damaged"))
            services.return_inspect(authorization=authorization, lines=groups, actor=None, scope=_EVERYWHERE,
                                    note="checked at the returns bench")
    return step


def _refund(amount: Decimal):
    def step(authorization: ReturnAuthorization) -> None:
        if not authorization.refunds.filter(status__in=ACTIVE_REFUND_STATUSES).exists():
            refunds.refund_request(authorization=authorization, amount=amount, actor=None, scope=_EVERYWHERE,
                                   note="demo refund")
    return step


def seed_demo_returns(*, skus: int) -> ReturnsSummary:
    """Create (or finish) the demo returns; see the module docstring."""
    codes = {spec.external_id: _demo_sku(spec.sku_index, skus) for spec in DEMO_RETURNS}
    unauthorised_sku = _demo_sku(31, skus)
    known = skus_by_code([*codes.values(), unauthorised_sku])
    locations = locations_by_code(spec.location for spec in DEMO_RETURNS)
    created = 0
    for spec in DEMO_RETURNS:
        sku = codes[spec.external_id]
        authorization, new = services.return_authorize(
            external_id=spec.external_id,
            location_code=spec.location if spec.location in locations else FALLBACK_LOCATION,
            source_system=SOURCE_SYSTEM,
            lines=[services.LineInput(sku, spec.quantity, spec.reason)], actor=None, scope=_EVERYWHERE,
            note="demo return")
        created += new
        _drive(authorization, spec, sku, known[sku].price * spec.quantity)
    if not ReturnAuthorization.objects.filter(source_system="", external_id=UNAUTHORISED_ID).exists():
        services.return_receive_unauthorized(
            location_code=FALLBACK_LOCATION, external_id=UNAUTHORISED_ID, actor=None, scope=_EVERYWHERE,
            lines=[services.LineInput(unauthorised_sku, 2, "no RA in the parcel")],
            note="a parcel with no return number")
        created += 1
    by_status: dict[str, int] = {}
    for status in ReturnAuthorization.objects.filter(
            external_id__in=[*codes, UNAUTHORISED_ID]).values_list("status", flat=True):
        by_status[status] = by_status.get(status, 0) + 1
    return ReturnsSummary(created=created, by_status=by_status)
