"""Where staff see the document a movement (or anything else) names: one table from a
document type to the screen that shows it, so every "what caused this" link is made here.

A type without a screen (a reservation, demo data) is shown as text; so is a type whose
app is not installed yet (its URL name does not reverse), which then links by itself once
that app adds the screen under the name listed here.
"""

from django.urls import NoReverseMatch, reverse

# document type → the URL name of its staff screen, which takes the document's id.
DOCUMENT_SCREENS = {
    "adjustment": "inventory:adjustment_detail",
    "cycle_count": "inventory:count_detail",
    "transfer": "inventory:transfer_detail",
    "inventory_event": "inventory:event_detail",
    "order": "orders:detail",
    "return": "returns:detail",
    "case": "cases:detail",
}

# How each type is named on screens.
DOCUMENT_LABELS = {
    "adjustment": "Adjustment",
    "cycle_count": "Count",
    "transfer": "Transfer",
    "inventory_event": "Inbound event",
    "order": "Order",
    "return": "Return",
    "case": "Case",
    "reservation": "Hold",
    "reservation_expiry": "Holds expired",
    "demo": "Demo data",
}


def document_label(document_type: str) -> str:
    return DOCUMENT_LABELS.get(document_type, document_type.replace("_", " ").capitalize())


def document_url(document_type: str, document_id) -> str | None:
    """The staff URL of one document, or None when it has no screen."""
    name = DOCUMENT_SCREENS.get(document_type)
    if name is None or document_id in (None, ""):
        return None
    try:
        return reverse(name, args=[document_id])
    except NoReverseMatch:
        return None


def movement_source(movement) -> tuple[str, str | None]:
    """What caused a movement, as (text, URL or None): its inbound event when it came
    from one, else its document."""
    if movement.event_id is not None:
        event = movement.event
        return f"Inbound event {event.source}:{event.event_id}", document_url("inventory_event", movement.event_id)
    if not movement.document_type:
        return "—", None
    text = f"{document_label(movement.document_type)} {movement.document_id}".strip()
    return text, document_url(movement.document_type, movement.document_id)
