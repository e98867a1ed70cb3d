"""REST API of the notifications domain (mounted under /api): a member's own notifications.

Nobody reads another member's notifications: every lookup is by the caller's member id, so
someone else's id is "not found", in the same organization too.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends

from socialdesk.accounts.models import Member
from socialdesk.common.deps import DB, PageCursor, Reader
from socialdesk.common.schemas import Limit, RowId, api_token_scheme, error_responses
from socialdesk.notifications import preferences
from socialdesk.notifications import service as notifications_service
from socialdesk.notifications.schemas import (
    MarkedRead,
    NotificationPage,
    NotificationPreferences,
    NotificationPreferencesBody,
    NotificationRead,
    TopicPreference,
    UnreadCount,
)

router = APIRouter(
    tags=["notifications"],
    dependencies=[Depends(api_token_scheme)],
    responses=error_responses(401, 422),
)


@router.get("/notifications", summary="My notifications, newest first")
def list_notifications(
    db: DB, actor: Reader, *, unread: bool = False, cursor: PageCursor, limit: Limit = 50
) -> NotificationPage:
    found = notifications_service.page(
        db, member=actor.member, unread_only=unread, cursor=cursor.value, limit=limit
    )
    return NotificationPage(
        items=[NotificationRead.model_validate(n) for n in found.items],
        next_cursor=cursor.next(found.next_cursor),
    )


@router.get("/notifications/unread-count", summary="How many of my notifications are unread")
def unread_count(db: DB, actor: Reader) -> UnreadCount:
    return UnreadCount(unread=notifications_service.unread_count(db, member=actor.member))


def _preferences(member: Member) -> NotificationPreferences:
    email = preferences.email_choices(member)
    return NotificationPreferences(
        topics=[
            TopicPreference(key=t.key, label=t.label, description=t.description, email=email[t.key])
            for t in preferences.TOPICS
        ]
    )


@router.get(
    "/notifications/preferences",
    summary="Which of my notification topics also come by email",
)
def get_preferences(actor: Reader) -> NotificationPreferences:
    return _preferences(actor.member)


@router.put(
    "/notifications/preferences",
    summary="Turn email on or off for some of my notification topics",
)
def set_preferences(
    body: NotificationPreferencesBody, db: DB, actor: Reader
) -> NotificationPreferences:
    preferences.set_email(db, member=actor.member, choices=body.email)
    return _preferences(actor.member)


@router.get(
    "/notifications/{notification_id}",
    summary="One of my notifications",
    responses=error_responses(404),
)
def get_notification(notification_id: RowId, db: DB, actor: Reader) -> NotificationRead:
    return NotificationRead.model_validate(
        notifications_service.get_own(db, member=actor.member, notification_id=notification_id)
    )


@router.post("/notifications/read-all", summary="Mark all my notifications read")
def mark_all_read(db: DB, actor: Reader) -> MarkedRead:
    return MarkedRead(marked=notifications_service.mark_all_read(db, member=actor.member))


@router.post(
    "/notifications/{notification_id}/read",
    summary="Mark one of my notifications read",
    responses=error_responses(404),
)
def mark_read(notification_id: RowId, db: DB, actor: Reader) -> NotificationRead:
    return NotificationRead.model_validate(
        notifications_service.mark_read(db, member=actor.member, notification_id=notification_id)
    )
