"""Notifications: each event mails each person once, whatever runs twice; people choose
immediately, a daily digest, or off, per kind; queues get a daily digest."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from backoffice import notifications
from backoffice.models import Delivery, NotificationKind, NotificationPreference, SentNotification
from backoffice.staff import staff_user_upsert
from exceptions.services import case_escalate
from exceptions.states import Queue
from inventory.models import Adjustment
from inventory.states import AdjustmentStatus
from retailops.roles import Role
from tests.exceptions.factories import CaseFactory
from tests.inventory.factories import LocationFactory, SkuFactory
from tests.mfa import force_login_verified

pytestmark = pytest.mark.django_db


def person(username, role, locations=(), email=True):
    user = staff_user_upsert(username=username, role=role, password="pw-for-tests-1", location_codes=locations)
    if email:
        user.email = f"{username}@example.test"
        user.save()
    return user


def run_jobs(django_capture_on_commit_callbacks):
    """The beat task's two steps: decide, then (when it decided anything) the worker's send.
    Returns (notifications decided, mails sent)."""
    decided = notifications.notifications_decide()
    sent = notifications.notifications_send() if decided else 0
    return decided, sent


@pytest.fixture
def team():
    store = LocationFactory(code="S1")
    return {
        "store": store,
        "control": person("carla", Role.INVENTORY_CONTROL),
        "control_no_mail": person("nomail", Role.INVENTORY_CONTROL, email=False),
        "admin": person("ada", Role.OPS_ADMIN),
        "finance": person("fin", Role.FINANCE),
        "store_here": person("sam", Role.STORE_OPS, locations=("S1",)),
    }


def test_an_sla_breach_mails_the_queue_once_however_often_the_job_runs(team, django_capture_on_commit_callbacks):
    case = CaseFactory(queue=Queue.INVENTORY_CONTROL, location=team["store"], overdue=True)

    enqueued, sent = run_jobs(django_capture_on_commit_callbacks)
    again = run_jobs(django_capture_on_commit_callbacks)
    assert notifications.notifications_send() == 0  # a second worker run finds nothing unsent

    assert (enqueued, sent) == (1, 1)
    assert again == (0, 0)
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["carla@example.test"]
    assert f"case #{case.pk}" in mail.outbox[0].subject
    assert f"/cases/{case.pk}/" in mail.outbox[0].body
    assert SentNotification.objects.get().sent_at is not None


def test_an_escalation_mails_ops_admins_and_the_assignee(team, django_capture_on_commit_callbacks):
    case = CaseFactory(queue=Queue.STORE_OPS, location=team["store"], assignee=team["store_here"])
    case_escalate(case=case, reason="by hand")
    run_jobs(django_capture_on_commit_callbacks)
    run_jobs(django_capture_on_commit_callbacks)

    assert sorted(message.to[0] for message in mail.outbox) == ["ada@example.test", "sam@example.test"]
    assert all("Escalated" in message.subject for message in mail.outbox)


def test_preferences_off_and_digest_are_respected(team, django_capture_on_commit_callbacks):
    notifications.preferences_set(user=team["control"], choices={NotificationKind.SLA_BREACH: Delivery.OFF})
    notifications.preferences_set(user=team["admin"], choices={NotificationKind.ESCALATION: Delivery.DIGEST})
    case = CaseFactory(queue=Queue.INVENTORY_CONTROL, overdue=True)
    case_escalate(case=case)
    run_jobs(django_capture_on_commit_callbacks)

    assert mail.outbox == []  # the breach is off for carla; ada wants escalations in her digest
    notifications.digests_decide()
    notifications.digests_decide()  # the same day again: no second digest
    notifications.notifications_send()

    digests = [message for message in mail.outbox if message.to == ["ada@example.test"]]
    assert len(digests) == 1
    assert f"case #{case.pk}" in digests[0].body
    assert not [message for message in mail.outbox if message.to == ["carla@example.test"]
                and "SLA breached" in message.subject]


def test_an_adjustment_waiting_goes_to_finance_but_never_its_requester(team, django_capture_on_commit_callbacks):
    requester = person("fin2", Role.FINANCE)
    sku = SkuFactory(code="A")
    adjustment = Adjustment.objects.create(
        sku=sku, location=team["store"], delta=-50, reason="shrink", status=AdjustmentStatus.PENDING_APPROVAL,
        on_hand_at_request=60, unit_cost=Decimal("9.00"), value=Decimal("450.00"), requested_by=requester)
    for user in (team["finance"], requester):
        notifications.preferences_set(user=user, choices={NotificationKind.APPROVAL_WAITING: Delivery.IMMEDIATE})
    run_jobs(django_capture_on_commit_callbacks)
    run_jobs(django_capture_on_commit_callbacks)

    assert [message.to for message in mail.outbox] == [["fin@example.test"]]
    assert "450.00" in mail.outbox[0].body and "S1" in mail.outbox[0].subject
    assert SentNotification.objects.filter(event_key=f"approval_waiting:adjustment:{adjustment.pk}").count() == 1


def test_each_queue_gets_a_daily_digest_once_and_a_store_sees_its_own(team, django_capture_on_commit_callbacks):
    other = LocationFactory(code="S2")
    CaseFactory(queue=Queue.STORE_OPS, location=team["store"], overdue=True)
    CaseFactory(queue=Queue.STORE_OPS, location=other)
    CaseFactory(queue=Queue.INVENTORY_CONTROL)
    for _run in range(2):
        notifications.digests_decide()
        notifications.notifications_send()

    digests = [message for message in mail.outbox if "queue" in message.subject]
    by_person = {message.to[0]: message for message in digests}
    assert len(digests) == len(by_person) == 2  # carla (inventory control) and sam (store ops), once each
    assert "1 active, 1 past SLA" in by_person["sam@example.test"].subject  # S2's case is not sam's
    assert "1 active, 0 past SLA" in by_person["carla@example.test"].subject


def test_a_failed_send_is_kept_and_sent_by_the_next_run(team, django_capture_on_commit_callbacks, settings):
    CaseFactory(queue=Queue.INVENTORY_CONTROL, overdue=True)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_PORT = 1  # nothing listens: the send fails
    run_jobs(django_capture_on_commit_callbacks)
    row = SentNotification.objects.get()
    assert row.sent_at is None and row.attempts == 1 and row.last_error

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert notifications.notifications_send() == 1
    assert len(mail.outbox) == 1


def test_old_breaches_are_not_announced(team, django_capture_on_commit_callbacks):
    CaseFactory(queue=Queue.INVENTORY_CONTROL, first_seen_at=timezone.now() - timedelta(days=5),
                sla_due_at=timezone.now() - timedelta(days=4))
    run_jobs(django_capture_on_commit_callbacks)
    assert mail.outbox == []


def test_the_preferences_screen_saves_each_kind_with_history(team):
    client = Client()
    force_login_verified(client, team["admin"])
    page = client.get("/notifications/")
    assert page.status_code == 200
    assert b"ada@example.test" in page.content
    response = client.post("/notifications/", {
        "sla_breach": "off", "escalation": "digest", "approval_waiting": "immediate", "queue_digest": "off"})
    assert response.status_code == 302
    assert notifications.preferences_of(team["admin"]) == {
        "sla_breach": "off", "escalation": "digest", "approval_waiting": "immediate", "queue_digest": "off"}
    assert NotificationPreference.history.filter(history_user=team["admin"]).count() == 4
    refused = client.post("/notifications/", {"sla_breach": "loudly", "escalation": "digest",
                                              "approval_waiting": "immediate", "queue_digest": "immediate"})
    assert refused.status_code == 200
    assert b"nothing was changed" in refused.content
    assert notifications.preferences_of(team["admin"])["sla_breach"] == "off"
    strict = Client(enforce_csrf_checks=True)
    force_login_verified(strict, team["admin"])
    assert strict.post("/notifications/", {"sla_breach": "immediate"}).status_code == 403
    assert notifications.preferences_of(team["admin"])["sla_breach"] == "off"
