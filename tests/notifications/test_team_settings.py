"""A team's notification settings on the admin teams page: lead, email address, write-only
webhook (with a test message) and business hours; audited without the URL."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import AuditEvent, Team
from socialdesk.common import clock
from socialdesk.db.session import get_sessionmaker
from socialdesk.notifications import service
from socialdesk.schedules.models import BusinessHours
from tests.conftest import JobRunner
from tests.notifications.conftest import Org
from tests.notifications.servers import WebhookServer
from tests.web.conftest import login


def _hours(session: Session, organization_id: int, name: str = "Office") -> int:
    row = BusinessHours(
        organization_id=organization_id,
        name=name,
        timezone="Europe/Berlin",
        intervals={str(d): [["09:00", "17:00"]] for d in range(5)},
        holidays=[],
        created_at=clock.now(),
        updated_at=clock.now(),
    )
    session.add(row)
    session.commit()
    return row.id


def _team(team_id: int) -> Team:
    with get_sessionmaker(write=False)() as reader:
        team = reader.get(Team, team_id)
        assert team is not None
        return team


def _audits(team_id: int) -> list[AuditEvent]:
    with get_sessionmaker(write=False)() as reader:
        return list(
            reader.scalars(
                select(AuditEvent)
                .where(AuditEvent.target_type == "team", AuditEvent.target_id == str(team_id))
                .order_by(AuditEvent.id)
            )
        )


def test_settings_are_saved_the_url_is_never_shown_and_the_audit_has_no_url(
    client: TestClient, session: Session, org: Org, webhook: WebhookServer
) -> None:
    hours = _hours(session, org.org.id)
    team_id = org.billing.id
    csrf = login(client, org.owner)
    page = client.get(f"/admin/teams/{team_id}")
    assert page.status_code == 200
    # Only the team's members may lead it.
    assert f'<option value="{org.lead.id}"' in page.text
    assert (
        f'<option value="{org.agent.id}"'
        not in page.text.split('id="lead_member_id"')[1].split("</select>")[0]
    )
    saved = client.post(
        f"/admin/teams/{team_id}/settings",
        data={
            "csrf_token": csrf,
            "lead_member_id": str(org.lead.id),
            "notify_email": " Billing@ACME.example ",
            "webhook_url": webhook.url(),
            "business_hours_id": str(hours),
        },
    )
    assert saved.status_code == 303, saved.text
    team = _team(team_id)
    assert team.lead_member_id == org.lead.id
    assert team.notify_email == "Billing@acme.example"
    assert team.business_hours_id == hours
    assert service.team_webhook_url(team) == webhook.url()

    shown = client.get(f"/admin/teams/{team_id}").text
    assert "secret-token" not in shown
    assert "http://127.0.0.1/…" in shown  # masked
    (audit,) = _audits(team_id)
    assert audit.action == "team_changed"
    assert audit.actor_member_id == org.owner.id
    assert audit.after == {
        "lead_member_id": org.lead.id,
        "notify_email": "Billing@acme.example",
        "business_hours_id": hours,
        "webhook": "set",
    }
    assert audit.before is not None
    assert audit.before["webhook"] == "none"
    assert "secret-token" not in json.dumps([audit.before, audit.after])


def test_an_empty_url_keeps_the_webhook_and_remove_clears_it(
    client: TestClient, session: Session, org: Org
) -> None:
    service.set_team_webhook(org.billing, "https://hooks.example.com/keep-me")
    session.commit()
    team_id = org.billing.id
    csrf = login(client, org.owner)
    base = {"csrf_token": csrf, "lead_member_id": str(org.lead.id), "webhook_url": ""}
    assert client.post(f"/admin/teams/{team_id}/settings", data=base).status_code == 303
    assert service.team_webhook_url(_team(team_id)) == "https://hooks.example.com/keep-me"
    assert _audits(team_id) == []  # nothing changed, nothing recorded
    removed = client.post(f"/admin/teams/{team_id}/settings", data={**base, "remove_webhook": "1"})
    assert removed.status_code == 303
    assert _team(team_id).webhook_url_encrypted is None
    (audit,) = _audits(team_id)
    assert (audit.before or {})["webhook"] == "set"
    assert (audit.after or {})["webhook"] == "none"


def test_wrong_values_are_refused_beside_the_form_and_change_nothing(
    client: TestClient, session: Session, org: Org
) -> None:
    other_orgs_hours = _hours(session, org.stranger.organization_id, "Theirs")
    team_id = org.billing.id
    csrf = login(client, org.owner)
    cases = [
        ({"lead_member_id": str(org.agent.id)}, "lead must be an active member of the team"),
        ({"notify_email": "not an address"}, "is not an email address"),
        ({"webhook_url": "http://hooks.example.com/x"}, "must start with https://"),
        ({"business_hours_id": str(other_orgs_hours)}, "do not exist"),
    ]
    for fields, says in cases:
        answer = client.post(
            f"/admin/teams/{team_id}/settings", data={"csrf_token": csrf, **fields}
        )
        assert answer.status_code == 422, fields
        assert says in answer.text
    team = _team(team_id)
    assert team.lead_member_id == org.lead.id  # as the fixture left it
    assert team.notify_email is None
    assert team.webhook_url_encrypted is None
    assert team.business_hours_id is None
    assert _audits(team_id) == []


def test_send_test_posts_a_test_payload_to_the_webhook(
    client: TestClient, session: Session, org: Org, jobs: JobRunner, webhook: WebhookServer
) -> None:
    team_id = org.billing.id
    csrf = login(client, org.owner)
    refused = client.post(f"/admin/teams/{team_id}/webhook-test", data={"csrf_token": csrf})
    assert refused.status_code == 422
    assert "has no webhook URL yet" in refused.text

    service.set_team_webhook(org.billing, webhook.url())
    session.commit()
    sent = client.post(f"/admin/teams/{team_id}/webhook-test", data={"csrf_token": csrf})
    assert sent.status_code == 200
    assert "Test message queued" in sent.text
    jobs.run_pending()
    (got,) = webhook.received
    assert got.body["text"].startswith("Test from socialdesk for Billing")
    assert got.body["blocks"][0]["text"]["text"] == "*Test from socialdesk for Billing*"


def test_only_member_admins_change_team_settings(
    client: TestClient, session: Session, org: Org
) -> None:
    team_id = org.billing.id
    csrf = login(client, org.agent)
    for path in ("settings", "webhook-test"):
        answer = client.post(
            f"/admin/teams/{team_id}/{path}",
            data={"csrf_token": csrf, "notify_email": "x@example.org"},
        )
        assert answer.status_code == 403
    assert _team(team_id).notify_email is None
    # Another organization's team is not found, even for its owner.
    client.cookies.clear()
    csrf = login(client, org.stranger)
    assert (
        client.post(f"/admin/teams/{team_id}/settings", data={"csrf_token": csrf}).status_code
        == 404
    )
