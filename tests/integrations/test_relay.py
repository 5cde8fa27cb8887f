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

    [received] = sandbox.received("market")  # both messages left in one push
    messages = list(OutboxMessage.objects.order_by("pk"))
    assert [message.status for message in messages] == [Status.SUPERSEDED, Status.DELIVERED, Status.DELIVERED]
    changed_at = {item["sku"]: item["changed_at"] for item in received["body"]["items"]}
    assert changed_at == {"C": messages[1].created_at.isoformat(), "A": messages[2].created_at.isoformat(),
                          "B": messages[2].created_at.isoformat()}
    assert received["idempotency_key"] == messages[1].push_key == messages[2].push_key


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


@pytest.fixture
def one_level_a_push(monkeypatch):
    """Every message its own request, so that the tests can tell requests apart."""
    monkeypatch.setattr("connectors.relay.ITEMS_PER_PUSH", 1)


def test_a_429_is_honoured_for_the_whole_system_without_using_an_attempt(channel_system, stock, sandbox,
                                                                          one_level_a_push):
    system = channel_system("market", max_in_flight=1)
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


def test_the_circuit_opens_after_repeated_failures_and_a_half_open_probe_closes_it(channel_system, stock, sandbox,
                                                                                  one_level_a_push):
    system = channel_system("market", max_in_flight=1)
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
    relay._failed(system, claimed, relay.DeliveryFailed("late news"), run=dead_run)
    assert OutboxMessage.objects.get().status == Status.DELIVERED  # the stale claim changed nothing


# --- Batching, pushes sent again as themselves, concurrency per system -----------------------


def many_levels_change(count: int, *, prefix: str = "K") -> None:
    """`count` levels change, each in a posting (and a message) of its own."""
    location = LocationFactory(code="DC1", dc=True)
    for index in range(count):
        sku = SkuFactory(code=f"{prefix}{index:03d}")
        post_movements([Movement(sku.pk, location.pk, Bucket.ON_HAND, 1 + index, reason="receipt")])


def test_messages_for_many_levels_go_in_one_push_under_one_key(channel_system, sandbox):
    channel_system("market")
    many_levels_change(12)

    assert outbox_relay() == {"attempted": 12, "delivered": 12}

    [received] = sandbox.received("market")
    assert sorted(item["sku"] for item in received["body"]["items"]) == [f"K{index:03d}" for index in range(12)]
    assert set(OutboxMessage.objects.values_list("push_key", flat=True)) == {received["idempotency_key"]}


def test_a_failed_push_is_sent_again_as_the_same_push_with_the_same_key(channel_system, sandbox):
    channel_system("market")
    many_levels_change(3)
    sandbox.configure(fail_next=1)
    assert outbox_relay() == {"attempted": 3, "failed": 3}
    [key] = set(OutboxMessage.objects.values_list("push_key", flat=True))

    many_levels_change(2, prefix="N")  # new messages meanwhile: they do not join the failed push
    make_due()
    assert outbox_relay() == {"attempted": 5, "delivered": 5}

    pushes = {received["idempotency_key"]: sorted(item["sku"] for item in received["body"]["items"])
              for received in sandbox.received("market")}
    assert pushes[key] == ["K000", "K001", "K002"]
    assert sorted(pushes.values()) == [["K000", "K001", "K002"], ["N000", "N001"]]


def test_a_push_whose_worker_died_after_sending_is_replayed_not_applied_twice(channel_system, sandbox):
    from connectors import relay
    from connectors.adapters import adapter_for

    system = channel_system("market")
    many_levels_change(3)
    dead_run = relay.RelayRun(token=__import__("uuid").uuid4(), deadline=0)
    [push] = relay._render(system, relay._claim(system, limit=10, run=dead_run), run=dead_run)
    adapter = adapter_for(system)
    adapter.push_availability(push.items, idempotency_key=push.key)  # sent, then the worker dies unrecorded
    adapter.close()

    make_due()  # the lease runs out
    assert outbox_relay() == {"attempted": 3, "delivered": 3}

    assert sandbox.counts()["accepted"] == 1 and sandbox.counts()["duplicates"] == 1
    assert [received["idempotency_key"] for received in sandbox.received()] == [push.key]


def test_part_of_an_earlier_push_claimed_alone_goes_under_a_key_of_its_own(channel_system, sandbox):
    """A push split between claims cannot reuse its key: the partner may have applied
    the whole of it, or none; a key of its own makes the part certain to be applied."""
    from connectors import relay

    system = channel_system("market")
    many_levels_change(3)
    dead_run = relay.RelayRun(token=__import__("uuid").uuid4(), deadline=0)
    [push] = relay._claim(system, limit=10, run=dead_run)
    make_due()
    last = push.messages[-1]
    OutboxMessage.objects.filter(pk=last.pk).update(next_attempt_at=timezone.now() + timedelta(minutes=5))

    assert outbox_relay() == {"attempted": 2, "delivered": 2}

    [received] = sandbox.received()
    assert received["idempotency_key"] != push.key
    assert len(received["body"]["items"]) == 2


def test_requests_to_one_system_go_concurrently_up_to_its_limit(channel_system, sandbox, one_level_a_push):
    channel_system("market", max_in_flight=3)
    many_levels_change(9)
    sandbox.configure(latency_ms=300)

    started = __import__("time").monotonic()
    assert outbox_relay() == {"attempted": 9, "delivered": 9}
    elapsed = __import__("time").monotonic() - started

    assert elapsed < 9 * 0.3  # not one after another…
    times = sorted(received["received_at"] for received in sandbox.received())
    at_once = max(sum(1 for other in times if abs(other - time) < 0.15) for time in times)
    assert at_once <= 3  # …and never more than the system's limit at once


def test_the_rate_limit_spaces_requests_even_when_more_may_be_in_flight(channel_system, sandbox, one_level_a_push):
    channel_system("market", max_in_flight=8, rate_limit_per_second=5)
    many_levels_change(6)
    sandbox.configure(rate_limit_per_second=6)  # the partner answers 429 past this

    started = __import__("time").monotonic()
    assert outbox_relay() == {"attempted": 6, "delivered": 6}  # no 429

    assert __import__("time").monotonic() - started >= 5 * 0.2  # 1/5 s between sends


def test_a_system_another_relay_holds_is_left_to_it(channel_system, stock, sandbox):
    system = channel_system("market")
    stock(1)
    ExternalSystem.objects.filter(pk=system.pk).update(relay_token=__import__("uuid").uuid4(),
                                                       relay_until=timezone.now() + timedelta(seconds=30))
    assert outbox_relay() == {}
    ExternalSystem.objects.filter(pk=system.pk).update(relay_until=timezone.now())  # its lease ran out
    assert outbox_relay() == {"attempted": 1, "delivered": 1}
    system.refresh_from_db()
    assert system.relay_token is None  # let go when done


def test_the_worker_process_keeps_one_client_per_system_between_runs(channel_system, stock, sandbox):
    from connectors.adapters import shared_adapter_for

    system = channel_system("market")
    first = shared_adapter_for(system)
    stock(1)
    outbox_relay()
    assert shared_adapter_for(ExternalSystem.objects.get(pk=system.pk)) is first
    ExternalSystem.objects.filter(pk=system.pk).update(timeout_seconds=3)
    assert shared_adapter_for(ExternalSystem.objects.get(pk=system.pk)) is not first  # a changed system: anew


def test_a_claim_that_supersedes_takes_the_newer_message_along(channel_system, stock, sandbox):
    """Otherwise a busy level is superseded claim after claim and never sent."""
    from connectors import relay

    system = channel_system("market")
    for _ in range(3):
        stock(1)
    run = relay.RelayRun(token=__import__("uuid").uuid4(), deadline=0)

    [push] = relay._claim(system, limit=1, run=run)  # the batch limit reaches the oldest only

    newest = OutboxMessage.objects.order_by("-pk").first()
    assert [message.pk for message in push.messages] == [newest.pk]
    assert OutboxMessage.objects.filter(status=Status.SUPERSEDED).count() == 1  # the middle one waits its turn


def test_a_relay_for_one_system_sends_that_system_only(channel_system, stock, sandbox):
    market = channel_system("market")
    channel_system("webshop")
    stock(4)
    assert outbox_relay(system_id=market.pk) == {"attempted": 1, "delivered": 1}
    assert [request["partner"] for request in sandbox.received()] == ["market"]
    assert OutboxMessage.objects.get(status=Status.PENDING).system.code == "webshop"


def test_beat_wakes_each_system_with_messages_due_and_no_other(channel_system, stock, sandbox):
    from connectors.tasks import outbox_relay_wake_due

    channel_system("market")
    channel_system("webshop")
    quiet = channel_system("quiet")
    stock(4)
    external_system_pause(system=quiet, actor=None, note="")
    assert outbox_relay_wake_due() == 2  # market and webshop; quiet is paused
    outbox_relay()
    assert outbox_relay_wake_due() == 0  # nothing due any more


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_relay_past_its_time_budget_claims_nothing_more(channel_system, stock, sandbox):
    """A claim made past the deadline could only be released again, and released messages
    are due at once: a relay that kept claiming spun on them, sending nothing, for as
    long as messages kept coming (the bench saw one system wait a minute)."""
    import threading

    from django.db import connection

    channel_system("market")
    for sku in "ABCDE":
        stock(3, sku=sku)
    finished = threading.Event()

    def relay():
        try:
            outbox_relay(time_budget=0.001, batch_size=1)
        finally:
            connection.close()
            finished.set()

    threading.Thread(target=relay, daemon=True).start()
    assert finished.wait(timeout=10), "the relay kept claiming after its time budget"
    assert not OutboxMessage.objects.exclude(status__in=[Status.PENDING, Status.DELIVERED]).exists()
