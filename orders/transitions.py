"""The one transition function per entity: lock, re-check under the lock, save, record.

Who, from, to, when and why are recorded by django-simple-history: the acting user is
the history user, the reason (with the previous status) the change reason, the history
date the when. Locks are taken in the order Order → Allocation (by id) → StockLevel
(by the ledger), by every service, so that no two of them can deadlock.
"""

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone
from simple_history.utils import bulk_update_with_history

from orders.models import Allocation, Order
from orders.states import ALLOCATION_TRANSITIONS, ORDER_TRANSITIONS
from retailops.lifecycle import check_transition


def order_lock(order_id: int) -> Order:
    return Order.objects.select_for_update().get(pk=order_id)


def order_transition(*, order: Order, to: str, actor, reason: str, at: datetime | None = None) -> Order:
    """Move an order to `to`, re-checking its current status under the row lock; its
    history records the move `at` (default: now)."""
    locked = order_lock(order.pk)
    check_transition(ORDER_TRANSITIONS, locked.status, to, noun="order")
    previous = locked.status
    locked.status = to
    locked._history_user = actor
    locked._change_reason = f"{reason} ({previous} → {to})"
    locked._history_date = at or timezone.now()
    locked.save(update_fields=["status", "updated_at"])
    return locked


def allocations_lock(queryset) -> list[Allocation]:
    """Lock allocation rows in id order (the one order every service uses); rows joined to
    read along (their SKU, say) are not locked."""
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))


def allocations_transition(*, allocations: Iterable[Allocation], to: str, actor, reason: str,
                           extra_fields: Iterable[str] = (), at: datetime | None = None) -> list[Allocation]:
    """Move allocations to `to`. Locks and re-reads them, checks every move first (all
    or none), then writes them and their history in bulk."""
    ids = [allocation.pk for allocation in allocations]
    wanted = {allocation.pk: allocation for allocation in allocations}
    locked = allocations_lock(Allocation.objects.filter(pk__in=ids))
    for allocation in locked:
        check_transition(ALLOCATION_TRANSITIONS, allocation.status, to, noun=f"allocation {allocation.pk}")
    now = timezone.now()
    history_date = at or now
    fields = list(extra_fields)
    for allocation in locked:
        for name in fields:
            setattr(allocation, name, getattr(wanted[allocation.pk], name))
        allocation.status = to
        allocation.updated_at = now
    if locked:
        bulk_update_with_history(locked, Allocation, ["status", "updated_at", *fields], default_user=actor,
                                 default_change_reason=f"{reason} (→ {to})", default_date=history_date)
    return locked
