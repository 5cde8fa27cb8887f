"""What a person needs to judge a case, read through the owning apps' selectors."""

from dataclasses import dataclass, field

from exceptions.models import Case
from inventory.models import InventoryEvent
from inventory.selectors import event_by_id, level_at, recent_movements_by_level

RECENT_MOVEMENTS = 15


@dataclass
class SubjectContext:
    """The case's level now, the level's recent movements, and the inbound event it is
    about (with the payload as received)."""

    level: object = None
    movements: list = field(default_factory=list)
    event: object = None


def is_about_an_event(case: Case) -> bool:
    return bool(case.subject_id) and case.subject_type_id is not None and (
        case.subject_type.model_class() is InventoryEvent)


def case_subject_context(case: Case) -> SubjectContext:
    context = SubjectContext()
    if case.sku_id and case.location_id:
        key = (case.sku_id, case.location_id)
        context.level = level_at(key)
        context.movements = recent_movements_by_level([key], limit=RECENT_MOVEMENTS)[key]
    if is_about_an_event(case):
        context.event = event_by_id(int(case.subject_id))
    return context
