"""Reads about outbound messages for the apps that write them."""

from collections.abc import Iterable

from integrations.models import OutboxMessage


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
