"""Jobs, periodic tasks and event listeners of the escalations domain."""

from __future__ import annotations

import logging
import smtplib

from sqlalchemy.orm import Session

from socialdesk.accounts.models import Team
from socialdesk.common import clock
from socialdesk.common.errors import NotFound
from socialdesk.config import get_settings
from socialdesk.db.session import session_scope
from socialdesk.escalations import service as escalations_service
from socialdesk.escalations.models import EscalationRequest
from socialdesk.events import bus
from socialdesk.events.types import MemberDeactivated
from socialdesk.jobs import queue as jobs
from socialdesk.jobs.registry import Payload, Retry, job, periodic
from socialdesk.notifications import mail
from socialdesk.notifications import service as notifications_service

log = logging.getLogger(__name__)

TEAM_EMAIL_BACKOFF_SECONDS = 60.0


def _team_email_failed(payload: Payload, reason: str) -> None:
    """A team address that cannot be reached is shown to the team's lead and the admins, in
    the desk only (mail is what is failing)."""
    with session_scope() as session:
        request = session.get(EscalationRequest, int(payload["request_id"]))
        if request is None or request.team_id is None:
            return
        team = session.get_one(Team, request.team_id)
        recipients = set(
            notifications_service.admin_ids(session, organization_id=team.organization_id)
        )
        if team.lead_member_id is not None:
            recipients.add(team.lead_member_id)
        notifications_service.notify(
            session,
            organization_id=team.organization_id,
            member_ids=recipients,
            kind="team_email.failed",
            title=f"Could not email {team.name} at {team.notify_email}",
            body=f'The request "{request.text[:200]}" did not reach the team\'s address: '
            f"{reason}. The team's members were still told in the desk.",
            conversation_id=request.conversation_id,
            link=f"/admin/teams/{team.id}",
            email=False,
        )


@job(
    escalations_service.TEAM_EMAIL_JOB,
    max_attempts=5,
    backoff_seconds=TEAM_EMAIL_BACKOFF_SECONDS,
    on_give_up=_team_email_failed,
)
def send_team_email(payload: Payload) -> None:
    """Mail a request to its team's address (``Team.notify_email``); retried with backoff
    while the mail server refuses or cannot be reached."""
    settings = get_settings()
    if not settings.mail_url:
        return
    with session_scope(write=False) as session:
        try:
            to, subject, body = escalations_service.team_email_message(
                session,
                request_id=int(payload["request_id"]),
                event=str(payload.get("event", "created")),
            )
        except NotFound as exc:
            log.info("team email not sent: %s", exc.message)
            return
    message = mail.build(settings=settings, to=to, subject=subject, body=body)
    try:
        mail.send_to_staff(settings, message)
    except (smtplib.SMTPException, OSError) as exc:
        raise Retry(f"mail server refused or unreachable: {exc}") from exc


@periodic("escalations.overdue", every_minutes=1)
def notify_overdue() -> None:
    """Open requests past their due time: tell the owner and whoever was asked, once each.
    One short transaction per request, so one failure does not hold up the others."""
    now = clock.now()
    with session_scope(write=False) as session:
        candidates = escalations_service.overdue_candidates(session, now=now)
    for request_id in candidates:
        try:
            with session_scope() as session:
                escalations_service.notify_overdue(session, request_id=request_id, now=now)
        except Exception:
            log.exception("overdue notice for escalation request %s failed", request_id)


@job(escalations_service.HAND_OVER_JOB, max_attempts=5)
def hand_over(payload: Payload) -> None:
    with session_scope() as session:
        escalations_service.hand_over(
            session,
            organization_id=int(payload["organization_id"]),
            member_id=int(payload["member_id"]),
            hand_to_member_id=(
                int(payload["hand_to_member_id"])
                if payload.get("hand_to_member_id") is not None
                else None
            ),
        )


@bus.in_transaction(MemberDeactivated)
def on_member_deactivated(session: Session, event: MemberDeactivated) -> None:
    jobs.enqueue(
        session,
        escalations_service.HAND_OVER_JOB,
        {
            "organization_id": event.organization_id,
            "member_id": event.member_id,
            "hand_to_member_id": event.hand_to_member_id,
        },
    )
