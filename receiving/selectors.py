"""Reads of advance shipping notices, scoped to the caller."""

from django.db.models import Prefetch, QuerySet

from integrations.selectors import delivery_status
from receiving.models import Asn, AsnLine
from retailops.access import LocationScope


def asns_for(*, scope: LocationScope, source_system: str | None = None) -> QuerySet[Asn]:
    """Notices at the caller's locations; a partner sees only those its own system sent."""
    asns = scope.filter(Asn.objects.all())
    if source_system is not None:
        asns = asns.filter(source_system=source_system)
    return asns


def asns_with_lines(asns: QuerySet[Asn]) -> QuerySet[Asn]:
    """What a notice's representation needs, in a fixed number of queries for any page."""
    return asns.select_related("location").prefetch_related(
        Prefetch("lines", queryset=AsnLine.objects.select_related("sku").order_by("pk")))


def asn_by_external_id(*, scope: LocationScope, external_id: str) -> Asn | None:
    """The notice a dock scans or types (its external id; the newest if two senders used it)."""
    return asns_with_lines(asns_for(scope=scope)).filter(external_id=external_id.strip()).order_by("-pk").first()


def erp_posting(asn: Asn) -> dict | None:
    """The delivery status of the notice's goods receipts to the ERP (None before any)."""
    if not asn.erp_messages:
        return None
    return {"status": delivery_status(asn.erp_messages), "documents": len(asn.erp_messages)}
