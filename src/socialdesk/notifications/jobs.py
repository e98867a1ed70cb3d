"""Delivering notifications by email and team webhooks, with retries and a visible failure."""

from __future__ import annotations

import logging
import smtplib

import httpx

from socialdesk.accounts.models import Member, Team
from socialdesk.common import clock
from socialdesk.config import get_settings
from socialdesk.connectors.base import ConnectorError, SendError
from socialdesk.connectors.http import HttpClient, RetryPolicy
from socialdesk.db.session import session_scope
from socialdesk.jobs.registry import Payload, Retry, job
from socialdesk.notifications import mail
from socialdesk.notifications import service as notifications_service
from socialdesk.notifications.models import Notification

log = logging.getLogger(__name__)

# Tests replace it with an httpx.MockTransport, or point the team at a local server.
webhook_transport: httpx.BaseTransport | None = None


def _give_up_email(payload: Payload, reason: str) -> None:
    log.warning("notification %s was not emailed: %s", payload.get("notification_id"), reason)


@job(notifications_service.EMAIL_JOB, max_attempts=5, backoff_seconds=30, on_give_up=_give_up_email)
def send_email(payload: Payload) -> None:
    settings = get_settings()
    if not settings.mail_url:
        return
    with session_scope(write=False) as session:
        notification = session.get(Notification, int(payload["notification_id"]))
        if notification is None or notification.emailed_at is not None:
            return
        member = session.get_one(Member, notification.member_id)
        link = notifications_service.absolute_link(notification.link)
        body = notification.body + (f"\n\n{link}" if link else "")
        message = mail.build(
            settings=settings, to=member.email, subject=notification.title, body=body
        )
    try:
        mail.transport_for(settings).send(message)
    except (smtplib.SMTPException, OSError) as exc:
        raise Retry(f"mail server refused or unreachable: {exc}") from exc
    with session_scope() as session:
        stored = session.get(Notification, int(payload["notification_id"]))
        if stored is not None:
            stored.emailed_at = clock.now()


def _give_up_webhook(payload: Payload, reason: str) -> None:
    """A webhook that keeps failing is shown to the team lead and the admins in the desk."""
    with session_scope() as session:
        team = session.get(Team, int(payload["team_id"]))
        if team is None:
            return
        recipients = set(
            notifications_service.admin_ids(session, organization_id=team.organization_id)
        )
        if team.lead_member_id:
            recipients.add(team.lead_member_id)
        notifications_service.notify(
            session,
            organization_id=team.organization_id,
            member_ids=recipients,
            kind="webhook.failed",
            title=f"{team.name}'s webhook is failing",
            body=f"A message could not be delivered to the team's webhook: {reason}",
            link="/admin/teams",
            email=True,
        )


@job(
    notifications_service.WEBHOOK_JOB,
    max_attempts=6,
    backoff_seconds=30,
    on_give_up=_give_up_webhook,
)
def post_webhook(payload: Payload) -> None:
    with session_scope(write=False) as session:
        team = session.get(Team, int(payload["team_id"]))
        url = notifications_service.team_webhook_url(team) if team else None
    if not url:
        return
    client = HttpClient(
        provider="team webhook",
        transport=webhook_transport,
        timeout=httpx.Timeout(10.0),
        policy=RetryPolicy(max_attempts=1),
    )
    try:
        client.request("POST", url, idempotent=False, json=payload["payload"])
    except SendError as exc:
        if exc.retryable:
            raise Retry(exc.reason, after_seconds=exc.retry_after_seconds) from exc
        _give_up_webhook(payload, exc.reason)
    except ConnectorError as exc:
        _give_up_webhook(payload, exc.reason)
    finally:
        client.close()
