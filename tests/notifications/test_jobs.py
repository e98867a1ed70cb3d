"""Delivering notifications: email through a real SMTP server, team webhooks to a real HTTP
server (and, for the quick cases, httpx.MockTransport), with retries and a failure people see."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.jobs.registry import Retry
from socialdesk.notifications import jobs as notifications_jobs
from socialdesk.notifications import service
from socialdesk.notifications.models import Notification
from tests.conftest import JobRunner
from tests.notifications.conftest import Org
from tests.notifications.servers import SmtpSink, WebhookServer

PAYLOAD = service.slack_payload(title="Alex asks Billing: refund", body="Please refund 123")


def _notifications(session: Session, kind: str) -> list[Notification]:
    session.expire_all()
    return list(
        session.scalars(
            select(Notification).where(Notification.kind == kind).order_by(Notification.id)
        )
    )


# -- email ----------------------------------------------------------------------------------


def test_a_refusing_mail_server_is_retried_then_shown_to_admins_once(
    session: Session, org: Org, jobs: JobRunner, smtp: SmtpSink
) -> None:
    smtp.refuse = True
    for _ in range(2):
        service.notify(
            session, organization_id=org.org.id, member_ids=[org.agent.id], kind="x", title="t"
        )
    jobs.run_pending(include_scheduled=True)
    assert smtp.messages == []
    agent_rows = list(_notifications(session, "x"))
    assert [n.emailed_at for n in agent_rows] == [None, None]  # still in the desk
    failed = _notifications(session, "mail.failed")
    # Two mails gave up, but each admin is shown the failure once (and it is not mailed).
    assert sorted(n.member_id for n in failed) == sorted([org.owner.id, org.admin.id])
    assert "451" in failed[0].body

    smtp.refuse = False
    service.notify(
        session, organization_id=org.org.id, member_ids=[org.agent.id], kind="x", title="t"
    )
    jobs.run_pending(include_scheduled=True)
    assert len(smtp.messages) == 1


def test_an_email_is_sent_once_even_if_the_job_runs_again(
    session: Session, org: Org, jobs: JobRunner, smtp: SmtpSink
) -> None:
    (row,) = service.notify(
        session, organization_id=org.org.id, member_ids=[org.agent.id], kind="x", title="t"
    )
    jobs.run_pending()
    notifications_jobs.send_email({"notification_id": row.id})
    assert len(smtp.messages) == 1


# -- webhooks against a real HTTP server ----------------------------------------------------


def _with_webhook(session: Session, org: Org, url: str) -> None:
    service.set_team_webhook(org.billing, url)
    session.commit()


def test_the_webhook_receives_the_slack_payload(
    session: Session, org: Org, jobs: JobRunner, webhook: WebhookServer
) -> None:
    _with_webhook(session, org, webhook.url())
    assert service.post_to_team_webhook(session, team=org.billing, payload=PAYLOAD)
    jobs.run_pending()
    (got,) = webhook.received
    assert got.path == "/services/T000/B000/secret-token"
    assert got.headers["content-type"] == "application/json"
    assert got.body == PAYLOAD
    assert got.body["text"].startswith("Alex asks Billing: refund")
    assert _notifications(session, "webhook.failed") == []


def test_a_500_is_retried_until_the_webhook_answers(
    session: Session, org: Org, jobs: JobRunner, webhook: WebhookServer
) -> None:
    webhook.script = [500, 503]
    _with_webhook(session, org, webhook.url())
    service.post_to_team_webhook(session, team=org.billing, payload=PAYLOAD)
    jobs.run_pending(include_scheduled=True)
    assert len(webhook.received) == 3
    assert all(r.body == PAYLOAD for r in webhook.received)
    assert _notifications(session, "webhook.failed") == []


def test_a_webhook_that_keeps_failing_is_shown_to_the_lead_and_admins(
    session: Session, org: Org, jobs: JobRunner, webhook: WebhookServer
) -> None:
    webhook.script = [500] * 10
    _with_webhook(session, org, webhook.url())
    service.post_to_team_webhook(session, team=org.billing, payload=PAYLOAD)
    jobs.run_pending(include_scheduled=True)
    assert len(webhook.received) == notifications_jobs.WEBHOOK_MAX_ATTEMPTS
    failed = _notifications(session, "webhook.failed")
    assert sorted(n.member_id for n in failed) == sorted([org.owner.id, org.admin.id, org.lead.id])
    notice = failed[0]
    assert notice.title == "Billing's webhook is failing"
    assert "500" in notice.body
    assert "secret-token" not in notice.body  # the URL is the credential
    assert notice.link == f"/admin/teams/{org.billing.id}"


def test_an_unreachable_webhook_is_retried_then_shown(
    session: Session, org: Org, jobs: JobRunner, webhook: WebhookServer
) -> None:
    from tests.notifications.servers import free_port

    _with_webhook(session, org, f"http://127.0.0.1:{free_port()}/hook")  # nobody listens
    service.post_to_team_webhook(session, team=org.billing, payload=PAYLOAD)
    jobs.run_pending(include_scheduled=True)
    (notice, *_) = _notifications(session, "webhook.failed")
    assert "could not be reached" in notice.body


# -- the quick cases, with httpx.MockTransport -----------------------------------------------


Install = Callable[[Callable[[httpx.Request], httpx.Response]], list[httpx.Request]]


@pytest.fixture
def transport(monkeypatch: pytest.MonkeyPatch) -> Install:
    def install(answer: Callable[[httpx.Request], httpx.Response]) -> list[httpx.Request]:
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return answer(request)

        monkeypatch.setattr(notifications_jobs, "webhook_transport", httpx.MockTransport(handler))
        return seen

    return install


URL = "https://hooks.slack.com/services/T000/B000/secret-token"


def test_a_refusal_is_not_retried_and_is_shown_at_once(
    session: Session,
    org: Org,
    jobs: JobRunner,
    transport: Install,
) -> None:
    seen = transport(lambda _: httpx.Response(404, text="no_service"))
    _with_webhook(session, org, URL)
    service.post_to_team_webhook(session, team=org.billing, payload=PAYLOAD)
    jobs.run_pending(include_scheduled=True)
    assert len(seen) == 1
    (notice, *_) = _notifications(session, "webhook.failed")
    assert "404" in notice.body
    assert "no_service" in notice.body


def test_a_server_error_or_timeout_asks_the_queue_to_retry_with_its_own_backoff(
    session: Session,
    org: Org,
    transport: Install,
) -> None:
    _with_webhook(session, org, URL)
    payload = {"team_id": org.billing.id, "payload": PAYLOAD}

    transport(lambda _: httpx.Response(500))
    with pytest.raises(Retry) as retry:
        notifications_jobs.post_webhook(payload)
    assert retry.value.after_seconds is None  # the job's backoff: 30 s, 1 min, 2 min...

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    transport(timeout)
    with pytest.raises(Retry):
        notifications_jobs.post_webhook(payload)

    transport(lambda _: httpx.Response(429, headers={"Retry-After": "120"}))
    with pytest.raises(Retry) as limited:
        notifications_jobs.post_webhook(payload)
    assert limited.value.after_seconds == 120  # the server asked for longer: honoured


def test_nothing_is_posted_when_the_webhook_was_removed_meanwhile(
    session: Session,
    org: Org,
    jobs: JobRunner,
    transport: Install,
) -> None:
    seen = transport(lambda _: httpx.Response(200))
    _with_webhook(session, org, URL)
    service.post_to_team_webhook(session, team=org.billing, payload=PAYLOAD)
    service.set_team_webhook(org.billing, None)
    jobs.run_pending()
    assert seen == []
