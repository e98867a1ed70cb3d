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

WEBHOOK_MAX_ATTEMPTS = 6
WEBHOOK_BACKOFF_SECONDS = 30.0


def _give_up_email(payload: Payload, reason: str) -> None:
    """The member still has the notification in the desk; the admins are shown, once until
    they read it, that the desk's mail is not going out."""
    log.warning("notification %s was not emailed: %s", payload.get("notification_id"), reason)
    with session_scope() as session:
        notification = session.get(Notification, int(payload["notification_id"]))
        if notification is None:
            return
        notifications_service.notify_admins_unless_unread(
            session,
            organization_id=notification.organization_id,
            kind="mail.failed",
            title="The desk's email is not going out",
            body=f"Notifications stay in the desk but are not emailed: {reason}. "
            "Check SOCIALDESK_MAIL_URL and the mail server.",
        )


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
        mail.send_to_staff(settings, message)
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
            link=f"/admin/teams/{team.id}",
            email=True,
        )


@job(
    notifications_service.WEBHOOK_JOB,
    max_attempts=WEBHOOK_MAX_ATTEMPTS,
    backoff_seconds=WEBHOOK_BACKOFF_SECONDS,
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
        # Idempotent for the client's purposes: a chat message that arrives twice is a
        # nuisance, a lost escalation is a missed customer. So a 5xx or a timeout is retried.
        client.request("POST", url, idempotent=True, json=payload["payload"])
    except SendError as exc:
        reason = _without(exc.reason, url)
        if exc.retryable:
            # The job's own backoff (30 s, 1 min, 2 min...) unless the server asked for longer
            # (Retry-After): the client's in-process jitter is far too short for an outage.
            hint = exc.retry_after_seconds
            raise Retry(
                reason, after_seconds=hint if hint and hint > WEBHOOK_BACKOFF_SECONDS else None
            ) from exc
        _give_up_webhook(payload, reason)
    except ConnectorError as exc:
        _give_up_webhook(payload, _without(exc.reason, url))
    finally:
        client.close()


def _without(reason: str, url: str) -> str:
    """The URL is a secret (it is the credential): never in a message people see."""
    return reason.replace(url, "the webhook URL")
