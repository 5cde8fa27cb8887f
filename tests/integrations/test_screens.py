"""The integration health screens: figures computed from the outbox, a fixed number of
queries however many systems there are, and replay, pause and resume done through the
services with who and why recorded."""

from datetime import timedelta

import factory
import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from backoffice.staff import staff_user_upsert
from integrations.models import ExternalSystem, OutboxMessage, SyncRun
from retailops.roles import Role
from tests.inventory.factories import LocationFactory, SkuFactory
from tests.mfa import force_login_verified

pytestmark = pytest.mark.django_db


class ExternalSystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ExternalSystem

    code = factory.Sequence(lambda n: f"partner-{n}")
    name = factory.LazyAttribute(lambda system: f"Partner {system.code}")
    kind = ExternalSystem.Kind.MARKETPLACE
    adapter = ExternalSystem.Adapter.JSON_HTTP
    base_url = factory.LazyAttribute(lambda system: f"http://127.0.0.1:9/{system.code}")


class OutboxMessageFactory(factory.django.DjangoModelFactory):
    """A pending availability message; traits for the other states. `age` is how long ago it
    was written, `latency` how long delivery took."""

    class Meta:
        model = OutboxMessage

    class Params:
        age = timedelta(minutes=1)
        latency = timedelta(milliseconds=800)
        delivered = factory.Trait(
            status=OutboxMessage.Status.DELIVERED, attempts=1,
            delivered_at=factory.LazyAttribute(lambda message: message.created_at + message.latency),
        )
        dead = factory.Trait(
            status=OutboxMessage.Status.DEAD, attempts=8, last_status_code=500,
            last_error="HTTP 500: partner exploded",
            dead_at=factory.LazyAttribute(lambda message: message.created_at + timedelta(minutes=5)),
        )

    system = factory.SubFactory(ExternalSystemFactory)
    topic = OutboxMessage.Topic.AVAILABILITY
    payload = factory.Sequence(lambda n: {"levels": [[n + 1, 1]]})
    idempotency_key = factory.Sequence(lambda n: f"screen-{n}")
    created_at = factory.LazyAttribute(lambda message: timezone.now() - message.age)
    next_attempt_at = factory.LazyAttribute(lambda message: message.created_at)


class SyncRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncRun

    system = factory.SubFactory(ExternalSystemFactory)
    job = SyncRun.Job.AVAILABILITY_PUSH
    status = SyncRun.Status.PARTIAL
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(minutes=2))
    finished_at = factory.LazyFunction(timezone.now)
    counts = factory.LazyFunction(lambda: {"delivered": 4, "failed": 1})
    errors = factory.LazyFunction(lambda: ["#7 HTTP 503: try later"])
    duration_ms = 1200
    latency_p50_ms = 300
    latency_p95_ms = 900


def browser(role: str, username: str, locations=()) -> Client:
    user = staff_user_upsert(username=username, role=role, password="pw-for-tests-1", location_codes=locations)
    client = Client()
    force_login_verified(client, user)
    client.user = user
    return client


@pytest.fixture
def support():
    return browser(Role.INTEGRATION_SUPPORT, "ivy")


@pytest.fixture
def market():
    return ExternalSystemFactory(code="market", name="Marketplace")


def test_overview_shows_figures_computed_from_the_outbox(support, market):
    OutboxMessageFactory(system=market, age=timedelta(hours=2))
    OutboxMessageFactory(system=market, age=timedelta(minutes=30), attempts=2, last_error="HTTP 503")
    OutboxMessageFactory(system=market)
    OutboxMessageFactory(system=market, delivered=True, latency=timedelta(seconds=1))
    OutboxMessageFactory(system=market, delivered=True, latency=timedelta(seconds=3))
    OutboxMessageFactory(system=market, delivered=True, age=timedelta(days=3), latency=timedelta(hours=1))
    OutboxMessageFactory(system=market, dead=True)
    OutboxMessageFactory(system=market, dead=True, age=timedelta(days=3))
    OutboxMessageFactory(system=ExternalSystemFactory(code="quiet"), delivered=True)

    response = support.get("/integrations/")

    assert response.status_code == 200
    row = next(row for row in response.context["rows"] if row.system == market)
    assert (row.backlog, row.retrying, row.dead_letters) == (3, 1, 2)
    # Outcomes in the last 24 h: two delivered, one dead-lettered; older ones do not count.
    assert (row.delivered_in_window, row.failed_in_window) == (2, 1)
    assert round(row.success_rate, 1) == 66.7
    assert (row.latency_p50_ms, row.latency_p95_ms) == (1000, 3000)
    assert timedelta(hours=2) <= timezone.now() - row.oldest_pending_at < timedelta(hours=2, minutes=1)
    page = response.content.decode()
    assert "66.7%" in page and "2 of 3" in page and "1.0 s" in page and "3.0 s" in page
    assert ">2.0 h<" in page and "1 retrying" in page
    assert 'href="/integrations/market/"' in page


def test_overview_costs_the_same_queries_with_more_systems(support):
    def queries_with(systems: int) -> int:
        for _ in range(systems):
            system = ExternalSystemFactory()
            OutboxMessageFactory(system=system)
            OutboxMessageFactory(system=system, delivered=True)
            OutboxMessageFactory(system=system, dead=True)
        with CaptureQueriesContext(connection) as captured:
            assert support.get("/integrations/").status_code == 200
        return len(captured)

    few = queries_with(2)
    assert len(ExternalSystem.objects.all()) == 2
    many = queries_with(6)
    assert many == few
    assert few <= 9  # session, user, permissions, then the systems and three health queries


def test_system_page_shows_runs_and_dead_letters_with_payload_and_error(support, market):
    red, location = SkuFactory(code="RED-1"), LocationFactory(code="DC1", dc=True)
    blue = SkuFactory(code="BLUE-2")
    dead = OutboxMessageFactory(system=market, dead=True,
                                payload={"levels": [[red.pk, location.pk], [blue.pk, location.pk]]})
    SyncRunFactory(system=market)

    response = support.get("/integrations/market/")

    page = response.content.decode()
    assert response.status_code == 200
    assert f"#{dead.pk}" in page
    assert "HTTP 500: partner exploded" in page
    assert "RED-1 @ DC1, BLUE-2 @ DC1" in page  # the levels it names, by code
    assert "&quot;levels&quot;: [" in page  # and the payload itself, pretty JSON, escaped
    assert "<details>" in page
    assert "Document posting" not in page and "Availability push (on change)" in page
    assert "#7 HTTP 503: try later" in page
    assert 'name="csrfmiddlewaretoken"' in page


def test_system_page_queries_stay_fixed_with_many_dead_letters_and_runs(support, market):
    OutboxMessageFactory(system=market, dead=True)
    SyncRunFactory(system=market)
    with CaptureQueriesContext(connection) as few:
        support.get("/integrations/market/")
    OutboxMessageFactory.create_batch(30, system=market, dead=True)
    SyncRunFactory.create_batch(25, system=market)
    with CaptureQueriesContext(connection) as many:
        support.get("/integrations/market/")
    assert len(many) == len(few)


def test_unknown_system_is_not_found(support):
    assert support.get("/integrations/nope/").status_code == 404


def test_replaying_one_dead_letter_puts_it_back_in_the_outbox_and_records_who(support, market):
    chosen, other = OutboxMessageFactory.create_batch(2, system=market, dead=True)

    response = support.post("/integrations/market/replay/", {"message": [chosen.pk]}, follow=True)

    assert response.redirect_chain[-1][0] == "/integrations/market/"
    assert "1 dead letter queued for delivery again." in response.content.decode()
    chosen.refresh_from_db()
    other.refresh_from_db()
    assert (chosen.status, chosen.attempts, chosen.replays, chosen.dead_at) == ("pending", 0, 1, None)
    assert other.status == "dead"
    record = market.history.first()
    assert record.history_user == support.user
    assert record.history_change_reason == "replayed 1 dead letter"


def test_bulk_replay_takes_only_this_systems_dead_letters(support, market):
    first, second, untouched = OutboxMessageFactory.create_batch(3, system=market, dead=True)
    elsewhere = OutboxMessageFactory(dead=True)
    delivered = OutboxMessageFactory(system=market, delivered=True)

    support.post("/integrations/market/replay/", {
        "message": [first.pk, second.pk, elsewhere.pk, delivered.pk], "note": "partner fixed their 500s"})

    statuses = dict(OutboxMessage.objects.values_list("pk", "status"))
    assert [statuses[message.pk] for message in (first, second, untouched, elsewhere, delivered)] == [
        "pending", "pending", "dead", "dead", "delivered"]
    record = market.history.first()
    assert (record.history_user, record.history_change_reason) == (
        support.user, "replayed 2 dead letters: partner fixed their 500s")
    assert not elsewhere.system.history.filter(history_change_reason__startswith="replayed").exists()


def test_replay_all_takes_every_dead_letter_of_the_system(support, market):
    OutboxMessageFactory.create_batch(3, system=market, dead=True)
    elsewhere = OutboxMessageFactory(dead=True)

    response = support.post("/integrations/market/replay-all/", {"note": ""}, follow=True)

    assert "3 dead letters queued for delivery again." in response.content.decode()
    assert not OutboxMessage.objects.filter(system=market, status="dead").exists()
    elsewhere.refresh_from_db()
    assert elsewhere.status == "dead"


def test_replay_with_nothing_selected_says_so(support, market):
    response = support.post("/integrations/market/replay/", {}, follow=True)
    assert "Select at least one dead letter" in response.content.decode()


def test_pause_and_resume_record_who_and_why(support, market):
    ExternalSystem.objects.filter(pk=market.pk).update(
        circuit_state=ExternalSystem.Circuit.OPEN, consecutive_failures=5, circuit_opened_at=timezone.now())

    response = support.post("/integrations/market/pause/", {"note": "partner maintenance window"}, follow=True)

    assert "market is paused" in response.content.decode()
    market.refresh_from_db()
    assert market.paused
    paused = market.history.first()
    assert (paused.history_user, paused.history_change_reason) == (support.user, "paused: partner maintenance window")

    support.post("/integrations/market/resume/", {"note": "maintenance over"})

    market.refresh_from_db()
    assert (market.paused, market.circuit_state, market.consecutive_failures) == (False, "closed", 0)
    resumed = market.history.first()
    assert (resumed.history_user, resumed.history_change_reason) == (
        support.user, "resumed (circuit was open): maintenance over")
    page = support.get("/integrations/market/").content.decode()
    assert "paused: partner maintenance window" in page and "resumed (circuit was open)" in page


def test_pausing_without_a_reason_is_refused(support, market):
    response = support.post("/integrations/market/pause/", {"note": "  "}, follow=True)
    assert "Say why you pause market." in response.content.decode()
    market.refresh_from_db()
    assert not market.paused
    assert market.history.count() == 1  # the creation only


def test_integration_support_lands_on_the_health_screen(support):
    response = support.get("/", follow=True)
    assert response.redirect_chain[-1][0] == "/integrations/"
    assert b'href="/integrations/" aria-current="page">Integrations<' in response.content


def test_store_operations_get_403_on_every_page_and_action(market):
    dead = OutboxMessageFactory(system=market, dead=True)
    store = browser(Role.STORE_OPS, "sam")
    assert store.get("/integrations/").status_code == 403
    assert store.get("/integrations/market/").status_code == 403
    for action in ("replay", "replay-all", "pause", "resume"):
        assert store.post(f"/integrations/market/{action}/", {"message": [dead.pk], "note": "x"}).status_code == 403
    dead.refresh_from_db()
    market.refresh_from_db()
    assert (dead.status, market.paused) == ("dead", False)


def test_finance_may_not_see_integrations_either(market):
    assert browser(Role.FINANCE, "fin").get("/integrations/").status_code == 403


def test_a_replay_without_csrf_token_is_refused(market):
    dead = OutboxMessageFactory(system=market, dead=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff_user_upsert(username="ivy-csrf", role=Role.INTEGRATION_SUPPORT,
                                         password="pw-for-tests-1"))
    assert client.post("/integrations/market/replay/", {"message": [dead.pk]}).status_code == 403
    assert client.post("/integrations/market/pause/", {"note": "x"}).status_code == 403
    dead.refresh_from_db()
    market.refresh_from_db()
    assert (dead.status, market.paused) == ("dead", False)
