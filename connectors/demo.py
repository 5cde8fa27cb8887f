"""Demo external systems, all played by the bundled sandbox partner on loopback.

`seed_demo` creates them (idempotent) and `make run` starts the sandbox at
INTEGRATIONS_SANDBOX_PORT, so a newcomer sees availability pushes, order updates, ERP
postings and snapshot pulls actually happen.
"""

from django.conf import settings
from django.db import transaction

from integrations.models import ExternalSystem
from integrations.services import IssuedToken, api_client_create, api_clients_revoke
from inventory.selectors import channels_list

DEMO_SYSTEMS = [
    {"code": "demo-marketplace", "name": "Marketplace (sandbox)", "kind": ExternalSystem.Kind.MARKETPLACE,
     "path": "marketplace", "channel": "marketplace", "rate_limit_per_second": 50},
    {"code": "demo-web", "name": "Web shop platform (sandbox)", "kind": ExternalSystem.Kind.WEB,
     "path": "web", "channel": "web", "rate_limit_per_second": 0},
    {"code": "demo-wms", "name": "Warehouse management (sandbox)", "kind": ExternalSystem.Kind.WMS,
     "path": "wms", "channel": None, "rate_limit_per_second": 0},
    {"code": "demo-erp", "name": "ERP (sandbox)", "kind": ExternalSystem.Kind.ERP,
     "path": "erp", "channel": None, "rate_limit_per_second": 0},
]


def sandbox_url() -> str:
    return f"http://127.0.0.1:{settings.INTEGRATIONS_SANDBOX_PORT}"


@transaction.atomic
def seed_demo_systems() -> list[ExternalSystem]:
    """Create or repoint the demo systems at the sandbox; other fields are left as an
    operator may have changed them (paused, say)."""
    channels = {channel.code: channel for channel in channels_list()}
    systems = []
    for spec in DEMO_SYSTEMS:
        base_url = f"{sandbox_url()}/{spec['path']}"
        system, created = ExternalSystem.objects.get_or_create(
            code=spec["code"],
            defaults={"name": spec["name"], "kind": spec["kind"], "adapter": ExternalSystem.Adapter.JSON_HTTP,
                      "base_url": base_url, "channel": channels.get(spec["channel"] or ""),
                      "rate_limit_per_second": spec["rate_limit_per_second"], "timeout_seconds": 5.0},
        )
        if not created and system.base_url != base_url:
            system.base_url = base_url
            system.save(update_fields=["base_url", "updated_at"])
        systems.append(system)
    return systems


HISTORY_DAYS = 90
# One availability push per system every this many minutes of demo history.
HISTORY_RUN_MINUTES = 60


def seed_sync_history(*, systems: list[ExternalSystem], seed: int, now=None) -> int:
    """90 days of hourly sync runs per demo system, with latencies drawn from the seed,
    so the dashboard's latency figures mean something. A second run adds nothing: the
    history is written once, before the first real run of each system."""
    import random
    from datetime import timedelta

    from django.utils import timezone

    from integrations.models import SyncRun

    now = (now or timezone.now()).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(days=HISTORY_DAYS)
    seeded = set(SyncRun.objects.filter(system__in=systems, started_at__lt=start + timedelta(hours=1))
                 .values_list("system_id", flat=True))
    runs = []
    for system in systems:
        if system.pk in seeded:
            continue
        rng = random.Random(f"{seed}:sync:{system.code}")
        typical = rng.randint(150, 900)
        for step in range(HISTORY_DAYS * 24 * 60 // HISTORY_RUN_MINUTES):
            started = start + timedelta(minutes=step * HISTORY_RUN_MINUTES)
            p50 = int(typical * rng.uniform(0.6, 1.6))
            failed = rng.random() < 0.02
            runs.append(SyncRun(
                system=system, job=SyncRun.Job.AVAILABILITY_PUSH,
                status=SyncRun.Status.PARTIAL if failed else SyncRun.Status.SUCCEEDED, started_at=started,
                finished_at=started + timedelta(milliseconds=p50 * 3), duration_ms=p50 * 3,
                counts={"delivered": rng.randint(5, 80), "failed": 1 if failed else 0},
                latency_p50_ms=p50, latency_p95_ms=int(p50 * rng.uniform(1.8, 4.0)),
            ))
    SyncRun.objects.bulk_create(runs, batch_size=2000)
    return len(runs)


WEB_RETURNS_CLIENT = "demo-web returns (sandbox)"


@transaction.atomic
def sandbox_web_returns_token() -> IssuedToken | None:
    """A token of the demo web shop with the `returns` scope alone, for the sandbox to ask
    for return authorisations as the shop: `make run` issues one at each start, hands it
    to the sandbox process (never printed) and revokes the one of the start before. None
    without the demo web system (`seed_demo` makes it)."""
    system = ExternalSystem.objects.filter(code="demo-web").first()
    if system is None:
        return None
    api_clients_revoke(system=system, name=WEB_RETURNS_CLIENT, reason="replaced at the sandbox's start")
    return api_client_create(system=system, scopes=["returns"], name=WEB_RETURNS_CLIENT)
