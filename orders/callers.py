"""Who is acting on orders and holds: the user, the partner system they act for, and
where they may act. Built once per request; services and selectors take it."""

from dataclasses import dataclass

from retailops.access import LocationScope, location_scope, partner_client


@dataclass(frozen=True)
class Caller:
    actor: object  # the User recorded as author (a partner's service user, or the staff member)
    external_system_id: int | None  # the partner system; None for staff
    scope: LocationScope

    @property
    def is_partner(self) -> bool:
        return self.external_system_id is not None

    @classmethod
    def from_request(cls, request) -> "Caller":
        client = partner_client(request)
        return cls(actor=request.user, external_system_id=client.external_system_id if client else None,
                   scope=location_scope(request))
