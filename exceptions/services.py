"""Raising cases. The one way any part of the product reports something for a person.

This module imports nothing from the other apps, so every app can raise cases through it
without a dependency cycle.
"""

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.utils import timezone

from exceptions import policy
from exceptions.models import Case
from exceptions.priority import priority, urgency
from exceptions.states import ACTIVE_STATUSES


@dataclass
class CaseReport:
    """What a detector knows about one problem."""

    kind: str
    dedup_key: str
    title: str
    detail: str = ""
    subject: Any = None
    sku_id: int | None = None
    location_id: int | None = None
    money_at_risk: Decimal = Decimal("0")
    context: dict = field(default_factory=dict)
    occurrences: int = 1  # detections folded into this one report


def raise_cases(reports: list[CaseReport], *, actor=None) -> None:
    """Raise many reports; those sharing a dedup key become one raise (the last one's
    context, the largest money at risk, every occurrence counted)."""
    merged: dict[str, CaseReport] = {}
    for report in reports:
        earlier = merged.get(report.dedup_key)
        if earlier is not None:
            report = replace(report, occurrences=earlier.occurrences + report.occurrences,
                             money_at_risk=max(earlier.money_at_risk, report.money_at_risk))
        merged[report.dedup_key] = report
    for report in merged.values():
        raise_case(report, actor=actor)


def raise_case(report: CaseReport, *, actor=None) -> Case:
    """Open a case, or bump the active case with the same dedup key.

    A bump adds an occurrence, moves last-seen, keeps the larger money at risk, takes
    the newest context and recomputes the priority: one case, never a duplicate.
    """
    for attempt in range(2):
        try:
            with transaction.atomic():
                existing = (
                    Case.objects.select_for_update()
                    .filter(dedup_key=report.dedup_key, status__in=ACTIVE_STATUSES)
                    .first()
                )
                if existing is not None:
                    return _bump(existing, report, actor=actor)
                return _open(report, actor=actor)
        except IntegrityError:  # a concurrent raise opened it first: bump that one
            if attempt:
                raise
    raise AssertionError("unreachable")


def _open(report: CaseReport, *, actor) -> Case:
    now = timezone.now()
    kind_policy = policy.policy_for(report.kind)
    sla = policy.sla_for(report.kind)
    sla_due_at = now + sla
    score, factors = priority(
        kind=report.kind,
        money_at_risk=report.money_at_risk,
        urgency_factor=urgency(sla_due_at=sla_due_at, sla_total_seconds=sla.total_seconds(), now=now),
    )
    case = Case(
        kind=report.kind,
        queue=kind_policy.queue,
        severity=kind_policy.severity,
        title=report.title[:300],
        detail=report.detail,
        sku_id=report.sku_id,
        location_id=report.location_id,
        context=report.context,
        dedup_key=report.dedup_key,
        occurrences=report.occurrences,
        first_seen_at=now,
        last_seen_at=now,
        money_at_risk=report.money_at_risk,
        priority=score,
        priority_factors=factors,
        sla_due_at=sla_due_at,
    )
    if report.subject is not None:
        case.subject_type = ContentType.objects.get_for_model(report.subject)
        case.subject_id = str(report.subject.pk)
    case._history_user = actor
    case._change_reason = "detected"
    case.save()
    return case


def _bump(case: Case, report: CaseReport, *, actor) -> Case:
    now = timezone.now()
    case.occurrences += report.occurrences
    case.last_seen_at = now
    case.money_at_risk = max(case.money_at_risk, report.money_at_risk)
    case.context = report.context or case.context
    sla_total = (case.sla_due_at - case.first_seen_at).total_seconds()
    case.priority, case.priority_factors = priority(
        kind=case.kind,
        money_at_risk=case.money_at_risk,
        urgency_factor=urgency(sla_due_at=case.sla_due_at, sla_total_seconds=sla_total, now=now),
    )
    case._history_user = actor
    case._change_reason = "detected again"
    case.save(update_fields=["occurrences", "last_seen_at", "money_at_risk", "context", "priority",
                             "priority_factors", "updated_at"])
    return case
