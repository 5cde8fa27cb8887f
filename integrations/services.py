"""Writes for external systems and their API clients."""

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import F
from django.utils import timezone

from integrations.models import ApiClient, ExternalSystem, OutboxMessage
from integrations.outbox import wake_relay_after_commit
from integrations.tokens import hash_token, new_token
from retailops.access import Scope
from retailops.errors import InvalidInput
from retailops.transactions import in_retrying_transaction

User = get_user_model()
logger = logging.getLogger(__name__)

SERVICE_USER_PREFIX = "system:"


@dataclass(frozen=True)
class IssuedToken:
    client: ApiClient
    token: str  # shown once, never stored


def _validated_scopes(scopes: Iterable[str]) -> list[str]:
    scopes = sorted(set(scopes))
    unknown = [scope for scope in scopes if scope not in Scope.values]
    if unknown:
        raise InvalidInput(f"Unknown scopes: {', '.join(unknown)}.", code="invalid_scope", field="scopes")
    return scopes


# What each kind of system usually does through the API (API.md v1.1): a token issued
# without scopes gets these, not every scope. master_data goes only to a token of every
# location (SKUs and channels hold for the whole chain).
USUAL_SCOPES: dict[str, tuple[str, ...]] = {
    ExternalSystem.Kind.POS: (Scope.EVENTS, Scope.AVAILABILITY, Scope.ORDERS, Scope.RETURNS),
    ExternalSystem.Kind.WEB: (Scope.AVAILABILITY, Scope.ORDERS, Scope.RETURNS),
    ExternalSystem.Kind.MARKETPLACE: (Scope.AVAILABILITY, Scope.ORDERS, Scope.RETURNS),
    # The WMS announces and receives supplier deliveries at the dock; the ERP announces them
    # from purchase orders; a supplier sends its own advance shipping notices.
    ExternalSystem.Kind.WMS: (Scope.EVENTS, Scope.AVAILABILITY, Scope.TRANSFERS, Scope.SNAPSHOTS, Scope.RECEIPTS),
    ExternalSystem.Kind.ERP: (Scope.EVENTS, Scope.TRANSFERS, Scope.SNAPSHOTS, Scope.RECEIPTS, Scope.MASTER_DATA),
    ExternalSystem.Kind.SUPPLIER: (Scope.AVAILABILITY, Scope.RECEIPTS),
}


def usual_scopes(*, kind: str, all_locations: bool) -> list[str]:
    scopes = USUAL_SCOPES[kind]
    return [scope for scope in scopes if all_locations or scope != Scope.MASTER_DATA]


@in_retrying_transaction
def external_system_ensure(*, code: str, kind: str, name: str = "") -> ExternalSystem:
    system, _created = ExternalSystem.objects.get_or_create(code=code, defaults={"kind": kind, "name": name or code})
    return system


@in_retrying_transaction
def api_clients_revoke(*, system: ExternalSystem, name: str, reason: str) -> int:
    """Revoke the system's live tokens of this name (a token replaced by a new one);
    returns how many. Each keeps its history, with the reason."""
    clients = list(ApiClient.objects.filter(external_system=system, name=name, revoked_at__isnull=True))
    for client in clients:
        client.revoked_at = timezone.now()
        client._change_reason = reason[:100]
        client.save(update_fields=["revoked_at"])
    return len(clients)


def api_client_create(*, system: ExternalSystem, scopes: Iterable[str] | None = None, locations=None,
                      name: str = "") -> IssuedToken:
    """A new partner token for `system`. No locations given (a list of
    `inventory.Location`): all. No scopes given: those usual for the system's kind."""
    locations = list(locations or [])
    if scopes is None:
        scopes = usual_scopes(kind=system.kind, all_locations=not locations)
    scopes = _validated_scopes(scopes)
    service_user, _created = User.objects.get_or_create(
        username=f"{SERVICE_USER_PREFIX}{system.code}", defaults={"is_active": True}
    )
    if _created:
        service_user.set_unusable_password()
        service_user.save(update_fields=["password"])
    token = new_token()
    client = ApiClient.objects.create(
        name=name or system.code,
        kind=ApiClient.Kind.PARTNER,
        external_system=system,
        user=service_user,
        token_hash=hash_token(token),
        token_prefix=token[:10],
        scopes=scopes,
        all_locations=not locations,
    )
    if locations:
        client.locations.set(locations)
    return IssuedToken(client=client, token=token)


@in_retrying_transaction
def staff_token_issue(*, user) -> IssuedToken:
    """A personal API token for a staff user; it acts with the user's role and expires."""
    token = new_token()
    client = ApiClient.objects.create(
        name=f"personal token of {user.get_username()}",
        kind=ApiClient.Kind.STAFF,
        user=user,
        token_hash=hash_token(token),
        token_prefix=token[:10],
        scopes=[],
        all_locations=False,
        expires_at=timezone.now() + timedelta(days=settings.STAFF_TOKEN_TTL_DAYS),
    )
    return IssuedToken(client=client, token=token)


# --- Outbound: replay, pause and resume --------------------------------------------------

# simple-history keeps the reason in a 100-character column.
_REASON_LENGTH = 100


def _reason(action: str, note: str) -> str:
    note = " ".join(note.split())
    return (f"{action}: {note}" if note else action)[:_REASON_LENGTH]


@in_retrying_transaction
def outbox_replay(*, message_ids: Iterable[int] | None = None, system: ExternalSystem | None = None,
                  actor=None, note: str = "") -> int:
    """Send dead letters again: the given ones, or every dead letter of `system`.

    They keep their idempotency key, so a message the partner did apply after all is not
    applied twice. Attempts start again from zero. Returns how many were replayed. Who
    replayed what, and why, goes into each affected system's history.
    """
    if message_ids is None and system is None:
        raise InvalidInput("Name the messages or the system to replay.", code="replay_scope")
    dead = OutboxMessage.objects.select_for_update().filter(status=OutboxMessage.Status.DEAD)
    if message_ids is not None:
        dead = dead.filter(pk__in=list(message_ids))
    if system is not None:
        dead = dead.filter(system=system)
    rows = list(dead.order_by("pk").values_list("pk", "system_id"))
    ids = [pk for pk, _system_id in rows]
    replayed = OutboxMessage.objects.filter(pk__in=ids).update(
        status=OutboxMessage.Status.PENDING, attempts=0, next_attempt_at=timezone.now(), claim_token=None,
        dead_at=None, replays=F("replays") + 1,
    )
    if replayed:
        logger.info("%s replayed %d dead letter(s): %s", actor or "system", replayed, ids[:20])
        replayed_per_system = Counter(system_id for _pk, system_id in rows)
        affected = list(ExternalSystem.objects.filter(pk__in=replayed_per_system).order_by("pk"))
        for affected_system in affected:
            count = replayed_per_system[affected_system.pk]
            affected_system._change_reason = _reason(
                f"replayed {count} dead letter{'s' if count != 1 else ''}", note)
        ExternalSystem.history.bulk_history_create(affected, update=True, default_user=actor)
        wake_relay_after_commit(system_ids=replayed_per_system)
    return replayed


def _require_note(system: ExternalSystem, verb: str, actor, note: str) -> None:
    if actor is not None and not note.strip():
        raise InvalidInput(f"Say why you {verb} {system.code}.", code="note_required", field="note")


@in_retrying_transaction
def external_system_pause(*, system: ExternalSystem, actor=None, note: str = "") -> ExternalSystem:
    """Stop sending to `system`; its messages wait in the outbox. A person must say why."""
    _require_note(system, "pause", actor, note)
    system = ExternalSystem.objects.select_for_update().get(pk=system.pk)
    if not system.paused:
        system.paused = True
        system._history_user = actor
        system._change_reason = _reason("paused", note)
        system.save(update_fields=["paused", "updated_at"])
    return system


@in_retrying_transaction
def external_system_resume(*, system: ExternalSystem, actor=None, note: str = "") -> ExternalSystem:
    """Send to `system` again, from the oldest waiting message; also closes its circuit,
    since a person has decided that the partner is back. A person must say why."""
    _require_note(system, "resume", actor, note)
    system = ExternalSystem.objects.select_for_update().get(pk=system.pk)
    circuit_was = system.circuit_state
    if (system.paused or circuit_was != ExternalSystem.Circuit.CLOSED or system.consecutive_failures
            or system.throttled_until):
        system.paused = False
        system.circuit_state = ExternalSystem.Circuit.CLOSED
        system.consecutive_failures = 0
        system.circuit_opened_at = system.circuit_retry_at = system.throttled_until = None
        system._history_user = actor
        closed = "" if circuit_was == ExternalSystem.Circuit.CLOSED else f" (circuit was {circuit_was})"
        system._change_reason = _reason(f"resumed{closed}", note)
        system.save(update_fields=["paused", "circuit_state", "consecutive_failures", "circuit_opened_at",
                                   "circuit_retry_at", "throttled_until", "updated_at"])
    return system
