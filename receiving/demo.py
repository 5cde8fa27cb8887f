"""Demo advance shipping notices for `seed_demo`: one in each state, one overdue with its
case and one received with a variance and its case, all made through the receiving
services (the ledger, the outbox's goods receipts and the cases see them as any notice).

Deterministic (fixed external ids, SKUs picked by index, dates fixed from the first run)
and idempotent: each notice is announced once (an existing one is never announced again,
since its expected date was set relative to the day it was first seeded) and then driven
from the state it is in towards its target, so a second run adds nothing and a run cut
short is finished by the next.
"""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from exceptions.selectors import active_cases
from exceptions.states import CaseKind
from inventory.demo import sku_code
from inventory.selectors import locations_by_code
from receiving import services
from receiving.models import Asn
from receiving.states import AsnStatus
from retailops.access import LocationScope

SOURCE_SYSTEM = "demo-supplier"  # the sandbox's demo supplier: its notices show as its own to its token
SUPPLIER = "Northwind Supply Co."
FALLBACK_LOCATION = "DC-NORTH"  # always seeded
_EVERYWHERE = LocationScope(None)


@dataclass(frozen=True)
class DemoAsn:
    external_id: str
    location: str
    lines: tuple[tuple[int, int], ...]  # (SKU index, 1-based and folded into the demo's SKU count; quantity)
    expected_in_days: int  # from the day it is first seeded; negative: due in the past
    target: str  # an AsnStatus, or "overdue" / "variance"


DEMO_ASNS = [
    DemoAsn("DEMO-ASN-0001", "DC-NORTH", ((2, 120), (4, 60)), 3, AsnStatus.EXPECTED),
    DemoAsn("DEMO-ASN-0002", "DC-SOUTH", ((6, 80), (8, 40)), 1, AsnStatus.PARTIALLY_RECEIVED),
    DemoAsn("DEMO-ASN-0003", "DC-NORTH", ((10, 50),), -1, AsnStatus.RECEIVED),
    DemoAsn("DEMO-ASN-0004", "DC-SOUTH", ((12, 30), (14, 30)), -2, AsnStatus.CLOSED),
    DemoAsn("DEMO-ASN-0005", "DC-NORTH", ((16, 25),), 5, AsnStatus.CANCELLED),
    DemoAsn("DEMO-ASN-0006", "DC-SOUTH", ((18, 90),), -4, "overdue"),
    DemoAsn("DEMO-ASN-0007", "DC-NORTH", ((20, 40), (22, 20)), -1, "variance"),
]


@dataclass
class AsnsSummary:
    created: int
    by_status: dict[str, int]


def _demo_sku(index: int, skus: int) -> str:
    return sku_code((index - 1) % skus + 1)


def _lines(spec: DemoAsn, skus: int) -> list[services.AsnLineInput]:
    """The spec's lines; with fewer demo SKUs than its indexes, two may fold onto one SKU."""
    quantities: dict[str, int] = {}
    for index, quantity in spec.lines:
        code = _demo_sku(index, skus)
        quantities[code] = quantities.get(code, 0) + quantity
    return [services.AsnLineInput(code, quantity) for code, quantity in quantities.items()]


def _drive(asn: Asn, spec: DemoAsn, lines: list[services.AsnLineInput]) -> None:
    """Take the notice from where it is to the spec's target, one service call at a time."""
    scope = _EVERYWHERE
    if spec.target == AsnStatus.PARTIALLY_RECEIVED and asn.status == AsnStatus.EXPECTED:
        first = lines[0]
        services.asn_receive(asn=asn, actor=None, scope=scope, complete=False, note="first truck",
                             lines=[services.ReceiptLineInput(first.sku, first.quantity // 2)])
    elif spec.target in (AsnStatus.RECEIVED, AsnStatus.CLOSED) and asn.status == AsnStatus.EXPECTED:
        services.asn_receive(asn=asn, actor=None, scope=scope, note="all there",
                             lines=[services.ReceiptLineInput(line.sku, line.quantity) for line in lines])
    elif spec.target == "variance" and asn.status == AsnStatus.EXPECTED:
        short, *rest = lines  # four units short; the next line arrives with three crushed
        services.asn_receive(asn=asn, actor=None, scope=scope, note="a carton missing, one crushed", lines=[
            services.ReceiptLineInput(short.sku, short.quantity - 4),
            *(services.ReceiptLineInput(line.sku, line.quantity, damaged=3) for line in rest[:1])])
    elif spec.target == AsnStatus.CANCELLED and asn.status == AsnStatus.EXPECTED:
        services.asn_cancel(asn=asn, actor=None, scope=scope, note="the supplier split the order")
    asn.refresh_from_db()
    if spec.target == AsnStatus.CLOSED and asn.status == AsnStatus.RECEIVED:
        services.asn_close(asn=asn, actor=None, scope=scope, note="checked against the purchase order")


def seed_demo_asns(*, skus: int) -> AsnsSummary:
    """Create (or finish) the demo notices; see the module docstring."""
    locations = locations_by_code(spec.location for spec in DEMO_ASNS)
    existing = {asn.external_id: asn for asn in Asn.objects.filter(
        source_system=SOURCE_SYSTEM, external_id__in=[spec.external_id for spec in DEMO_ASNS])}
    today = timezone.now().replace(hour=9, minute=0, second=0, microsecond=0)
    created = 0
    for spec in DEMO_ASNS:
        lines = _lines(spec, skus)
        asn = existing.get(spec.external_id)
        if asn is None:
            asn, new = services.asn_create(
                actor=None, scope=_EVERYWHERE, source_system=SOURCE_SYSTEM, external_id=spec.external_id,
                location_code=spec.location if spec.location in locations else FALLBACK_LOCATION,
                expected_at=today + timedelta(days=spec.expected_in_days), lines=lines, supplier=SUPPLIER,
                purchase_order=spec.external_id.replace("ASN", "PO"))
            created += new
        _drive(asn, spec, lines)
    overdue = existing.get("DEMO-ASN-0006") or Asn.objects.get(source_system=SOURCE_SYSTEM,
                                                                external_id="DEMO-ASN-0006")
    if not active_cases(kind=CaseKind.RECEIPT_VARIANCE).filter(dedup_key=f"asn_overdue:{overdue.pk}").exists():
        services.asns_overdue_detect()  # the overdue notice's case, as beat opens it
    by_status: dict[str, int] = {}
    for status in Asn.objects.filter(source_system=SOURCE_SYSTEM,
                                     external_id__in=[spec.external_id for spec in DEMO_ASNS]
                                     ).values_list("status", flat=True):
        by_status[status] = by_status.get(status, 0) + 1
    return AsnsSummary(created=created, by_status=by_status)
