"""Telling people about things: a row per person in the desk, an email copy when the desk has
mail configured, and an outgoing webhook (Slack-compatible) for a team.

Plain keyword-only functions that never commit. Email and webhook deliveries are jobs enqueued
after the commit, so a rolled-back change notifies nobody.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Team, TeamMembership
from socialdesk.accounts.permissions import ADMIN_ROLES
from socialdesk.common import clock, crypto
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.common.pagination import Page, keyset_page
from socialdesk.config import get_settings
from socialdesk.events import bus
from socialdesk.events.types import NotificationCreated
from socialdesk.jobs import queue as jobs
from socialdesk.notifications import preferences
from socialdesk.notifications.models import Notification

EMAIL_JOB = "notifications.email"
WEBHOOK_JOB = "notifications.webhook"

MAX_WEBHOOK_URL = 2000
# Slack's limits (https://api.slack.com/reference/block-kit/blocks#section): a section's text
# at most 3000 characters, a field's 2000, at most 10 fields. A longer one is refused with a
# 400 ("invalid_blocks"), so the message would never arrive.
SLACK_SECTION_MAX = 3000
SLACK_FIELD_MAX = 2000
SLACK_FIELDS_MAX = 10


def notify(
    session: Session,
    *,
    organization_id: int,
    member_ids: Iterable[int],
    kind: str,
    title: str,
    body: str = "",
    conversation_id: int | None = None,
    link: str | None = None,
    data: dict[str, Any] | None = None,
    email: bool = True,
) -> list[Notification]:
    """One notification per distinct active member of the organization among ``member_ids``.

    With ``email`` and the desk's mail configured (``SOCIALDESK_MAIL_URL``), each is also
    mailed to the member by a job after the commit, unless the member turned email off for
    its topic (``preferences``).
    """
    wanted = sorted(set(member_ids))
    if not wanted:
        return []
    members = session.scalars(
        select(Member).where(
            Member.id.in_(wanted),
            Member.organization_id == organization_id,
            Member.is_active.is_(True),
        )
    ).all()
    now = clock.now()
    created: list[Notification] = []
    for member in members:
        notification = Notification(
            organization_id=organization_id,
            member_id=member.id,
            kind=kind,
            title=title[:300],
            body=body,
            conversation_id=conversation_id,
            link=link,
            data=data or {},
            created_at=now,
        )
        session.add(notification)
        created.append(notification)
    session.flush()
    mail = email and bool(get_settings().mail_url)
    emailed = {m.id for m in members if preferences.emails(m, kind)} if mail else set()
    for notification in created:
        bus.emit(
            session,
            NotificationCreated(
                organization_id=organization_id,
                notification_id=notification.id,
                member_id=notification.member_id,
                notification_kind=kind,
            ),
        )
        if notification.member_id in emailed:
            jobs.enqueue(session, EMAIL_JOB, {"notification_id": notification.id})
    return created


# How much of a message a notification's body quotes.
EXCERPT = 300


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """``text`` as a notification's body quotes it: whole, or cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def admin_ids(session: Session, *, organization_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Member.id).where(
                Member.organization_id == organization_id,
                Member.is_active.is_(True),
                Member.role.in_(ADMIN_ROLES),
            )
        )
    )


def team_member_ids(session: Session, *, team_id: int) -> list[int]:
    return list(
        session.scalars(
            select(TeamMembership.member_id)
            .join(Member, Member.id == TeamMembership.member_id)
            .where(TeamMembership.team_id == team_id, Member.is_active.is_(True))
        )
    )


def notify_admins(
    session: Session,
    *,
    organization_id: int,
    kind: str,
    title: str,
    body: str = "",
    link: str | None = None,
    data: dict[str, Any] | None = None,
) -> list[Notification]:
    """Owners and admins: brand-account health, failing webhooks."""
    return notify(
        session,
        organization_id=organization_id,
        member_ids=admin_ids(session, organization_id=organization_id),
        kind=kind,
        title=title,
        body=body,
        link=link,
        data=data,
    )


def notify_admins_unless_unread(
    session: Session,
    *,
    organization_id: int,
    kind: str,
    title: str,
    body: str = "",
    link: str | None = None,
) -> list[Notification]:
    """Owners and admins who have no unread notification of ``kind`` yet, in the desk only:
    for a failure that repeats (the mail server is down), shown once until someone reads it."""
    already = set(
        session.scalars(
            select(Notification.member_id).where(
                Notification.organization_id == organization_id,
                Notification.kind == kind,
                Notification.read_at.is_(None),
            )
        )
    )
    return notify(
        session,
        organization_id=organization_id,
        member_ids=[
            m for m in admin_ids(session, organization_id=organization_id) if m not in already
        ],
        kind=kind,
        title=title,
        body=body,
        link=link,
        email=False,
    )


# -- team webhooks ------------------------------------------------------------------------


def set_team_webhook(team: Team, url: str | None) -> None:
    """Store (encrypted) or clear a team's outgoing webhook URL. Only https URLs, or http to
    this machine for local relays, are accepted."""
    if url is None or not url.strip():
        team.webhook_url_encrypted = None
        return
    url = url.strip()
    if len(url) > MAX_WEBHOOK_URL or any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValidationFailed(
            "the webhook URL must be one line without spaces, at most "
            f"{MAX_WEBHOOK_URL} characters",
            field="webhook_url",
        )
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # "https://[not-an-address]/": urlsplit refuses it
        raise ValidationFailed("the webhook URL is not a valid URL", field="webhook_url") from None
    local = hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme != "https" and not (parts.scheme == "http" and local):
        raise ValidationFailed(
            "the webhook URL must start with https:// (http:// only to this machine)",
            field="webhook_url",
        )
    if not hostname:
        raise ValidationFailed("the webhook URL has no host", field="webhook_url")
    team.webhook_url_encrypted = crypto.encrypt_json({"url": url})


def team_webhook_url(team: Team) -> str | None:
    if team.webhook_url_encrypted is None:
        return None
    return crypto.decrypt_json(team.webhook_url_encrypted).get("url")


def masked_webhook(team: Team) -> str | None:
    """What the settings page shows: the host only, never the secret path."""
    url = team_webhook_url(team)
    if url is None:
        return None
    return f"{urlsplit(url).scheme}://{urlsplit(url).hostname}/…"


def slack_payload(
    *, title: str, body: str = "", link: str | None = None, fields: dict[str, str] | None = None
) -> dict[str, Any]:
    """A Slack incoming-webhook message (``text`` plus blocks); Mattermost, Rocket.Chat and
    Discord's /slack endpoint read the same shape.

    Every piece of text is escaped (a request quoting a customer's ``<!channel>`` must not
    ping a whole channel) and cut to Slack's limits (a longer block is refused outright)."""
    url = absolute_link(link)
    title_text = _clip(_escape(title), SLACK_SECTION_MAX - 2)
    body_text = _clip(_escape(body), SLACK_SECTION_MAX)
    text = f"{title_text}\n{body_text}".strip() if body else title_text
    if url:
        text = f"{text}\n<{url}|Open in socialdesk>"
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{title_text}*"}}
    ]
    if body:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": body_text}})
    if fields:
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {
                        "type": "mrkdwn",
                        "text": _clip(f"*{_escape(k)}*\n{_escape(v)}", SLACK_FIELD_MAX),
                    }
                    for k, v in list(fields.items())[:SLACK_FIELDS_MAX]
                ],
            }
        )
    if url:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {"type": "button", "text": {"type": "plain_text", "text": "Open"}, "url": url}
                ],
            }
        )
    return {"text": text, "blocks": blocks}


def _escape(text: str) -> str:
    # Slack's mrkdwn needs only these three escaped.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    # Never leave half an escape ("&am") at the end.
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def absolute_link(link: str | None) -> str | None:
    if not link:
        return None
    if link.startswith(("http://", "https://")):
        return link
    return get_settings().base_url.rstrip("/") + "/" + link.lstrip("/")


def post_to_team_webhook(session: Session, *, team: Team, payload: dict[str, Any]) -> bool:
    """Enqueue a webhook delivery to the team's URL; False when the team has none. The job
    reads the URL itself, so the secret never sits in the queue."""
    if team.webhook_url_encrypted is None:
        return False
    jobs.enqueue(session, WEBHOOK_JOB, {"team_id": team.id, "payload": payload})
    return True


def post_to_team(
    session: Session,
    *,
    team: Team,
    title: str,
    body: str = "",
    link: str | None = None,
    fields: dict[str, str] | None = None,
) -> bool:
    """Post a message to the team's webhook in the Slack shape (:func:`slack_payload`); False
    when the team has none."""
    return post_to_team_webhook(
        session,
        team=team,
        payload=slack_payload(title=title, body=body, link=link, fields=fields),
    )


# -- reading ------------------------------------------------------------------------------


def unread_count(session: Session, *, member: Member) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.member_id == member.id, Notification.read_at.is_(None))
        )
        or 0
    )


def page(
    session: Session,
    *,
    member: Member,
    unread_only: bool = False,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[Notification]:
    stmt = select(Notification).where(Notification.member_id == member.id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return keyset_page(
        session,
        stmt,
        when=Notification.created_at,
        row_id=Notification.id,
        key=lambda n: (n.created_at, n.id),
        cursor=cursor,
        limit=limit,
        newest_first=True,
    )


def get_own(session: Session, *, member: Member, notification_id: int) -> Notification:
    notification = session.get(Notification, notification_id)
    if notification is None or notification.member_id != member.id:
        raise NotFound(f"notification {notification_id} does not exist")
    return notification


def mark_read(session: Session, *, member: Member, notification_id: int) -> Notification:
    notification = get_own(session, member=member, notification_id=notification_id)
    if notification.read_at is None:
        notification.read_at = clock.now()
    return notification


def mark_all_read(session: Session, *, member: Member) -> int:
    result = session.execute(
        update(Notification)
        .where(Notification.member_id == member.id, Notification.read_at.is_(None))
        .values(read_at=clock.now())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]  # CursorResult at run time
