"""Notifications by email: SLA breaches, escalations, adjustments waiting for approval,
and each queue's daily digest.

Deciding and sending are two steps. A beat job decides: for every event it finds, and
every person who should hear of it and has not turned that kind off, it inserts a
`SentNotification` row — in its transaction, keyed by event × recipient, so a second run
(or a concurrent one) inserts nothing and decides nothing twice. After commit, a Celery
task sends what is due: it claims each row (`sent_at` from null, a guarded update) before
handing the mail to Django's email framework, so a row is mailed at most once; a failed
send gives the claim back for the next run. Items a person wants as a daily digest wait
for the digest job, which gathers them into one mail (itself a row, keyed per day).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from backoffice.models import Delivery, NotificationKind, NotificationPreference, SentNotification
from exceptions import selectors as case_selectors
from exceptions.states import Queue
from inventory.selectors import adjustments_pending_for
from retailops.access import LocationScope, location_scope_for_user
from retailops.roles import Role

User = get_user_model()

# What a person gets without having chosen.
DEFAULT_DELIVERY = {
    NotificationKind.SLA_BREACH: Delivery.IMMEDIATE,
    NotificationKind.ESCALATION: Delivery.IMMEDIATE,
    NotificationKind.APPROVAL_WAITING: Delivery.DIGEST,
    NotificationKind.QUEUE_DIGEST: Delivery.DIGEST,
}
# The queue digest is daily by nature: "immediately" is not offered for it.
DIGEST_ONLY = {NotificationKind.QUEUE_DIGEST}
# Events older than this when first seen are not announced (a new installation, or a
# job that was stopped, does not flood anyone with old news).
LOOKBACK = timedelta(days=1)


def deliveries_for(users, kind: str) -> dict[int, str]:
    """Each user's delivery for `kind` (their choice, else the default): one query."""
    chosen = dict(NotificationPreference.objects.filter(user__in=[user.pk for user in users], kind=kind)
                  .values_list("user_id", "delivery"))
    return {user.pk: chosen.get(user.pk, DEFAULT_DELIVERY[kind]) for user in users}


def preferences_of(user) -> dict[str, str]:
    chosen = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "delivery"))
    return {kind: chosen.get(kind, DEFAULT_DELIVERY[kind]) for kind in NotificationKind.values}


@transaction.atomic
def preferences_set(*, user, choices: dict[str, str]) -> None:
    """Save a person's choices (kind → delivery); history records who changed what."""
    for kind, delivery in choices.items():
        if kind not in NotificationKind.values or delivery not in Delivery.values:
            raise ValueError(f"Unknown notification kind or delivery: {kind}={delivery}")
        if kind in DIGEST_ONLY and delivery == Delivery.IMMEDIATE:
            delivery = Delivery.DIGEST
        preference = NotificationPreference.objects.select_for_update().filter(user=user, kind=kind).first()
        if preference is None:
            preference = NotificationPreference(user=user, kind=kind, delivery=delivery)
        elif preference.delivery == delivery:
            continue
        preference.delivery = delivery
        preference._history_user = user
        preference._change_reason = "changed by the person on the preferences screen"
        preference.save()


@dataclass(frozen=True)
class Event:
    key: str
    kind: str
    subject: str
    body: str
    recipients: tuple


def _site_url(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def _with_email(users) -> list:
    return [user for user in users if user.is_active and user.email]


def case_events(*, now: datetime) -> list[Event]:
    """Cases whose SLA ran out within the look-back (to the people who work the queue
    there, and the assignee), and cases escalated within it (to ops admins and the assignee)."""
    events = []
    breached = case_selectors.active_cases().filter(sla_due_at__lt=now, sla_due_at__gte=now - LOOKBACK)
    escalated = case_selectors.active_cases().filter(escalated=True, escalated_at__gte=now - LOOKBACK)
    admins = _with_email(User.objects.filter(groups__name=Role.OPS_ADMIN))
    for case in breached.select_related("assignee", "location").order_by("pk"):
        people = {user.pk: user for user in case_selectors.assignee_choices(queue=case.queue,
                                                                             location_id=case.location_id)}
        if case.assignee is not None:
            people[case.assignee.pk] = case.assignee
        where = f" at {case.location.code}" if case.location else ""
        events.append(Event(
            key=f"sla_breach:case:{case.pk}", kind=NotificationKind.SLA_BREACH,
            subject=f"SLA breached: case #{case.pk}{where}",
            body=f"Case #{case.pk} ({case.kind_label}{where}) passed its SLA at "
                 f"{timezone.localtime(case.sla_due_at):%Y-%m-%d %H:%M}: {case.title}\n"
                 f"{_site_url(reverse('cases:detail', args=[case.pk]))}",
            recipients=tuple(_with_email(people.values())),
        ))
    for case in escalated.select_related("assignee", "location").order_by("pk"):
        people = {user.pk: user for user in admins}
        if case.assignee is not None:
            people[case.assignee.pk] = case.assignee
        where = f" at {case.location.code}" if case.location else ""
        events.append(Event(
            key=f"escalation:case:{case.pk}:{case.escalated_at:%Y%m%d%H%M%S}", kind=NotificationKind.ESCALATION,
            subject=f"Escalated: case #{case.pk}{where}",
            body=f"Case #{case.pk} ({case.kind_label}{where}) was escalated at "
                 f"{timezone.localtime(case.escalated_at):%Y-%m-%d %H:%M}: {case.title}\n"
                 f"{_site_url(reverse('cases:detail', args=[case.pk]))}",
            recipients=tuple(_with_email(people.values())),
        ))
    return events


def approval_events() -> list[Event]:
    """Adjustments waiting for finance: to every finance approver but the requester."""
    approvers = _with_email(User.objects.filter(groups__name=Role.FINANCE))
    events = []
    for adjustment in adjustments_pending_for(scope=LocationScope(None)):
        events.append(Event(
            key=f"approval_waiting:adjustment:{adjustment.pk}", kind=NotificationKind.APPROVAL_WAITING,
            subject=f"Approval waiting: {adjustment.delta:+d} × {adjustment.sku.code} at {adjustment.location.code}",
            body=f"An adjustment of {adjustment.delta:+d} × {adjustment.sku.code} at {adjustment.location.code}, "
                 f"worth {adjustment.value:,.2f}, waits for approval ({adjustment.reason.replace('_', ' ')}).\n"
                 f"{_site_url(reverse('inventory:approvals'))}",
            recipients=tuple(user for user in approvers if user.pk != adjustment.requested_by_id),
        ))
    return events


def _decide(events: list[Event]) -> int:
    """Insert a row per event × recipient who wants it; existing rows stay as they are.
    Returns how many rows this call added."""
    rows = []
    for event in events:
        if not event.recipients:
            continue
        wanted = deliveries_for(event.recipients, event.kind)
        rows += [SentNotification(event_key=event.key, recipient=user, kind=event.kind,
                                  # A queue digest is itself the day's mail: sent as soon as it is made.
                                  delivery=Delivery.IMMEDIATE if event.kind in DIGEST_ONLY else wanted[user.pk],
                                  subject=event.subject[:200], body=event.body)
                 for user in event.recipients if wanted[user.pk] != Delivery.OFF]
    if not rows:
        return 0
    keys = {row.event_key for row in rows}
    before = SentNotification.objects.filter(event_key__in=keys).count()
    SentNotification.objects.bulk_create(rows, ignore_conflicts=True)
    return SentNotification.objects.filter(event_key__in=keys).count() - before


@transaction.atomic
def notifications_decide(*, now: datetime | None = None) -> int:
    """The beat job: decide who hears of what. Returns the notifications added; the task
    then (after this commit) sends what is due."""
    now = now or timezone.now()
    return _decide(case_events(now=now) + approval_events())


def _unsent(delivery: str):
    return SentNotification.objects.filter(delivery=delivery, sent_at__isnull=True, digest__isnull=True)


def notification_send(notification_id: int) -> bool:
    """Mail one row if nobody has: claim it (sent_at from null), send, or give the claim
    back when the mail server refuses, for the next run."""
    now = timezone.now()
    if not SentNotification.objects.filter(pk=notification_id, sent_at__isnull=True).update(sent_at=now):
        return False
    notification = SentNotification.objects.select_related("recipient").get(pk=notification_id)
    try:
        send_mail(notification.subject, notification.body, None, [notification.recipient.email])
    except Exception as error:  # the mail server's refusal, whatever its class: kept, retried
        SentNotification.objects.filter(pk=notification_id).update(
            sent_at=None, attempts=notification.attempts + 1, last_error=str(error)[:2000])
        return False
    return True


def notifications_send() -> int:
    """Send every immediate notification not sent yet; returns how many were mailed."""
    ids = list(_unsent(Delivery.IMMEDIATE).order_by("pk").values_list("pk", flat=True)[:1000])
    return sum(1 for pk in ids if notification_send(pk))


def digests_decide(*, day: date | None = None) -> int:
    """The daily job: gather each person's waiting digest items into one digest row
    (keyed by person and day) and decide the queue digests; the task then sends them."""
    day = day or timezone.localdate()
    made = 0
    with transaction.atomic():
        items = list(_unsent(Delivery.DIGEST).exclude(kind=NotificationKind.QUEUE_DIGEST)
                     .select_for_update().select_related("recipient").order_by("recipient_id", "pk"))
        by_person: dict[int, list[SentNotification]] = {}
        for item in items:
            by_person.setdefault(item.recipient_id, []).append(item)
        for person_items in by_person.values():
            person = person_items[0].recipient
            digest, created = SentNotification.objects.get_or_create(
                event_key=f"digest:{day.isoformat()}", recipient=person,
                defaults={"kind": person_items[0].kind, "delivery": Delivery.IMMEDIATE,
                          "subject": f"RetailOps: {len(person_items)} things for you, {day:%d %b %Y}",
                          "body": "\n\n".join(f"{item.subject}\n{item.body}" for item in person_items)})
            made += created
            SentNotification.objects.filter(pk__in=[item.pk for item in person_items]).update(digest=digest)
        made += _decide(queue_digest_events(day=day))
    return made


def queue_digest_events(*, day: date) -> list[Event]:
    """Each queue's daily digest, to the people who work it (each sees their stores' only)."""
    events = []
    now = timezone.now()
    for queue in Queue:
        people = _with_email(case_selectors.assignee_choices(queue=queue.value))
        by_scope: dict = {}
        for person in people:
            by_scope.setdefault(location_scope_for_user(person), []).append(person)
        for scope, members in by_scope.items():
            flow = case_selectors.case_flow_by_queue(scope=scope, start=now - timedelta(days=1), end=now)[queue.value]
            aging = case_selectors.case_aging_by_queue(scope=scope, now=now)[queue.value]
            active = sum(aging.values())
            overdue = case_selectors.cases_for(scope=scope).filter(
                queue=queue.value, status__in=("open", "assigned", "in_progress"), sla_due_at__lt=now).count()
            if not (active or flow["opened"] or flow["closed"]):
                continue  # a quiet queue sends no mail
            for person in members:
                events.append(Event(
                    key=f"queue_digest:{queue.value}:{day.isoformat()}", kind=NotificationKind.QUEUE_DIGEST,
                    subject=f"{queue.label} queue, {day:%d %b %Y}: {active} active, {overdue} past SLA",
                    body=f"In the last 24 hours: {flow['opened']} opened, {flow['closed']} closed, "
                         f"{flow['breached']} passed their SLA.\nActive now: {active} ({aging['over_7d']} older than "
                         f"7 days); past SLA: {overdue}.\n{_site_url(reverse('cases:queue', args=[queue.value]))}",
                    recipients=(person,),
                ))
    return events
