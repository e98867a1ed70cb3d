"""Domain errors. Services raise these; the web layer maps them to HTTP in one place."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a user can cause. ``message`` says what was wrong and what to do."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    def details(self) -> dict[str, object]:
        """Further JSON fields for the error body, beside code, message and field (for example
        the reasons a check refused a reply). Values must be JSON-serialisable."""
        return {}


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class PermissionDenied(DomainError):
    status_code = 403
    code = "forbidden"


class NotAuthenticated(DomainError):
    status_code = 401
    code = "not_authenticated"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class ValidationFailed(DomainError):
    status_code = 422
    code = "invalid"
