"""API schemas of the channels domain: brand accounts and raw events pushed by integrations.

Credentials are accepted on the way in only. No read schema has a field for them: reads say
``has_credentials`` and nothing more.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from socialdesk.common.schemas import PageOut, ReadModel, UTCTimestamp
from socialdesk.connectors.base import ChannelKind


def _credentials(value: object) -> object:
    """Checked by hand so that a malformed value is refused with a message that quotes none of
    it: pydantic's own errors would name the offending key and could echo a secret."""
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ValueError("credentials must be an object whose values are all text")
    return value


class BrandAccountCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ChannelKind
    handle: str = Field(min_length=1, max_length=320, description="The account's name there")
    display_name: str | None = Field(default=None, max_length=200)
    settings: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, SecretStr] | None = Field(
        default=None,
        description="Write-only: stored encrypted, never returned by any route.",
        json_schema_extra={"writeOnly": True},
    )

    _check_credentials = field_validator("credentials", mode="before")(_credentials)


class BrandAccountUpdate(BaseModel):
    """Leave a field out to keep it. ``credentials`` replaces the stored ones; null removes
    them."""

    model_config = ConfigDict(extra="forbid")

    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = None
    credentials: dict[str, SecretStr] | None = Field(
        default=None,
        description="Write-only: stored encrypted, never returned by any route.",
        json_schema_extra={"writeOnly": True},
    )

    _check_credentials = field_validator("credentials", mode="before")(_credentials)


class BrandAccountSummary(ReadModel):
    id: int
    kind: str
    handle: str
    display_name: str


class BrandAccountRead(ReadModel):
    id: int
    kind: str
    handle: str
    display_name: str
    settings: dict[str, Any]
    has_credentials: bool
    public_key: str = Field(description="Public id for customer-facing pages (the web chat)")
    health: str = Field(description="unknown, ok or unhealthy")
    health_reason: str | None
    health_checked_at: UTCTimestamp | None
    created_at: UTCTimestamp


class ConnectionCheckRead(ReadModel):
    """What signing in to the account's network with its stored credentials found."""

    ok: bool = Field(description="The network knows the account by its stored credentials")
    detail: str = Field(description="Who the network says the account is, or why the check failed")
    checked_at: UTCTimestamp
    health_changed: bool = Field(
        description="Whether the account's health was recorded: not when the network could "
        "not be reached (its health stays as it was) or the account is not set up"
    )
    account: BrandAccountRead


class BrandAccountPage(PageOut[BrandAccountRead]):
    pass


class EventPush(BaseModel):
    """A raw event for a brand account, as its channel would deliver it."""

    model_config = ConfigDict(extra="forbid")

    native_id: str = Field(
        min_length=1,
        max_length=500,
        description="Your unique id for this event: the same id again is a replay, not new",
    )
    kind: str = Field(
        min_length=1, max_length=60, description="An event the account's connector declares"
    )
    payload: dict[str, Any]


class EventAccepted(BaseModel):
    event_id: int
    duplicate: bool = Field(description="True when this native_id was stored before")
    status: str = Field(description="pending, processed, ignored or failed")
    received_at: UTCTimestamp
