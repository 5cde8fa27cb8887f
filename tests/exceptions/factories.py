from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from exceptions.models import Case
from exceptions.states import CaseKind, CaseStatus, Queue, Severity


class CaseFactory(factory.django.DjangoModelFactory):
    """A case as raise_case would open it (use raise_case when the raising is under test)."""

    class Meta:
        model = Case

    kind = CaseKind.NEGATIVE_ON_HAND
    queue = Queue.INVENTORY_CONTROL
    severity = Severity.HIGH
    title = factory.Sequence(lambda n: f"Case {n}")
    dedup_key = factory.Sequence(lambda n: f"test:{n}")
    first_seen_at = factory.LazyFunction(timezone.now)
    last_seen_at = factory.LazyAttribute(lambda case: case.first_seen_at)
    sla_due_at = factory.LazyAttribute(lambda case: case.first_seen_at + timedelta(hours=24))
    money_at_risk = Decimal("10.00")
    priority = Decimal("15.00")
    priority_factors = factory.LazyFunction(lambda: {"money_at_risk": "10.00", "urgency": "1.000",
                                                     "kind_weight": "1.5", "anomaly": "1.0"})

    class Params:
        overdue = factory.Trait(
            first_seen_at=factory.LazyFunction(lambda: timezone.now() - timedelta(days=2)),
            sla_due_at=factory.LazyFunction(lambda: timezone.now() - timedelta(hours=1)),
        )
        resolved = factory.Trait(status=CaseStatus.RESOLVED, root_cause="miscount",
                                 resolved_at=factory.LazyFunction(timezone.now))
