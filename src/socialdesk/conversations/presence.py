"""Who else is on a conversation right now: a colleague has it open, or is writing a reply.

A shared desk answers each customer once. Two agents who open the same mention at the same time
otherwise both answer it, and the customer gets two replies (or two different answers). So each
open conversation page says, every so often, that its member is there, and while they type, that
they are writing a reply; everyone else with the conversation open sees it live.

An announcement is an ordinary live event (``conversation.presence``), written to the event log
like every other, so it reaches pages served by any process on any machine (events/realtime.py),
and a page opened later reads the recent ones. It holds for ``HOLD`` and is renewed while the
member stays; it is never a lock: anyone may still reply.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.errors import PermissionDenied, ValidationFailed
from socialdesk.conversations.models import Conversation
from socialdesk.events import bus, realtime
from socialdesk.events.models import EventRecord
from socialdesk.events.types import DomainEvent

# How long one announcement holds. Pages renew it well within this (desk.js: every 20 s while
# the page is visible, every 8 s while typing), so a member who closes the tab or loses the
# connection drops off within it.
HOLD = timedelta(seconds=45)
KIND = "conversation.presence"


class Activity(enum.StrEnum):
    VIEWING = "viewing"
    REPLYING = "replying"
    # The member left the page: their earlier announcement ends now.
    LEFT = "left"


def activity(value: str) -> Activity:
    """The activity named by ``value``, or a clear refusal."""
    try:
        return Activity(value)
    except ValueError:
        names = ", ".join(a.value for a in Activity)
        raise ValidationFailed(f"activity must be one of {names}", field="activity") from None


@dataclass(frozen=True, kw_only=True)
class PresenceAnnounced(DomainEvent):
    kind: ClassVar[str] = KIND
    conversation_id: int
    member_id: int
    member_name: str
    activity: str
    until: str  # ISO 8601, UTC


@dataclass(frozen=True)
class Presence:
    member_id: int
    name: str
    activity: Activity
    until: datetime


def announce(
    session: Session, *, conversation: Conversation, member: Member, activity: Activity
) -> None:
    """Tell everyone with ``conversation`` open that ``member`` is there (or left). Writing a
    reply is announced only by those who may answer as the conversation's brand account."""
    if activity == Activity.REPLYING and not channels_service.may_act_for(
        session,
        account=session.get_one(BrandAccount, conversation.brand_account_id),
        member_id=member.id,
    ):
        raise PermissionDenied(
            "only some colleagues may answer as this brand account, and you are not one of them"
        )
    now = clock.now()
    until = now if activity == Activity.LEFT else now + HOLD
    bus.emit(
        session,
        PresenceAnnounced(
            organization_id=conversation.organization_id,
            conversation_id=conversation.id,
            member_id=member.id,
            member_name=member.name,
            activity=activity.value,
            until=until.isoformat(),
        ),
    )


def others(session: Session, *, conversation: Conversation, me: Member) -> list[Presence]:
    """The colleagues on ``conversation`` now (not ``me``), each by their latest announcement,
    those writing a reply first."""
    found = on_conversations(
        session,
        organization_id=conversation.organization_id,
        conversation_ids=[conversation.id],
        me_id=me.id,
    )
    return found.get(conversation.id, [])


def on_conversations(
    session: Session, *, organization_id: int, conversation_ids: Iterable[int], me_id: int
) -> dict[int, list[Presence]]:
    """For each of ``conversation_ids`` that anyone but ``me_id`` is on now, who (as
    ``others``): one read of the last ``HOLD`` of announcements, for an inbox page at once."""
    wanted = set(conversation_ids)
    if not wanted:
        return {}
    now = clock.now()
    rows = session.scalars(
        select(EventRecord)
        .where(
            EventRecord.organization_id == organization_id,
            EventRecord.kind == KIND,
            EventRecord.created_at >= now - HOLD,
        )
        .order_by(EventRecord.id)
    )
    latest: dict[tuple[int, int], Presence] = {}
    for row in rows:
        payload = row.payload
        conversation_id = payload.get("conversation_id")
        if conversation_id not in wanted:
            continue
        member_id = int(payload["member_id"])
        latest[(conversation_id, member_id)] = Presence(
            member_id=member_id,
            name=str(payload["member_name"]),
            activity=Activity(payload["activity"]),
            until=datetime.fromisoformat(payload["until"]),
        )
    found: dict[int, list[Presence]] = {}
    for (conversation_id, member_id), p in latest.items():
        if member_id != me_id and p.activity != Activity.LEFT and p.until > now:
            found.setdefault(conversation_id, []).append(p)
    for here in found.values():
        here.sort(key=lambda p: (p.activity != Activity.REPLYING, p.name))
    return found


# Announcements are many and matter for a minute: the event log keeps them an hour.
realtime.retain(KIND, timedelta(hours=1))
