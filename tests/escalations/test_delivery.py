"""An escalation reaches the department everywhere it listens: the members' mail, the team's
own address (a job with retries) and the team's webhook, over real SMTP and HTTP."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.common import clock
from socialdesk.common.clock import FrozenClock
from socialdesk.escalations import service
from socialdesk.jobs import registry
from socialdesk.notifications import service as notifications_service
from socialdesk.notifications.models import Notification
from tests.conftest import JobRunner
from tests.escalations.conftest import Desk
from tests.notifications.servers import SmtpSink, WebhookServer


def _set_team_channels(session: Session, desk: Desk, webhook: WebhookServer) -> None:
    desk.billing.notify_email = "billing@acme.example"
    notifications_service.set_team_webhook(desk.billing, webhook.url())
    session.commit()


def test_a_request_reaches_members_the_team_address_and_the_webhook(
    session: Session, desk: Desk, jobs: JobRunner, smtp: SmtpSink, webhook: WebhookServer
) -> None:
    _set_team_channels(session, desk, webhook)
    service.create(
        session,
        conversation=desk.conversation,
        requested_by=desk.alex,
        text="Please refund order 123",
        team_id=desk.billing.id,
        due_at=clock.now() + timedelta(hours=2),
    )
    jobs.run_pending()
    recipients = sorted(rcpt for _, rcpts in smtp.envelopes for rcpt in rcpts)
    assert recipients == sorted([desk.lena.email, desk.bo.email, "billing@acme.example"])
    team_mail = next(m for m in smtp.messages if m["To"] == "billing@acme.example")
    assert team_mail["Subject"] == "Alex Agent asks Billing: Please refund order 123"
    text = team_mail.get_content()
    assert "Please refund order 123" in text
    assert "Due: Mon 05 Jan 2026, 11:00 (UTC)" in text
    assert f"/conversations/{desk.conversation.id}" in text

    (posted,) = webhook.received
    payload = posted.body
    assert payload["text"].startswith("Alex Agent asks Billing: Please refund order 123")
    assert payload["blocks"][0]["text"]["text"] == (
        "*Alex Agent asks Billing: Please refund order 123*"
    )
    fields = {
        f["text"].split("\n")[0]: f["text"].split("\n")[1] for f in payload["blocks"][2]["fields"]
    }
    assert fields["*Asked by*"] == "Alex Agent"
    assert fields["*Due*"] == "Mon 05 Jan 2026, 11:00 (UTC)"
    assert fields["*Conversation*"].startswith(f"#{desk.conversation.id} with ")
    button = payload["blocks"][3]["elements"][0]
    assert button["url"].endswith(f"/conversations/{desk.conversation.id}")


def test_the_team_address_is_retried_then_the_lead_and_admins_see_the_failure(
    session: Session, desk: Desk, jobs: JobRunner, smtp: SmtpSink, webhook: WebhookServer
) -> None:
    _set_team_channels(session, desk, webhook)
    smtp.refuse = True
    service.create(
        session,
        conversation=desk.conversation,
        requested_by=desk.alex,
        text="Please refund order 123",
        team_id=desk.billing.id,
    )
    jobs.run_pending(include_scheduled=True)
    session.expire_all()
    failed = list(
        session.scalars(select(Notification).where(Notification.kind == "team_email.failed"))
    )
    assert sorted(n.member_id for n in failed) == sorted([desk.owner.id, desk.lena.id])
    assert failed[0].title == "Could not email Billing at billing@acme.example"
    assert "451" in failed[0].body
    assert failed[0].link == f"/admin/teams/{desk.billing.id}"
    # The desk notifications of the request itself are still there.
    requested = session.scalars(
        select(Notification.member_id).where(Notification.kind == "escalation.requested")
    ).all()
    assert sorted(requested) == sorted([desk.lena.id, desk.bo.id])


def test_overdue_and_cancelled_requests_are_posted_to_the_team_too(
    session: Session, desk: Desk, jobs: JobRunner, webhook: WebhookServer, clock: FrozenClock
) -> None:
    _set_team_channels(session, desk, webhook)
    request = service.create(
        session,
        conversation=desk.conversation,
        requested_by=desk.alex,
        text="Please refund order 123",
        team_id=desk.billing.id,
        due_at=clock.now() + timedelta(minutes=30),
    )
    session.commit()
    clock.advance(timedelta(hours=1))
    next(p for p in registry.all_periodic() if p.name == "escalations.overdue").handler()
    service.cancel(session, request=request, actor=desk.alex, reason="Customer withdrew")
    jobs.run_pending()
    titles = [r.body["text"].split("\n")[0] for r in webhook.received]
    assert titles == [
        "Alex Agent asks Billing: Please refund order 123",
        "Overdue request for Billing: Please refund order 123",
        "Request for Billing cancelled: Please refund order 123",
    ]
    assert "Why: Customer withdrew" in webhook.received[2].body["text"]
