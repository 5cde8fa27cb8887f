"""Issuing a partner's API client from the codes an operator types."""

from collections.abc import Iterable

from integrations.services import IssuedToken, api_client_create, external_system_ensure
from inventory.selectors import locations_by_code
from retailops.errors import InvalidInput
from retailops.transactions import in_retrying_transaction


@in_retrying_transaction
def partner_client_issue(*, system_code: str, kind: str, scopes: Iterable[str] | None = None,
                         location_codes: Iterable[str] | None = None) -> IssuedToken:
    """A new token for the system (created if needed). No scopes given: those usual for
    the system's kind; no locations given: all. Unknown (or inactive) locations are
    refused before anything is written."""
    codes = sorted(set(location_codes or []))
    locations = locations_by_code(codes)
    unknown = [code for code in codes if code not in locations]
    if unknown:
        raise InvalidInput(f"Unknown locations: {', '.join(unknown)}.", code="unknown_location", field="locations")
    system = external_system_ensure(code=system_code, kind=kind)
    return api_client_create(system=system, scopes=scopes, locations=[locations[code] for code in codes])
