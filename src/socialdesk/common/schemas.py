"""What every domain's REST API shares: timestamps, the page envelope, paging parameters and
the error body (so the OpenAPI document describes errors the way app.py writes them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from fastapi.security import HTTPBearer
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from socialdesk.common.pagination import MAX_LIMIT, MAX_ROW_ID

T = TypeVar("T")


def _iso_utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


# Always written with an explicit offset ("2026-01-05T09:00:00+00:00"), never naive.
UTCTimestamp = Annotated[
    datetime,
    PlainSerializer(_iso_utc, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "example": "2026-01-05T09:00:00+00:00"}
    ),
]

EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(9999, 1, 1, tzinfo=UTC)


def _within_range(value: datetime) -> datetime:
    try:
        in_range = EARLIEST_TIME <= value.astimezone(UTC) < LATEST_TIME
    except OverflowError:  # year 1 or 9999 moved across the offset to UTC
        in_range = False
    if not in_range:
        raise ValueError("give a time from 1970 to 9998, with a UTC offset")
    return value


# A time sent to the API: with an offset (any), and far enough from datetime's limits that the
# desk can move it to UTC or a local zone and add to it (a reminder before a due time, a
# business day) without an OverflowError.
AwareTime = Annotated[AwareDatetime, AfterValidator(_within_range)]


class ReadModel(BaseModel):
    """Base of response schemas: built from the ORM rows, never accepting extra input."""

    model_config = ConfigDict(from_attributes=True)


class PageOut(BaseModel, Generic[T]):
    """One page of a list. Pass ``next_cursor`` back as ``cursor`` for the next page; null
    means this was the last one."""

    items: list[T]
    next_cursor: str | None


Cursor = Annotated[
    str | None,
    Query(description="The next_cursor of the previous page; leave out for the first page."),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, 1 to {MAX_LIMIT}.")]


def not_true_or_false(value: object) -> object:
    """Refuse a JSON true or false where a number is expected."""
    if isinstance(value, bool):
        raise ValueError("give a number, not true or false")
    return value


# A whole number sent to the API in a body. pydantic alone would read true and false as 1
# and 0, so a client's mistake ("minutes": false) would silently mean zero minutes.
Number = Annotated[int, BeforeValidator(not_true_or_false)]

# An id sent to the API (in the path, the query or a body). Rows are numbered from 1 in 64-bit
# integers on both databases; a larger number names no row, and SQLite cannot even compare
# with one (OverflowError), so it is refused up front with a 422 naming the parameter.
RowId = Annotated[Number, Field(ge=1, le=MAX_ROW_ID)]


class CheckReason(BaseModel):
    """Why a check refused or questions a reply, naming the rule (clause) that applies."""

    rule: str
    explain: str
    decision: str
    start: int | None = None
    end: int | None = None


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None
    reasons: list[CheckReason] | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for the errors a route can answer with."""
    described = {
        401: "Not authenticated: no or an unknown API token",
        403: "Your role does not allow this",
        404: "No such object in your organization",
        409: "Conflicts with the current state (or a reply needs confirming)",
        422: "The request is invalid; `field` names what was wrong",
    }
    return {c: {"model": ErrorResponse, "description": described[c]} for c in codes}


# Declares the API token scheme in the OpenAPI document (the "Authorize" button of /docs).
# Authentication itself is common.deps.current_actor, which also accepts the login cookie.
api_token_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="APIToken",
    description="An API token from POST /api/tokens, sent as `Authorization: Bearer sdk_...`.",
)
