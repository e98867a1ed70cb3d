"""API schemas of the accounts domain: members, teams, who is asking, API tokens."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from socialdesk.common.schemas import PageOut, ReadModel, UTCTimestamp


class MemberSummary(ReadModel):
    id: int
    name: str
    initials: str


class MemberRead(ReadModel):
    id: int
    name: str
    email: str
    initials: str
    role: str = Field(description="owner, admin, approver, agent or viewer")
    is_active: bool
    created_at: UTCTimestamp


class MemberPage(PageOut[MemberRead]):
    pass


class TeamSummary(ReadModel):
    id: int
    name: str


class TeamRead(ReadModel):
    id: int
    name: str
    created_at: UTCTimestamp


class TeamPage(PageOut[TeamRead]):
    pass


class OrganizationRead(ReadModel):
    id: int
    name: str
    slug: str
    timezone: str


class MeRead(BaseModel):
    member: MemberRead
    organization: OrganizationRead
    permissions: list[str] = Field(description="What your role allows, e.g. conversations.reply")
    authenticated_via: Literal["session", "token"]


class ApiTokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=120, description="What the token is for")
    scopes: list[str] = Field(
        default_factory=list,
        description=(
            "Narrow the token below your role: read, reply, manage, approve, admin. "
            "Empty: everything your role allows."
        ),
    )


class ApiTokenRead(ReadModel):
    id: int
    name: str
    prefix: str = Field(description="The token's first characters, to recognise it by")
    scopes: list[str] = Field(description="Empty: everything the member's role allows")
    created_at: UTCTimestamp
    last_used_at: UTCTimestamp | None
    revoked_at: UTCTimestamp | None


class ApiTokenCreated(ApiTokenRead):
    token: str = Field(description="The secret: shown in this response only, store it now")


class ApiTokenPage(PageOut[ApiTokenRead]):
    pass
