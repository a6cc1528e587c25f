"""Domain errors. Each carries its HTTP status and a stable problem type; one handler renders them.

Services raise these and stay free of the web framework.
"""

from __future__ import annotations

from typing import Any


class FlowError(Exception):
    """Base for every error a client can cause. Never a 500."""

    status_code = 400
    type = "bad-request"
    title = "Bad request"
    # True when the failure is itself a business decision whose writes must stick (e.g. revoking
    # a token family on refresh-token reuse): the unit of work commits before the error is sent.
    keeps_work = False

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)

    @property
    def headers(self) -> dict[str, str]:
        return {}


class NotFound(FlowError):
    status_code = 404
    type = "not-found"
    title = "Not found"


class Conflict(FlowError):
    status_code = 409
    type = "conflict"
    title = "Conflict"


class Unauthorized(FlowError):
    status_code = 401
    type = "unauthorized"
    title = "Authentication required"

    @property
    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(FlowError):
    status_code = 403
    type = "forbidden"
    title = "Not allowed"


class InvalidInput(FlowError):
    status_code = 422
    type = "invalid-input"
    title = "Invalid input"


class TooManyRequests(FlowError):
    status_code = 429
    type = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.retry_after = max(1, retry_after)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
