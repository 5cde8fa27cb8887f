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
