"""Working on a conversation: assignment, team, priority, status, snooze and tags, with and
without HTMX, and every refusal shown beside the form it came from."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations.models import Activity
from socialdesk.db.session import get_sessionmaker
from tests.web.conftest import Desk, Page, fresh_conversation, tags_of


def test_assign_claim_unassign_team_and_priority(page: Page, desk: Desk, session: Session) -> None:
    team = accounts_service.create_team(session, organization_id=desk.org.id, name="Returns")
    session.commit()
    assert page.post("assign", assignee="me").status_code == 303
    assert fresh_conversation(page.id).assignee_id == desk.owner.id
    response = page.post("assign", htmx=True, assignee=str(desk.agent.id))
    assert response.status_code == 200
    assert "<html" not in response.text
    assert f'<option value="{desk.agent.id}" selected>' in response.text
    # The header's state is refreshed out of band.
    assert 'id="conv-state" class="conv-state" hx-swap-oob="true"' in response.text
    assert fresh_conversation(page.id).assignee_id == desk.agent.id
    assert page.post("assign", assignee="").status_code == 303
    assert fresh_conversation(page.id).assignee_id is None
    assert page.post("team", team=str(team.id)).status_code == 303
    assert page.post("priority", priority="urgent").status_code == 303
    conversation = fresh_conversation(page.id)
    assert conversation.team_id == team.id
    assert conversation.priority == 3
    html = page.html()
    assert "claimed it" in html  # "me": a claim, said once
    assert f"assigned it to {desk.agent.name}" in html
    assert f"unassigned it (was {desk.agent.name})" in html
    assert "moved it to Returns" in html
    assert "set priority to urgent" in html


def test_a_claim_reads_once_in_the_trail(page: Page, desk: Desk) -> None:
    assert page.post("assign", assignee="me").status_code == 303
    assert fresh_conversation(page.id).assignee_id == desk.owner.id
    html = page.html()
    assert "claimed it" in html
    assert f"assigned it to {desk.owner.name}" not in html
    # Assigning someone else afterwards is said as it happened.
    assert page.post("assign", assignee=str(desk.agent.id)).status_code == 303
    assert f"assigned it to {desk.agent.name}" in page.html()


def test_a_conversation_with_an_empty_trail_opens(page: Page) -> None:
    """An imported conversation has no activity at all: the page opens, with no trail."""
    with get_sessionmaker()() as session:
        session.execute(delete(Activity).where(Activity.conversation_id == page.id))
        session.commit()
    assert "My parcel never arrived" in page.html()


def test_viewers_cannot_be_chosen_as_assignee(page: Page, desk: Desk) -> None:
    html = page.html()
    assert f'<option value="{desk.agent.id}"' in html
    assert f'<option value="{desk.viewer.id}"' not in html


def test_status_resolve_reopen_and_pending(page: Page, session: Session) -> None:
    assert page.post("status", status="resolved").status_code == 303
    assert fresh_conversation(page.id).status == "resolved"
    html = page.html()
    assert 'value="open" class="button">Reopen<' in html
    assert "resolved the conversation" in html
    assert page.post("status", status="open").status_code == 303
    assert page.post("status", htmx=True, status="pending").status_code == 200
    assert fresh_conversation(page.id).status == "pending"
    assert "reopened the conversation" in page.html()


def test_snooze_with_a_preset_in_the_organizations_zone(
    page: Page, desk: Desk, session: Session, clock: FrozenClock
) -> None:
    org = session.merge(desk.org)
    org.timezone = "America/New_York"
    session.commit()
    response = page.post("snooze", htmx=True, preset="tomorrow")
    assert response.status_code == 200
    conversation = fresh_conversation(page.id)
    assert conversation.status == "snoozed"
    # 09:00 in New York on 6 January is 14:00 UTC.
    assert conversation.snoozed_until == datetime(2026, 1, 6, 14, 0, tzinfo=UTC)
    assert "until Tue 06 Jan 2026, 09:00" in response.text
    assert "snoozed it" in response.text


def test_snooze_until_a_chosen_time(page: Page, session: Session, clock: FrozenClock) -> None:
    assert page.post("snooze", preset="custom", until="2026-01-09T17:30").status_code == 303
    assert fresh_conversation(page.id).snoozed_until == datetime(2026, 1, 9, 17, 30, tzinfo=UTC)


REFUSALS: list[tuple[str, dict[str, str], str, str]] = [
    ("snooze", {"preset": "custom", "until": "2026-01-01T10:00"}, "snooze", "in the future"),
    ("snooze", {"preset": "custom", "until": "soon"}, "snooze", "is not a date and time"),
    ("snooze", {"preset": "custom", "until": ""}, "snooze", "choose when to wake"),
    ("tags", {"tag": "!!"}, "tags", "must be 1-60 letters"),
    ("assign", {"assignee": "99999"}, "assign", "member 99999 does not exist"),
    ("priority", {"priority": "asap"}, "priority", "priority must be one of low"),
    ("team", {"team": "12345"}, "team", "team 12345 does not exist"),
    ("status", {"status": "snoozed"}, "status", "use the snooze form"),
]


@pytest.mark.parametrize("htmx", [False, True])
def test_refusals_are_shown_beside_their_form(page: Page, session: Session, htmx: bool) -> None:
    before = fresh_conversation(page.id).priority  # as triage set it at ingest
    for action, data, form, message in REFUSALS:
        response = page.post(action, htmx=htmx, **data)
        assert response.status_code == 422, (action, data)
        error = re.search(rf'role="alert" id="error-{form}">([^<]*)</p>', response.text)
        assert error, (action, data)
        assert message in error.group(1).replace("&#39;", "'"), (action, data)
        assert ("<html" in response.text) is not htmx  # the whole page without HTMX
    conversation = fresh_conversation(page.id)
    assert conversation.status == "open"
    assert conversation.assignee_id is None
    assert conversation.priority == before


def test_tags_are_added_normalised_and_removed(page: Page, session: Session) -> None:
    response = page.post("tags", htmx=True, tag="#Billing")
    assert response.status_code == 200
    assert "#billing" in response.text
    assert tags_of(page.id) == ["billing"]
    assert page.post("tags/remove", tag="billing").status_code == 303
    assert tags_of(page.id) == []
    html = page.html()
    assert "tagged it #billing" in html
    assert "removed tag #billing" in html
