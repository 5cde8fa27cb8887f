"""Orders' domain errors, each with a stable API code."""

from retailops.errors import DomainError, InvalidInput


class OrderExists(DomainError):
    status = 409
    code = "order_exists"
    title = "An order with this external id already exists on this channel with other content."


class UnknownReservation(InvalidInput):
    code = "unknown_reservation"


class ReservationMismatch(InvalidInput):
    code = "reservation_mismatch"
