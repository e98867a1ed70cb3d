"""A team's notification settings: who leads it (hears first), the address and the webhook
its requests also go to, and the hours it works.

The webhook URL is a credential: stored encrypted, shown masked, never returned, never
written to the audit trail (which records only that it was set or removed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Team, TeamMembership
from socialdesk.common.errors import ValidationFailed
from socialdesk.notifications import service as notifications_service
from socialdesk.schedules.models import BusinessHours

MAX_EMAIL = 320
_EMAIL = re.compile(r"^[^@\s<>,;\"']+@[^@\s<>,;\"']+$")


@dataclass(frozen=True)
class TeamNotificationSettings:
    lead_member_id: int | None
    notify_email: str | None
    business_hours_id: int | None
    # None (or empty): keep the webhook as it is; a URL: replace it.
    webhook_url: str | None = None
    remove_webhook: bool = False


def snapshot(team: Team) -> dict[str, Any]:
    """What the audit trail records of a team's settings (never the webhook URL)."""
    return {
        "lead_member_id": team.lead_member_id,
        "notify_email": team.notify_email,
        "business_hours_id": team.business_hours_id,
        "webhook": "set" if team.webhook_url_encrypted is not None else "none",
    }


def normalise_email(raw: str | None) -> str | None:
    value = (raw or "").strip()
    if not value:
        return None
    if len(value) > MAX_EMAIL or not _EMAIL.match(value):
        raise ValidationFailed(
            f"{value[:80]!r} is not an email address like billing@example.com",
            field="notify_email",
        )
    local, _, domain = value.rpartition("@")
    return f"{local}@{domain.lower()}"


def lead_choices(session: Session, *, team: Team) -> list[Member]:
    """Who may lead the team: its active members."""
    return list(
        session.scalars(
            select(Member)
            .join(TeamMembership, TeamMembership.member_id == Member.id)
            .where(TeamMembership.team_id == team.id, Member.is_active.is_(True))
            .order_by(Member.name)
        )
    )


def hours_choices(session: Session, *, organization_id: int) -> list[BusinessHours]:
    return list(
        session.scalars(
            select(BusinessHours)
            .where(BusinessHours.organization_id == organization_id)
            .order_by(BusinessHours.name)
        )
    )


def update(session: Session, *, team: Team, settings: TeamNotificationSettings) -> None:
    """Apply ``settings`` to ``team``; every value is checked before anything changes."""
    lead_id = settings.lead_member_id
    if lead_id is not None and lead_id not in {m.id for m in lead_choices(session, team=team)}:
        raise ValidationFailed(
            "the lead must be an active member of the team: add them first",
            field="lead_member_id",
        )
    email = normalise_email(settings.notify_email)
    hours_id = settings.business_hours_id
    if hours_id is not None:
        hours = session.get(BusinessHours, hours_id)
        if hours is None or hours.organization_id != team.organization_id:
            raise ValidationFailed(
                f"business hours {hours_id} do not exist", field="business_hours_id"
            )
    if settings.remove_webhook:
        notifications_service.set_team_webhook(team, None)
    elif settings.webhook_url and settings.webhook_url.strip():
        notifications_service.set_team_webhook(team, settings.webhook_url)
    team.lead_member_id = lead_id
    team.notify_email = email
    team.business_hours_id = hours_id


def send_test(session: Session, *, team: Team) -> None:
    """Post a test message to the team's webhook (a job: a failure shows in the desk)."""
    if not notifications_service.post_to_team(
        session,
        team=team,
        title=f"Test from socialdesk for {team.name}",
        body=f"This webhook works: requests to {team.name} will be posted here.",
        link="/escalations?scope=teams",
        fields={"Team": team.name},
    ):
        raise ValidationFailed(
            f"{team.name} has no webhook URL yet: save one first", field="webhook_url"
        )
