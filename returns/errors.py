"""Returns' domain errors, each with a stable API code (API.md "Returns")."""

from retailops.errors import DomainError, InvalidInput


class ExceedsExpected(DomainError):
    """More units arrived than were authorised, or more inspected than wait in inspection."""

    status = 409
    code = "exceeds_expected"
    title = "More units than the return expects."


class ExceedsShipped(DomainError):
    status = 409
    code = "exceeds_shipped"
    title = "More units than were shipped on the order."


class ReturnExists(DomainError):
    status = 409
    code = "return_exists"
    title = "A return with this external_id already exists with other content."


class UnknownOrder(InvalidInput):
    code = "unknown_order"


class NotOnReturn(InvalidInput):
    code = "not_on_return"
