"""API schemas of the notifications domain."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from socialdesk.common.schemas import PageOut, ReadModel, UTCTimestamp


class NotificationRead(ReadModel):
    id: int
    kind: str = Field(description="escalation.requested, sla.breach, webhook.failed...")
    title: str
    body: str
    conversation_id: int | None
    link: str | None = Field(description="Where in the desk it points (a path)")
    data: dict[str, Any]
    created_at: UTCTimestamp
    read_at: UTCTimestamp | None


class NotificationPage(PageOut[NotificationRead]):
    pass


class UnreadCount(BaseModel):
    unread: int


class MarkedRead(BaseModel):
    marked: int = Field(description="How many notifications were unread and are now read")


class TopicPreference(BaseModel):
    key: str = Field(description="promises, requests, sla, followups, automation or health")
    label: str
    description: str = Field(description="Which notifications the topic holds")
    email: bool = Field(description="Also sent by email (every notification is in the desk)")


class NotificationPreferences(BaseModel):
    topics: list[TopicPreference]


class NotificationPreferencesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: dict[str, bool] = Field(
        description='Topics to change, e.g. {"sla": false}; the others stay as they are'
    )
