"""The relay: delivery, coalescing, backoff, Retry-After, the circuit, dead letters and replay.

The partner is the real sandbox on loopback; time passing is simulated by making rows due.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.adapters.json_http import retry_after_seconds
from connectors.relay import backoff_seconds, outbox_relay
from exceptions.models import Case
from exceptions.states import CaseKind
from integrations.models import ExternalSystem, OutboxMessage, SyncRun
from integrations.services import external_system_pause, external_system_resume, outbox_replay
from inventory.ledger import Movement, post_movements
from inventory.models import Bucket
from tests.inventory.factories import ChannelFactory, LocationFactory, SkuFactory

pytestmark = pytest.mark.django_db

Status = OutboxMessage.Status


def make_due(**filters) -> None:
    OutboxMessage.objects.filter(status=Status.PENDING, **filters).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1))


def open_cool_down_over(system) -> None:
    ExternalSystem.objects.filter(pk=system.pk).update(circuit_retry_at=timezone.now() - timedelta(seconds=1))


@pytest.fixture(autouse=True)
def relay_settings(settings):
    settings.INTEGRATIONS_BACKOFF_BASE_SECONDS = 10
    settings.INTEGRATIONS_BACKOFF_MAX_SECONDS = 300
    settings.INTEGRATIONS_MAX_ATTEMPTS = 3
    settings.INTEGRATIONS_CIRCUIT_THRESHOLD = 3
    settings.INTEGRATIONS_CIRCUIT_COOLDOWN_SECONDS = 60
    settings.INTEGRATIONS_RELAY_TIME_BUDGET_SECONDS = 10
    return settings


def test_a_message_is_delivered_once_with_its_idempotency_key(channel_system, stock, sandbox):
    system = channel_system("market")
    stock(7)
    message = OutboxMessage.objects.get()

    assert outbox_relay() == {"attempted": 1, "delivered": 1}
    assert outbox_relay() == {}  # nothing left to do: running twice is harmless

    [received] = sandbox.received("market")
    assert received["idempotency_key"] == message.idempotency_key
    assert received["body"]["items"] == [{
        "sku": "A", "location": "DC1", "available": 7, "on_hand": 7, "version": 1, "channel": "ch-market",
        "changed_at": message.created_at.isoformat(),
    }]
    message.refresh_from_db()
    assert (message.status, message.attempts, message.claim_token) == (Status.DELIVERED, 1, None)
    run = SyncRun.objects.get()
    assert (run.system, run.job, run.status, run.counts) == (system, "availability_push", "succeeded",
                                                             {"attempted": 1, "delivered": 1})
    assert run.latency_p50_ms is not None and run.finished_at is not None


def test_availability_for_one_key_coalesces_to_the_latest(channel_system, stock, sandbox):
    channel_system("market")
    for _ in range(5):
        stock(1)
    stock(3, sku="B")

    counts = outbox_relay()

    assert counts == {"superseded": 4, "attempted": 2, "delivered": 2}
    state = sandbox.state("market")
    assert state["A|DC1"]["on_hand"] == 5 and state["A|DC1"]["version"] == 5
    assert state["B|DC1"]["on_hand"] == 3
    assert OutboxMessage.objects.filter(status=Status.SUPERSEDED).count() == 4


def test_an_older_message_due_later_is_superseded_not_sent(channel_system, stock, sandbox):
    channel_system("market")
    stock(1)
    older = OutboxMessage.objects.get()
    OutboxMessage.objects.filter(pk=older.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    stock(1)
    outbox_relay()
    make_due()
    outbox_relay()
    older.refresh_from_db()
    assert older.status == Status.SUPERSEDED
    assert [r["body"]["items"][0]["version"] for r in sandbox.received()] == [2]


def test_each_system_hears_its_channel_availability_and_a_posting_goes_in_one_push(channel_system, sandbox):
    channel_system("market", channel=ChannelFactory(code="mkt", kind="marketplace", safety_buffer=2))
    channel_system("web", kind=ExternalSystem.Kind.WEB, channel=ChannelFactory(code="web", kind="web"))
    location = LocationFactory(code="DC1", dc=True)
    skus = [SkuFactory(code=f"K{index}") for index in range(3)]
    post_movements([Movement(sku.pk, location.pk, Bucket.ON_HAND, 10 + index, reason="receipt")
                    for index, sku in enumerate(skus)])

    assert outbox_relay() == {"attempted": 2, "delivered": 2}

    [market] = sandbox.received("market")
    [web] = sandbox.received("web")
    assert [(item["sku"], item["available"], item["channel"]) for item in market["body"]["items"]] == [
        ("K0", 8, "mkt"), ("K1", 9, "mkt"), ("K2", 10, "mkt")]
    assert [(item["sku"], item["available"]) for item in web["body"]["items"]] == [("K0", 10), ("K1", 11), ("K2", 12)]


def test_an_older_message_sent_late_carries_the_newest_state_never_its_own(channel_system, sandbox):
    channel_system("market")
    location = LocationFactory(code="DC1", dc=True)
    a, b = SkuFactory(code="A"), SkuFactory(code="B")
    post_movements([Movement(sku.pk, location.pk, Bucket.ON_HAND, 4, reason="receipt") for sku in (a, b)])
    first = OutboxMessage.objects.get()
    post_movements([Movement(a.pk, location.pk, Bucket.ON_HAND, -1, reason="sale")])  # A moves on: 4 → 3
    OutboxMessage.objects.exclude(pk=first.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))

    assert outbox_relay() == {"attempted": 1, "delivered": 1}

    [received] = sandbox.received("market")
    assert received["idempotency_key"] == first.idempotency_key
    assert [(item["sku"], item["on_hand"], item["version"]) for item in received["body"]["items"]] == [
        ("A", 3, 2), ("B", 4, 1)]


def test_within_a_claim_a_level_goes_with_the_newest_message_naming_it(channel_system, sandbox):
    channel_system("market")
    location = LocationFactory(code="DC1", dc=True)
    a, b, c = (SkuFactory(code=code) for code in "ABC")
    receive = [Movement(sku.pk, location.pk, Bucket.ON_HAND, 1, reason="receipt") for sku in (a, b, c)]
    post_movements(receive[:2])  # A and B
    post_movements(receive[1:])  # B and C
    post_movements(receive[:2])  # A and B again: the first message has nothing left to say

    assert outbox_relay() == {"superseded": 1, "attempted": 2, "delivered": 2}

    sent = [sorted(item["sku"] for item in received["body"]["items"]) for received in sandbox.received("market")]
    assert sent == [["C"], ["A", "B"]]
    states = dict(OutboxMessage.objects.order_by("pk").values_list("pk", "status"))
    assert list(states.values()) == [Status.SUPERSEDED, Status.DELIVERED, Status.DELIVERED]


def test_backoff_grows_exponentially_with_jitter_and_is_capped(relay_settings):
    for attempts, ceiling in [(1, 10), (2, 20), (3, 40), (6, 300), (20, 300)]:
        waits = [backoff_seconds(attempts) for _ in range(200)]
        assert all(ceiling / 2 <= wait <= ceiling for wait in waits)
        assert max(waits) - min(waits) > ceiling / 10  # jittered, not lockstep


def test_a_failed_send_is_retried_after_a_backoff_and_then_delivered_once(channel_system, stock, sandbox):
    channel_system("market")
    stock(2)
    sandbox.configure(fail_next=1)

    before = timezone.now()
    assert outbox_relay() == {"attempted": 1, "failed": 1}
    message = OutboxMessage.objects.get()
    assert message.status == Status.PENDING and message.attempts == 1 and "500" in message.last_error
    assert before + timedelta(seconds=5) <= message.next_attempt_at <= timezone.now() + timedelta(seconds=10)
    assert outbox_relay() == {}  # not due yet

    make_due()
    assert outbox_relay() == {"attempted": 1, "delivered": 1}
    assert len(sandbox.received()) == 1
    assert SyncRun.objects.order_by("pk").first().status == "failed"


def test_a_429_is_honoured_for_the_whole_system_without_using_an_attempt(channel_system, stock, sandbox):
    system = channel_system("market")
    stock(1)
    stock(1, sku="B")
    sandbox.configure(throttle_next=1, retry_after=30)

    assert outbox_relay() == {"attempted": 1, "throttled": 1}
    system.refresh_from_db()
    now = timezone.now()
    assert now + timedelta(seconds=28) <= system.throttled_until <= now + timedelta(seconds=30)
    messages = list(OutboxMessage.objects.order_by("pk"))
    assert all(m.attempts == 0 and m.status == Status.PENDING for m in messages)
    assert messages[0].next_attempt_at >= now + timedelta(seconds=28)  # the throttled one waits as asked
    assert messages[1].next_attempt_at >= now + timedelta(seconds=28)  # so does the rest of the batch

    make_due()
    assert outbox_relay() == {}  # the system is still throttled
    assert sandbox.counts()["requests"] == 1
    ExternalSystem.objects.filter(pk=system.pk).update(throttled_until=timezone.now())
    assert outbox_relay() == {"attempted": 2, "delivered": 2}


def test_retry_after_reads_seconds_and_http_dates():
    now = timezone.now()
    assert retry_after_seconds("7") == 7
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    http_date = (now + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 88 <= retry_after_seconds(http_date, now=now) <= 90


def test_the_circuit_opens_after_repeated_failures_and_a_half_open_probe_closes_it(channel_system, stock, sandbox):
    system = channel_system("market")
    for sku in "ABCDE":
        stock(1, sku=sku)
    sandbox.configure(down=True)

    assert outbox_relay() == {"attempted": 3, "failed": 3}  # the threshold, then the rest waits
    system.refresh_from_db()
    assert system.circuit_state == "open" and system.consecutive_failures == 3
    make_due()
    assert outbox_relay() == {}  # open: nothing is sent during the cool-down

    open_cool_down_over(system)
    assert outbox_relay() == {"attempted": 1, "failed": 1}  # one probe, which fails: open again
    system.refresh_from_db()
    assert system.circuit_state == "open"

    sandbox.configure(down=False)
    make_due()
    open_cool_down_over(system)
    counts = outbox_relay()
    assert counts["delivered"] == 5 - counts.get("dead", 0)
    system.refresh_from_db()
    assert (system.circuit_state, system.consecutive_failures) == ("closed", 0)


def test_after_the_last_attempt_a_message_is_a_dead_letter_with_a_case_and_replay_delivers_it(
    channel_system, stock, sandbox, relay_settings,
):
    relay_settings.INTEGRATIONS_CIRCUIT_THRESHOLD = 100
    system = channel_system("market")
    stock(4)
    sandbox.configure(fail_next=3)
    for _ in range(3):
        make_due()
        outbox_relay()

    message = OutboxMessage.objects.get()
    assert (message.status, message.attempts) == (Status.DEAD, 3)
    case = Case.objects.get(kind=CaseKind.DEAD_LETTER)
    assert case.subject == system and case.queue == "integration"
    assert case.context["message_id"] == message.pk and "500" in case.context["last_error"]
    assert sandbox.received() == []

    assert outbox_replay(message_ids=[message.pk]) == 1
    assert outbox_relay() == {"attempted": 1, "delivered": 1}
    message.refresh_from_db()
    assert (message.status, message.replays) == (Status.DELIVERED, 1)
    [received] = sandbox.received()
    assert received["idempotency_key"] == message.idempotency_key


def test_bulk_replay_takes_every_dead_letter_of_a_system(channel_system, stock, sandbox):
    system = channel_system("market", credentials_ref="RETAILOPS_TEST_UNSET_SECRET")
    stock(1)
    stock(1, sku="B")
    outbox_relay()  # no secret in the environment: a person must fix it, no retry
    assert OutboxMessage.objects.filter(status=Status.DEAD).count() == 2
    assert Case.objects.get(kind=CaseKind.DEAD_LETTER).occurrences == 2

    ExternalSystem.objects.filter(pk=system.pk).update(credentials_ref="")
    assert outbox_replay(system=system) == 2
    assert outbox_relay() == {"attempted": 2, "delivered": 2}


def test_a_refused_request_goes_to_dead_letter_at_once(channel_system, sandbox):
    from integrations.outbox import document_enqueue

    ExternalSystem.objects.create(code="erp", name="ERP", kind=ExternalSystem.Kind.ERP,
                                  adapter=ExternalSystem.Adapter.JSON_HTTP, base_url=f"{sandbox.url}/erp/x/y")
    document_enqueue(document_type="adjustment", document={"id": 1})
    assert outbox_relay() == {"attempted": 1, "dead": 1}  # 404: resending cannot help
    assert OutboxMessage.objects.get().last_status_code == 404


def test_a_paused_system_keeps_its_messages_until_resumed(channel_system, stock, sandbox):
    system = channel_system("market")
    external_system_pause(system=system)
    stock(1)
    assert outbox_relay() == {}
    external_system_resume(system=system)
    assert outbox_relay() == {"attempted": 1, "delivered": 1}
    assert system.history.first().history_change_reason.startswith("resumed")


def test_a_message_whose_lease_ran_out_is_claimed_again_and_the_stale_claim_cannot_finish_it(
    channel_system, stock, sandbox,
):
    from connectors import relay

    system = channel_system("market")
    stock(1)
    dead_run = relay.RelayRun(token=__import__("uuid").uuid4(), deadline=0)
    [claimed] = relay._claim(system, limit=10, run=dead_run)  # a relay claims it, then its worker dies
    assert outbox_relay() == {}  # leased: nobody else sends it meanwhile
    make_due()  # the lease runs out
    assert outbox_relay() == {"attempted": 1, "delivered": 1}
    relay._failed(system, claimed, relay.DeliveryFailed("late news"), run=dead_run,
                  tally=dead_run.tally(system.pk, claimed.topic))
    assert OutboxMessage.objects.get().status == Status.DELIVERED  # the stale claim changed nothing
