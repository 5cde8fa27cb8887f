"""Receiving's domain errors, each with a stable API code."""

from retailops.errors import DomainError


class AsnExists(DomainError):
    status = 409
    code = "asn_exists"
    title = "A notice with this external id already exists with other content."
