"""Reads for the apps that use integrations: outbound messages' delivery, the systems
whose snapshots may be uploaded."""

from collections.abc import Iterable

from integrations.models import ExternalSystem, OutboxMessage


def delivery_status(message_ids: Iterable[int]) -> str | None:
    """How far a document's messages got, in one word: `dead` if any went to dead letter,
    else `pending` if any waits, else `delivered`; None when there were none (no ERP is
    connected). One query."""
    ids = sorted(set(message_ids))
    if not ids:
        return None
    statuses = set(OutboxMessage.objects.filter(pk__in=ids).values_list("status", flat=True))
    if OutboxMessage.Status.DEAD in statuses:
        return OutboxMessage.Status.DEAD
    if OutboxMessage.Status.PENDING in statuses:
        return OutboxMessage.Status.PENDING
    return OutboxMessage.Status.DELIVERED


# Systems that state stock on hand, and so may send (or have uploaded) a snapshot.
SNAPSHOT_KINDS = (ExternalSystem.Kind.WMS, ExternalSystem.Kind.ERP)


def snapshot_upload_systems():
    """The systems whose snapshot staff may upload: enabled warehouse and ERP systems,
    by code."""
    return ExternalSystem.objects.filter(enabled=True, kind__in=SNAPSHOT_KINDS).order_by("code")


def system_codes_of_kind(kind: str) -> list[str]:
    """The codes of the partner systems of one kind (e.g. every POS), whether enabled or not."""
    return list(ExternalSystem.objects.filter(kind=kind).values_list("code", flat=True))


def relayed_system_codes() -> list[str]:
    """The codes of the systems the relay may send to: each has a relay queue."""
    return list(ExternalSystem.objects.filter(enabled=True).exclude(adapter=ExternalSystem.Adapter.NONE)
                .order_by("code").values_list("code", flat=True))
