"""The escalations panel of a conversation and the requests page, through the desk's forms."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Role
from socialdesk.conversations.models import Conversation
from socialdesk.db.session import get_sessionmaker
from socialdesk.escalations.models import EscalationRequest
from tests.escalations.conftest import Desk
from tests.factories import accounts
from tests.web.conftest import login

HX = {"HX-Request": "true"}


def _requests() -> list[EscalationRequest]:
    with get_sessionmaker(write=False)() as reader:
        return list(reader.scalars(select(EscalationRequest).order_by(EscalationRequest.id)))


def _conversation(conversation_id: int) -> Conversation:
    with get_sessionmaker(write=False)() as reader:
        return reader.get_one(Conversation, conversation_id)


def test_the_panel_asks_billing_then_billing_marks_it_done(client: TestClient, desk: Desk) -> None:
    cid = desk.conversation.id
    csrf = login(client, desk.alex)
    panel = client.get(f"/conversations/{cid}/panels/escalations", headers=HX)
    assert panel.status_code == 200
    assert "No open requests." in panel.text
    assert f'<option value="{desk.billing.id}">Billing</option>' in panel.text
    assert "Alex Agent</option>" not in panel.text  # nobody asks themselves
    assert "Bo Billing</option>" in panel.text

    made = client.post(
        f"/conversations/{cid}/escalations",
        data={
            "csrf_token": csrf,
            "team_id": str(desk.billing.id),
            "member_id": "",
            "text": "Please refund order 123",
            "due": "2026-01-05T17:30",
        },
        headers=HX,
    )
    assert made.status_code == 200, made.text
    assert "Please refund order 123" in made.text
    assert "<strong>Billing</strong>" in made.text
    assert "Due Mon 05 Jan 2026, 17:30" in made.text
    (request,) = _requests()
    assert request.due_at is not None
    assert request.due_at.isoformat() == "2026-01-05T17:30:00+00:00"  # the org's zone (UTC)
    assert _conversation(cid).assignee_id == desk.alex.id

    client.cookies.clear()
    csrf = login(client, desk.bo)
    done = client.post(
        f"/conversations/{cid}/escalations/{request.id}/done",
        data={"csrf_token": csrf, "resolution": "Refunded 42.00"},
        headers=HX,
    )
    assert done.status_code == 200
    assert "No open requests." in done.text
    assert "Done by Bo Billing" in done.text
    assert "Refunded 42.00" in done.text
    assert _requests()[0].status == "done"


def test_a_refusal_is_shown_beside_the_form_with_what_was_typed(
    client: TestClient, desk: Desk
) -> None:
    cid = desk.conversation.id
    csrf = login(client, desk.alex)
    refused = client.post(
        f"/conversations/{cid}/escalations",
        data={"csrf_token": csrf, "team_id": str(desk.field.id), "text": "Send a technician"},
        headers=HX,
    )
    assert refused.status_code == 422
    assert "nobody would hear of this" in refused.text
    assert "Send a technician</textarea>" in refused.text  # kept for another try
    assert '<details class="esc-new" open>' in refused.text
    past = client.post(
        f"/conversations/{cid}/escalations",
        data={
            "csrf_token": csrf,
            "team_id": str(desk.billing.id),
            "text": "x",
            "due": "yesterday",
        },
        headers=HX,
    )
    assert past.status_code == 422
    assert "is not a date and time" in past.text
    assert _requests() == []


def test_without_javascript_forms_redirect_or_show_the_panel_alone(
    client: TestClient, desk: Desk
) -> None:
    cid = desk.conversation.id
    csrf = login(client, desk.alex)
    made = client.post(
        f"/conversations/{cid}/escalations",
        data={"csrf_token": csrf, "member_id": str(desk.bo.id), "text": "A look please"},
    )
    assert made.status_code == 303
    assert made.headers["location"] == f"/conversations/{cid}"
    (request,) = _requests()
    cancelled = client.post(
        f"/conversations/{cid}/escalations/{request.id}/cancel",
        data={"csrf_token": csrf, "reason": ""},
    )
    assert cancelled.status_code == 303
    again = client.post(
        f"/conversations/{cid}/escalations/{request.id}/cancel", data={"csrf_token": csrf}
    )
    assert again.status_code == 422
    assert "already cancelled" in again.text
    assert "Back to the conversation" in again.text


def test_the_panel_offers_only_what_the_member_may_do(
    client: TestClient, desk: Desk, session: Session
) -> None:
    pat = accounts.member(session, desk.org, role=Role.AGENT, name="Pat Bystander")
    session.commit()
    cid = desk.conversation.id
    csrf = login(client, desk.alex)
    client.post(
        f"/conversations/{cid}/escalations",
        data={"csrf_token": csrf, "team_id": str(desk.billing.id), "text": "Refund order 123"},
        headers=HX,
    )
    (request,) = _requests()
    done_form = f"/conversations/{cid}/escalations/{request.id}/done"
    cancel_form = f"/conversations/{cid}/escalations/{request.id}/cancel"
    panel = client.get(f"/conversations/{cid}/panels/escalations", headers=HX).text
    assert done_form in panel
    assert cancel_form in panel

    client.cookies.clear()
    csrf = login(client, desk.bo)
    panel = client.get(f"/conversations/{cid}/panels/escalations", headers=HX).text
    assert done_form in panel
    assert cancel_form not in panel

    client.cookies.clear()
    csrf = login(client, pat)
    panel = client.get(f"/conversations/{cid}/panels/escalations", headers=HX).text
    assert "Refund order 123" in panel  # everyone sees it
    assert done_form not in panel
    assert cancel_form not in panel
    refused = client.post(done_form, data={"csrf_token": csrf, "resolution": "x"}, headers=HX)
    assert "can be marked done by whoever was asked" in refused.text
    assert _requests()[0].status == "open"


def test_viewers_see_the_panel_without_forms_and_cannot_post(
    client: TestClient, desk: Desk
) -> None:
    cid = desk.conversation.id
    csrf = login(client, desk.viewer)
    panel = client.get(f"/conversations/{cid}/panels/escalations", headers=HX)
    assert panel.status_code == 200
    assert "Ask another team or person" not in panel.text
    refused = client.post(
        f"/conversations/{cid}/escalations",
        data={"csrf_token": csrf, "team_id": str(desk.billing.id), "text": "x"},
    )
    assert refused.status_code == 403
    assert _requests() == []


def test_forms_need_the_csrf_token(client: TestClient, desk: Desk) -> None:
    cid = desk.conversation.id
    login(client, desk.alex)
    for token in (None, "forged"):
        data = {"team_id": str(desk.billing.id), "text": "x"}
        if token:
            data["csrf_token"] = token
        assert client.post(f"/conversations/{cid}/escalations", data=data).status_code == 403
    assert _requests() == []


def test_other_organizations_conversations_and_requests_are_not_found(
    client: TestClient, session: Session, desk: Desk
) -> None:
    cid = desk.conversation.id
    csrf = login(client, desk.alex)
    client.post(
        f"/conversations/{cid}/escalations",
        data={"csrf_token": csrf, "team_id": str(desk.billing.id), "text": "x"},
    )
    (request,) = _requests()
    client.cookies.clear()
    csrf = login(client, desk.stranger)
    other = desk.other_conversation.id
    assert client.get(f"/conversations/{cid}/panels/escalations").status_code == 404
    # Their own conversation with our request's id: not in that conversation.
    done = client.post(
        f"/conversations/{other}/escalations/{request.id}/done",
        data={"csrf_token": csrf, "resolution": "x"},
    )
    assert done.status_code == 404
    assert _requests()[0].status == "open"


def test_the_requests_page_lists_what_is_asked_of_me_and_my_teams(
    client: TestClient, desk: Desk
) -> None:
    cid = desk.conversation.id
    csrf = login(client, desk.alex)
    for data in (
        {"team_id": str(desk.billing.id), "text": "Refund order 123"},
        {"member_id": str(desk.bo.id), "text": "Bo, check the charge"},
    ):
        client.post(f"/conversations/{cid}/escalations", data={"csrf_token": csrf, **data})
    client.cookies.clear()
    login(client, desk.bo)
    me = client.get("/escalations").text
    assert "Bo, check the charge" in me
    assert "Refund order 123" not in me
    teams = client.get("/escalations?scope=teams").text
    assert "Refund order 123" in teams
    assert "Your teams: Billing." in teams
    assert f'href="/conversations/{cid}"' in teams
    assert "Nothing here." in client.get("/escalations?scope=asked").text
    assert client.get("/escalations?scope=everyone").status_code == 422
