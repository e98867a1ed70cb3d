"""Saved replies: written once by those who keep the desk's settings, used by everyone who
answers.

A saved reply is never sent as it is: it is filled in for one conversation (the customer's
name, the agent's, the brand account's) and put in the reply box, where the agent reads and
edits it, and the reply then goes the way every reply goes (code of conduct, channel limits,
approval). Its text is checked when it is saved: placeholders must be known ones. Every
change is in the audit trail, recorded by the settings listener (models: track_settings).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, TeamMembership
from socialdesk.common import clock
from socialdesk.common.errors import Conflict, NotFound, ValidationFailed
from socialdesk.common.pagination import MAX_ROW_ID
from socialdesk.connectors.base import ChannelKind, Visibility
from socialdesk.conversations import placeholders
from socialdesk.conversations.models import Conversation
from socialdesk.policy import checker
from socialdesk.policy import service as policy_service
from socialdesk.saved_replies.models import SavedReply

MAX_TITLE = 120
MAX_TEXT = 5000
MAX_SHORTCUT = 40
# The most a search or the reply box's list shows at once.
LIST_LIMIT = 50
_SHORTCUT = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@dataclass(frozen=True, slots=True)
class Draft:
    """What a saved reply is made of, as a form or the API sends it. ``team_id``: the team
    whose answer it is (None: everyone's)."""

    shortcut: str
    title: str
    text: str
    team_id: int | None = None


def clean(draft: Draft) -> Draft:
    """The draft trimmed and checked; each refusal names its field and what would do."""
    typed = draft.shortcut.strip().lstrip("/")
    shortcut = typed.lower()
    if not shortcut:
        raise ValidationFailed("the shortcut must not be empty", field="shortcut")
    if len(shortcut) > MAX_SHORTCUT:
        raise ValidationFailed(
            f"the shortcut holds at most {MAX_SHORTCUT} characters, not {len(shortcut)}",
            field="shortcut",
        )
    if not _SHORTCUT.fullmatch(shortcut):
        raise ValidationFailed(
            f"the shortcut {typed!r} may hold only letters a-z, digits and single dashes "
            "between them (like refund or tram-4-outage)",
            field="shortcut",
        )
    title = " ".join(draft.title.split())
    if not title:
        raise ValidationFailed("the title must not be empty", field="title")
    if len(title) > MAX_TITLE:
        raise ValidationFailed(
            f"the title holds at most {MAX_TITLE} characters, not {len(title)}", field="title"
        )
    text = draft.text.strip()
    if not text:
        raise ValidationFailed("the text must not be empty", field="text")
    if len(text) > MAX_TEXT:
        raise ValidationFailed(
            f"the text holds at most {MAX_TEXT} characters, not {len(text)}", field="text"
        )
    placeholders.check(text, field="text", what="the text")
    return Draft(shortcut=shortcut, title=title, text=text, team_id=draft.team_id)


def _snapshot(reply: SavedReply) -> dict[str, Any]:
    return {
        "shortcut": reply.shortcut,
        "title": reply.title,
        "text": reply.text,
        "team_id": reply.team_id,
    }


def _team_exists(session: Session, organization_id: int, team_id: int | None) -> None:
    if team_id is not None:
        accounts_service.get_team(
            session, organization_id=organization_id, team_id=team_id, field="team_id"
        )


def _taken(session: Session, organization_id: int, shortcut: str, own_id: int | None) -> None:
    stmt = select(SavedReply.id).where(
        SavedReply.organization_id == organization_id, SavedReply.shortcut == shortcut
    )
    if own_id is not None:
        stmt = stmt.where(SavedReply.id != own_id)
    if session.scalar(stmt) is not None:
        raise Conflict(
            f"another saved reply already has the shortcut {shortcut!r}", field="shortcut"
        )


def get(session: Session, *, organization_id: int, reply_id: int) -> SavedReply:
    reply = session.get(SavedReply, reply_id) if 0 < reply_id <= MAX_ROW_ID else None
    if reply is None or reply.organization_id != organization_id:
        raise NotFound(f"saved reply {reply_id} does not exist")
    return reply


def create(
    session: Session, *, organization_id: int, draft: Draft, actor: Member | None
) -> SavedReply:
    good = clean(draft)
    _team_exists(session, organization_id, good.team_id)
    _taken(session, organization_id, good.shortcut, None)
    now = clock.now()
    reply = SavedReply(
        organization_id=organization_id,
        shortcut=good.shortcut,
        title=good.title,
        text=good.text,
        team_id=good.team_id,
        created_by_id=actor.id if actor else None,
        updated_by_id=actor.id if actor else None,
        created_at=now,
        updated_at=now,
    )
    session.add(reply)
    session.flush()
    return reply


def update(
    session: Session, *, reply: SavedReply, draft: Draft, actor: Member | None
) -> SavedReply:
    good = clean(draft)
    _team_exists(session, reply.organization_id, good.team_id)
    _taken(session, reply.organization_id, good.shortcut, reply.id)
    before = _snapshot(reply)
    reply.shortcut, reply.title, reply.text = good.shortcut, good.title, good.text
    reply.team_id = good.team_id
    if _snapshot(reply) != before:
        reply.updated_at = clock.now()
        reply.updated_by_id = actor.id if actor else None
        session.flush()
    return reply


def delete(session: Session, *, reply: SavedReply) -> None:
    """Gone from the list; the audit trail keeps what it said (models: track_settings)."""
    session.delete(reply)
    session.flush()


def at_hand(*, member: Member, conversation: Conversation | None) -> ColumnElement[bool]:
    """Which saved replies the reply box offers ``member`` (in ``conversation``): everyone's,
    those of the member's teams, and those of the conversation's team, so whoever works a
    conversation that another team owns has that team's answers too."""
    teams = select(TeamMembership.team_id).where(TeamMembership.member_id == member.id)
    offered = or_(SavedReply.team_id.is_(None), SavedReply.team_id.in_(teams))
    if conversation is not None and conversation.team_id is not None:
        offered = or_(offered, SavedReply.team_id == conversation.team_id)
    return offered


def search(
    session: Session,
    *,
    organization_id: int,
    query: str = "",
    limit: int = LIST_LIMIT,
    only: ColumnElement[bool] | None = None,
) -> list[SavedReply]:
    """The organization's saved replies by shortcut; with ``query``, those whose shortcut,
    title or text holds every word of it (a leading ``/`` is the shortcut's mark), shortcuts
    that start with it first; with ``only`` (``at_hand``), those it admits. Only ``limit``
    rows are read."""
    stmt = select(SavedReply).where(SavedReply.organization_id == organization_id)
    if only is not None:
        stmt = stmt.where(only)
    words = query.strip().lstrip("/").lower().split()
    for word in words:
        # autoescape: "%" and "_" typed are letters to find, not patterns.
        stmt = stmt.where(
            or_(
                SavedReply.shortcut.contains(word, autoescape=True),
                func.lower(SavedReply.title).contains(word, autoescape=True),
                func.lower(SavedReply.text).contains(word, autoescape=True),
            )
        )
    if words:
        starts = SavedReply.shortcut.startswith(words[0], autoescape=True)
        stmt = stmt.order_by(case((starts, 0), else_=1))
    return list(session.scalars(stmt.order_by(SavedReply.shortcut).limit(limit)))


def preview(reply: SavedReply) -> str:
    """The text as it reads with sample values, for the settings page."""
    return placeholders.fill(reply.text, dict(placeholders.SAMPLE_VALUES))


def conduct(
    session: Session, *, organization_id: int, replies: list[SavedReply]
) -> dict[int, checker.Decision]:
    """Each saved reply judged by the organization's code of conduct, as it reads with sample
    values: a text that would be held or need approval is found when it is written, not when
    an agent sends it. Rules a brand account adds, and channel limits, apply when the reply is
    sent; they are not judged here (the text is checked as an email, which has no length
    limit). Empty when the organization has no code of conduct."""
    active = policy_service.organization_wide(session, organization_id=organization_id)
    if active is None:
        return {}
    return {
        reply.id: checker.check(
            active.compiled, preview(reply), channel=ChannelKind.EMAIL, visibility=Visibility.PUBLIC
        )
        for reply in replies
    }


def reasons(decision: checker.Decision) -> list[str]:
    """Why, once per rule broken (a word the text holds twice breaks its rule twice)."""
    return list(dict.fromkeys(v.explain for v in decision.violations))


def fill_in(
    session: Session, *, reply: SavedReply, conversation: Conversation, agent: Member
) -> str:
    """The text for this conversation, sent by ``agent``: ready for the reply box."""
    return fill_many(session, replies=[reply], conversation=conversation, agent=agent)[0][1]


def fill_many(
    session: Session, *, replies: list[SavedReply], conversation: Conversation, agent: Member
) -> list[tuple[SavedReply, str]]:
    """Each of ``replies`` with its text for this conversation, sent by ``agent`` (what the
    placeholders stand for is read once)."""
    for reply in replies:
        if reply.organization_id != conversation.organization_id:
            raise NotFound(f"saved reply {reply.id} does not exist")
    if not replies:
        return []
    values = placeholders.values(session, conversation=conversation, author_name=agent.name)
    return [(reply, placeholders.fill(reply.text, values)) for reply in replies]
