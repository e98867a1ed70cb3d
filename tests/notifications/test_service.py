"""The notifications service: who gets a row, when mail is queued, reading and marking, team
webhooks (stored encrypted, shown masked) and the Slack payload."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Team
from socialdesk.common.clock import FrozenClock
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.events.models import EventRecord
from socialdesk.notifications import service
from socialdesk.notifications.models import Notification
from tests.conftest import JobRunner
from tests.notifications.conftest import Org
from tests.notifications.servers import SmtpSink


def _notify(session: Session, org: Org, member_ids: list[int], **extra: object) -> list[int]:
    rows = service.notify(
        session,
        organization_id=org.org.id,
        member_ids=member_ids,
        kind="test.kind",
        title="Something happened",
        body="Details",
        link="/conversations/1",
        **extra,  # type: ignore[arg-type]  # the keyword arguments of notify
    )
    return [r.member_id for r in rows]


def test_one_row_per_distinct_active_member_of_the_organization(session: Session, org: Org) -> None:
    org.viewer.is_active = False
    got = _notify(
        session, org, [org.agent.id, org.agent.id, org.lead.id, org.viewer.id, org.stranger.id]
    )
    # Deactivated members and members of other organizations get nothing.
    assert sorted(got) == sorted([org.agent.id, org.lead.id])
    session.commit()
    kinds = session.scalars(select(EventRecord.kind)).all()
    assert kinds.count("notification.created") == 2
    assert _notify(session, org, []) == []


def test_mail_is_queued_only_when_the_desk_has_a_mail_server(
    session: Session, org: Org, jobs: JobRunner
) -> None:
    _notify(session, org, [org.agent.id])
    session.commit()
    assert jobs.queue.pending_count() == 0  # no SOCIALDESK_MAIL_URL: the desk only


def test_mail_goes_to_the_member_when_configured(
    session: Session, org: Org, jobs: JobRunner, smtp: SmtpSink
) -> None:
    _notify(session, org, [org.agent.id, org.lead.id], email=True)
    _notify(session, org, [org.owner.id], email=False)
    jobs.run_pending()
    assert sorted(rcpt for _, (rcpt,) in smtp.envelopes) == sorted(
        [org.agent.email, org.lead.email]
    )
    mail = smtp.messages[0]
    assert mail["Subject"] == "Something happened"
    assert mail["From"] == "desk@socialdesk.test"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert "Details" in mail.get_content()
    assert "/conversations/1" in mail.get_content()  # the absolute link to the desk
    session.expire_all()
    rows = session.scalars(select(Notification).order_by(Notification.id)).all()
    assert [r.emailed_at is not None for r in rows] == [True, True, False]


def test_reading_and_marking_are_per_member(session: Session, org: Org, clock: FrozenClock) -> None:
    for _ in range(3):
        _notify(session, org, [org.agent.id])
        clock.advance(timedelta(minutes=1))
    _notify(session, org, [org.lead.id])
    session.commit()
    assert service.unread_count(session, member=org.agent) == 3
    page = service.page(session, member=org.agent, limit=2)
    assert len(page.items) == 2
    assert page.next_cursor
    rest = service.page(session, member=org.agent, limit=2, cursor=page.next_cursor)
    ids = [n.id for n in page.items + rest.items]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert all(n.member_id == org.agent.id for n in page.items + rest.items)

    lead_row = service.page(session, member=org.lead).items[0]
    with pytest.raises(NotFound):
        service.mark_read(session, member=org.agent, notification_id=lead_row.id)
    with pytest.raises(NotFound):
        service.get_own(session, member=org.agent, notification_id=lead_row.id)

    first = service.mark_read(session, member=org.agent, notification_id=ids[0])
    stamp = first.read_at
    assert stamp is not None
    again = service.mark_read(session, member=org.agent, notification_id=ids[0])
    assert again.read_at == stamp  # the first reading is kept
    assert service.unread_count(session, member=org.agent) == 2
    assert [n.id for n in service.page(session, member=org.agent, unread_only=True).items] == (
        ids[1:]
    )
    assert service.mark_all_read(session, member=org.agent) == 2
    assert service.unread_count(session, member=org.agent) == 0
    assert service.unread_count(session, member=org.lead) == 1  # someone else's stay unread


def test_admins_hear_of_a_repeating_failure_once_until_they_read_it(
    session: Session, org: Org
) -> None:
    def fail() -> list[int]:
        rows = service.notify_admins_unless_unread(
            session, organization_id=org.org.id, kind="mail.failed", title="Mail is down"
        )
        session.flush()
        return sorted(r.member_id for r in rows)

    assert fail() == sorted([org.owner.id, org.admin.id])
    assert fail() == []
    service.mark_all_read(session, member=org.owner)
    assert fail() == [org.owner.id]


# -- team webhooks ------------------------------------------------------------------------


def test_a_webhook_is_stored_encrypted_and_shown_masked(session: Session, org: Org) -> None:
    team = org.billing
    url = "https://hooks.slack.com/services/T000/B000/very-secret"
    service.set_team_webhook(team, url)
    assert team.webhook_url_encrypted is not None
    assert b"very-secret" not in team.webhook_url_encrypted
    assert service.team_webhook_url(team) == url
    assert service.masked_webhook(team) == "https://hooks.slack.com/…"
    service.set_team_webhook(team, "  ")
    assert team.webhook_url_encrypted is None
    assert service.masked_webhook(team) is None


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://hooks.example.com/x", "https://"),
        ("ftp://127.0.0.1/x", "https://"),
        ("https:///no-host", "no host"),
        ("https://[not-an-address/x", "not a valid URL"),
        ("https://hooks.example.com/a b", "without spaces"),
        ("https://hooks.example.com/" + "a" * 2000, "2000 characters"),
        ("http://localhost.evil.example/x", "https://"),
        ("http://127.0.0.1@evil.example/x", "https://"),
    ],
)
def test_a_webhook_url_is_checked(url: str, says: str) -> None:
    team = Team(organization_id=1, name="t")
    with pytest.raises(ValidationFailed) as refused:
        service.set_team_webhook(team, url)
    assert says in refused.value.message
    assert refused.value.field == "webhook_url"
    assert team.webhook_url_encrypted is None


def test_http_to_this_machine_is_allowed_for_local_relays() -> None:
    team = Team(organization_id=1, name="t")
    service.set_team_webhook(team, "http://127.0.0.1:8065/hooks/abc")
    assert service.team_webhook_url(team) == "http://127.0.0.1:8065/hooks/abc"


def test_posting_needs_a_webhook(session: Session, org: Org, jobs: JobRunner) -> None:
    assert not service.post_to_team_webhook(session, team=org.billing, payload={"text": "x"})
    service.set_team_webhook(org.billing, "https://hooks.example.com/x")
    assert service.post_to_team_webhook(session, team=org.billing, payload={"text": "x"})
    session.rollback()  # a rolled-back change posts nothing
    assert jobs.queue.pending_count() == 0


# -- the Slack payload --------------------------------------------------------------------


def test_slack_payload_has_text_blocks_fields_and_an_absolute_link() -> None:
    payload = service.slack_payload(
        title="Alex asks Billing: refund",
        body="Please refund order 123",
        link="/conversations/7",
        fields={"Due": "Mon 05 Jan 2026, 13:00 (UTC)"},
    )
    assert payload["text"].startswith("Alex asks Billing: refund\nPlease refund order 123")
    assert payload["text"].endswith("/conversations/7|Open in socialdesk>")
    types = [b["type"] for b in payload["blocks"]]
    assert types == ["section", "section", "section", "actions"]
    assert payload["blocks"][0]["text"] == {"type": "mrkdwn", "text": "*Alex asks Billing: refund*"}
    assert payload["blocks"][2]["fields"][0]["text"] == "*Due*\nMon 05 Jan 2026, 13:00 (UTC)"
    button = payload["blocks"][3]["elements"][0]
    assert button["url"].startswith(("http://", "https://"))
    assert button["url"].endswith("/conversations/7")


def test_slack_payload_escapes_everything_so_nobody_is_pinged() -> None:
    payload = service.slack_payload(
        title="<!channel> refund & more", body="customer wrote <@U123> <https://x|y>"
    )
    assert "<!channel>" not in payload["text"]
    assert "<@U123>" not in payload["text"]
    assert payload["text"].startswith("&lt;!channel&gt; refund &amp; more")
    assert "&lt;@U123&gt;" in payload["blocks"][1]["text"]["text"]


def test_slack_payload_fits_slacks_limits() -> None:
    payload = service.slack_payload(
        title="t" * 5000,
        body="&" * 5000,
        fields={f"k{i}": "v" * 3000 for i in range(15)},
    )
    sections = [b for b in payload["blocks"] if "text" in b]
    assert all(len(b["text"]["text"]) <= service.SLACK_SECTION_MAX for b in sections)
    body = sections[1]["text"]["text"]
    assert body.endswith("&amp;…")  # never half an escape
    fields = payload["blocks"][2]["fields"]
    assert len(fields) == service.SLACK_FIELDS_MAX
    assert all(len(f["text"]) <= service.SLACK_FIELD_MAX for f in fields)


def test_absolute_link_keeps_full_urls_and_prefixes_paths() -> None:
    assert service.absolute_link(None) is None
    assert service.absolute_link("https://elsewhere.example/x") == "https://elsewhere.example/x"
    assert service.absolute_link("/conversations/3").endswith("/conversations/3")  # type: ignore[union-attr]
