"""Email per notification topic: every notification stays in the desk, and a member chooses the
topics that also come by email, on their profile page or through the API."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member
from socialdesk.common.errors import ValidationFailed
from socialdesk.db.session import get_sessionmaker
from socialdesk.notifications import preferences, service
from socialdesk.notifications.models import Notification
from tests.conftest import JobRunner
from tests.notifications.conftest import Org
from tests.notifications.servers import SmtpSink
from tests.web.conftest import login


def _muted(member_id: int) -> list[str]:
    with get_sessionmaker(write=False)() as reader:
        member = reader.get(Member, member_id)
        assert member is not None
        return member.email_muted


@pytest.mark.parametrize(
    ("kind", "topic"),
    [
        ("commitment.reminder", "promises"),
        ("commitment.handed_over", "promises"),
        ("note.mentioned", "mentions"),
        ("escalation.requested", "requests"),
        ("sla.breach", "sla"),
        ("followup.negative", "followups"),
        ("automation", "automation"),
        ("alert.volume", "alerts"),
        ("reply.failed", "replies"),
        ("approval.requested", "replies"),
        ("approval.decided", "replies"),
        ("account.unhealthy", "health"),
        ("webhook.failed", "health"),
        ("mail.failed", "health"),
        ("something.new", None),
        ("automations", None),  # a prefix without its dot is another kind
    ],
)
def test_every_kind_belongs_to_its_topic(kind: str, topic: str | None) -> None:
    found = preferences.topic_of(kind)
    assert (found.key if found else None) == topic


def test_a_muted_topic_stays_in_the_desk_and_is_not_emailed(
    session: Session, org: Org, jobs: JobRunner, smtp: SmtpSink
) -> None:
    preferences.set_email(session, member=org.agent, choices={"sla": False})
    session.commit()
    for kind in ("sla.warning", "commitment.reminder", "brand.new.kind"):
        service.notify(
            session,
            organization_id=org.org.id,
            member_ids=[org.agent.id, org.lead.id],
            kind=kind,
            title=f"About {kind}",
        )
    session.commit()
    jobs.run_pending(include_scheduled=True)
    rows = session.scalars(select(Notification).where(Notification.kind == "sla.warning")).all()
    assert sorted(r.member_id for r in rows) == sorted([org.agent.id, org.lead.id])
    mailed = sorted((m["To"], m["Subject"]) for m in smtp.messages)
    assert mailed == sorted(
        [
            (org.lead.email, "About sla.warning"),
            (org.agent.email, "About commitment.reminder"),
            (org.lead.email, "About commitment.reminder"),
            (org.agent.email, "About brand.new.kind"),  # outside every topic: always mailed
            (org.lead.email, "About brand.new.kind"),
        ]
    )


def test_changing_some_topics_keeps_the_others_and_unknown_ones_are_refused(
    session: Session, org: Org
) -> None:
    assert all(preferences.email_choices(org.agent).values())
    preferences.set_email(session, member=org.agent, choices={"sla": False, "automation": False})
    after = preferences.set_email(session, member=org.agent, choices={"automation": True})
    assert [k for k, emailed in after.items() if not emailed] == ["sla"]
    with pytest.raises(ValidationFailed, match="unknown notification topic 'weather'"):
        preferences.set_email(session, member=org.agent, choices={"weather": False, "sla": True})
    assert org.agent.email_muted == ["sla"]  # nothing of the refused change was applied


def test_the_profile_page_sets_the_topics_with_its_form(
    client: TestClient, session: Session, org: Org
) -> None:
    csrf = login(client, org.agent)
    page = client.get("/account")
    assert page.status_code == 200
    assert "Email notifications" in page.text
    assert page.text.count('name="email"') == len(preferences.TOPICS)
    assert page.text.count("checked") >= len(preferences.TOPICS)

    keep = [t.key for t in preferences.TOPICS if t.key not in {"sla", "health"}]
    saved = client.post(
        "/account/notifications",
        data={"csrf_token": csrf, "email": keep},
        follow_redirects=False,
    )
    assert saved.status_code == 200
    assert "Your email choices are saved." in saved.text
    assert _muted(org.agent.id) == ["health", "sla"]
    assert 'value="sla">' in saved.text  # shown unchecked
    assert 'value="promises" checked>' in saved.text

    forged = client.post("/account/notifications", data={"csrf_token": "x", "email": []})
    assert forged.status_code == 403
    assert _muted(org.agent.id) == ["health", "sla"]
    bad = client.post(
        "/account/notifications", data={"csrf_token": csrf, "email": ["promises", "weather"]}
    )
    assert bad.status_code == 422
    assert "unknown notification topic &#39;weather&#39;" in bad.text
    assert _muted(org.agent.id) == ["health", "sla"]


def test_the_api_reads_and_changes_only_the_callers_own_choices(
    client: TestClient, session: Session, org: Org
) -> None:
    token = accounts_service.create_api_token(session, member=org.viewer, name="t").token
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    read = client.get("/api/notifications/preferences", headers=headers)
    assert read.status_code == 200, read.text
    topics = read.json()["topics"]
    assert [t["key"] for t in topics] == [t.key for t in preferences.TOPICS]
    assert all(t["email"] for t in topics)

    changed = client.put(
        "/api/notifications/preferences", json={"email": {"promises": False}}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    assert {t["key"]: t["email"] for t in changed.json()["topics"]}["promises"] is False
    assert _muted(org.viewer.id) == ["promises"]
    assert _muted(org.agent.id) == []  # nobody else's

    unknown = client.put(
        "/api/notifications/preferences", json={"email": {"weather": False}}, headers=headers
    )
    assert unknown.status_code == 422
    assert "weather" in unknown.json()["error"]["message"]
    extra = client.put(
        "/api/notifications/preferences", json={"email": {}, "sms": True}, headers=headers
    )
    assert extra.status_code == 422
    assert client.get("/api/notifications/preferences").status_code == 401
