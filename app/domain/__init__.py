"""The domain layer: operations on Chorus's records, with no Flask request in them.

Operations take plain values, change the session and leave committing to the caller
(a route, a job, a command), so one request is one transaction.
"""


class DomainError(Exception):
    """A request the domain refuses; `status` is the HTTP status a route should answer."""

    status = 422

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Invalid(DomainError):
    """The input is not acceptable (422)."""

    status = 422


class NotFound(DomainError):
    """No such thing (404)."""

    status = 404


class Conflict(DomainError):
    """It clashes with what exists, or with the thing's state (409)."""

    status = 409
