"""The code-of-conduct REST API: checking drafts, editing the policy, starters, the back-test and
the approval queue, with its permissions and the fence between organizations."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Organization, Role
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations.models import DeliveryState, Message
from socialdesk.db.session import get_sessionmaker
from tests.api.conftest import Org, bearer, build_org
from tests.conftest import JobRunner
from tests.factories import accounts

POLICY = """\
rules:
  - id: no-alcohol
    explain: "We do not talk about drinking: many in our community abstain."
    action: block
    terms: [beer, wine, vodka, booze, drunk, cocktail]
  - id: refunds-need-approval
    explain: "Refund promises need a supervisor's approval."
    action: approve
    terms: [refund]
  - id: careful-fault
    explain: "Do not admit fault in public."
    action: warn
    terms: [fault]
"""

# The second rule has no action: line 6 of this text.
BROKEN = """\
rules:
  - id: fine
    explain: ok
    action: block
    terms: [beer]
  - id: broken-rule
    explain: "missing its action"
    terms: [wine]
"""


@dataclass(frozen=True)
class Desk:
    a: Org
    b: Org
    approver_token: str
    b_approver_token: str


@pytest.fixture
def desk(session: Session, clock: FrozenClock) -> Desk:
    a = build_org(session, clock, "A")
    b = build_org(session, clock, "B")
    tokens = []
    for org in (a, b):
        org_row = session.get_one(Organization, org.organization_id)
        approver = accounts.member(session, org_row, role=Role.APPROVER, name="Pat Approver")
        tokens.append(
            accounts_service.create_api_token(session, member=approver, name="approver").token
        )
    session.commit()
    return Desk(a=a, b=b, approver_token=tokens[0], b_approver_token=tokens[1])


@pytest.fixture
def client(database_url: str, clock: FrozenClock) -> Iterator[TestClient]:
    from socialdesk.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


def _put_policy(client: TestClient, org: Org, text: str = POLICY, comment: str = "v") -> None:
    response = client.put(
        "/api/policy", json={"yaml": text, "comment": comment}, headers=bearer(org.owner_token)
    )
    assert response.status_code == 200, response.text


def test_check_returns_the_decision_spans_and_reasons(client: TestClient, desk: Desk) -> None:
    _put_policy(client, desk.a)
    text = "Beer and burgers on the weekend yum yum"
    response = client.post(
        "/api/policy/check",
        json={"text": text, "brand_account_id": desk.a.brand_account_id},
        headers=bearer(desk.a.agent_token),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["decision"] == "block"
    (violation,) = [v for v in body["violations"] if v["rule"] == "no-alcohol"]
    assert text[violation["start"] : violation["end"]] == "Beer"
    assert violation["action"] == "block"
    assert "drinking" in violation["explain"]
    assert body["length"] == len(text)
    if body["limit"] is not None:
        assert body["remaining"] == body["limit"] - body["length"]


def test_check_by_channel_uses_the_channel_limit(client: TestClient, desk: Desk) -> None:
    _put_policy(client, desk.a)
    response = client.post(
        "/api/policy/check",
        json={"text": "Can we offer a refund? " + "x" * 300, "channel": "bluesky"},
        headers=bearer(desk.a.viewer_token),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["limit"] == 300
    assert body["remaining"] == 300 - body["length"] < 0
    assert body["decision"] == "block"  # too long beats needing approval
    assert {v["rule"] for v in body["violations"]} >= {"refunds-need-approval"}


def test_check_needs_an_account_or_a_channel(client: TestClient, desk: Desk) -> None:
    response = client.post(
        "/api/policy/check", json={"text": "hello"}, headers=bearer(desk.a.agent_token)
    )
    assert response.status_code == 422
    assert "brand_account_id or channel" in response.json()["error"]["message"]


def test_a_broken_policy_names_the_rule_and_line_and_keeps_the_old_one(
    client: TestClient, desk: Desk
) -> None:
    _put_policy(client, desk.a, comment="first")
    response = client.put(
        "/api/policy", json={"yaml": BROKEN, "comment": "oops"}, headers=bearer(desk.a.owner_token)
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["rule"] == "broken-rule"
    assert error["line"] == 6
    assert "broken-rule" in error["message"]
    assert "line 6" in error["message"]
    current = client.get("/api/policy", headers=bearer(desk.a.agent_token)).json()
    assert current["yaml"] == POLICY
    assert current["version"]["version"] == 1
    assert current["version"]["comment"] == "first"


def test_versions_are_kept_and_viewable(client: TestClient, desk: Desk) -> None:
    _put_policy(client, desk.a, comment="first")
    second = POLICY.replace("[refund]", "[refund, compensation]")
    _put_policy(client, desk.a, text=second, comment="compensation too")
    listed = client.get("/api/policy/versions", headers=bearer(desk.a.agent_token)).json()
    assert [(v["version"], v["comment"]) for v in listed] == [
        (2, "compensation too"),
        (1, "first"),
    ]
    assert listed[0]["created_by"] == desk.a.owner.name
    old = client.get(
        f"/api/policy/versions/{listed[1]['id']}", headers=bearer(desk.a.agent_token)
    ).json()
    assert old["yaml"] == POLICY
    # Another organization cannot see it.
    across = client.get(
        f"/api/policy/versions/{listed[1]['id']}", headers=bearer(desk.b.owner_token)
    )
    assert across.status_code == 404


def test_brand_account_refinement(client: TestClient, desk: Desk) -> None:
    _put_policy(client, desk.a)
    path = f"/api/brand-accounts/{desk.a.brand_account_id}/policy"
    assert client.get(path, headers=bearer(desk.a.agent_token)).json()["yaml"] is None
    refinement = (
        "rules:\n  - id: no-coffee\n    explain: Not on this account.\n"
        "    action: warn\n    terms: [coffee]\n"
    )
    saved = client.put(
        path, json={"yaml": refinement, "comment": "shop"}, headers=bearer(desk.a.owner_token)
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["scope"] == f"brand:{desk.a.brand_account_id}"
    checked = client.post(
        "/api/policy/check",
        json={"text": "coffee or beer?", "brand_account_id": desk.a.brand_account_id},
        headers=bearer(desk.a.agent_token),
    ).json()
    assert {v["rule"] for v in checked["violations"]} == {"no-coffee", "no-alcohol"}
    versions = client.get(
        "/api/policy/versions",
        params={"brand_account_id": desk.a.brand_account_id},
        headers=bearer(desk.a.agent_token),
    ).json()
    assert [v["comment"] for v in versions] == ["shop"]
    # Across the fence: another organization's account is a 404, read or write.
    assert client.get(path, headers=bearer(desk.b.owner_token)).status_code == 404
    assert (
        client.put(path, json={"yaml": refinement}, headers=bearer(desk.b.owner_token)).status_code
        == 404
    )


def test_starters_can_be_listed_and_adopted(client: TestClient, desk: Desk) -> None:
    starters = client.get("/api/policy/starters", headers=bearer(desk.a.agent_token)).json()
    names = [s["name"] for s in starters]
    assert "faith" in names
    adopted = client.post("/api/policy/starters/faith/adopt", headers=bearer(desk.a.owner_token))
    assert adopted.status_code == 200, adopted.text
    assert adopted.json()["version"]["comment"] == "adopted the faith starter policy"
    checked = client.post(
        "/api/policy/check",
        json={"text": "Beer and burgers on the weekend yum yum", "channel": "x"},
        headers=bearer(desk.a.agent_token),
    ).json()
    assert checked["decision"] == "block"
    missing = client.post("/api/policy/starters/nope/adopt", headers=bearer(desk.a.owner_token))
    assert missing.status_code == 404
    assert "faith" in missing.json()["error"]["message"]


def _send(client: TestClient, org: Org, text: str) -> int:
    response = client.post(
        f"/api/conversations/{org.conversation_id}/replies",
        json={"text": text},
        headers=bearer(org.agent_token),
    )
    assert response.status_code == 202, response.text
    return int(response.json()["id"])


def test_backtest_lists_what_a_draft_policy_would_have_flagged(
    client: TestClient, desk: Desk, jobs: JobRunner
) -> None:
    _send(client, desk.a, "Your parcel is on its way")
    flagged_id = _send(client, desk.a, "Sorry, that was our fault")  # no policy yet
    _send(client, desk.b, "Our fault entirely")  # another organization: never looked at
    no_policy = client.post("/api/policy/backtest", json={}, headers=bearer(desk.a.owner_token))
    assert no_policy.status_code == 422
    response = client.post(
        "/api/policy/backtest", json={"yaml": POLICY}, headers=bearer(desk.a.owner_token)
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["checked"] == 2
    (hit,) = body["flagged"]
    assert hit["message_id"] == flagged_id
    assert hit["decision"] == "warn"
    (violation,) = hit["violations"]
    assert hit["text"][violation["start"] : violation["end"]] == "fault"
    assert violation["action"] == "warn"
    _put_policy(client, desk.a)
    active = client.post("/api/policy/backtest", json={}, headers=bearer(desk.a.owner_token))
    assert [h["message_id"] for h in active.json()["flagged"]] == [flagged_id]
    broken = client.post(
        "/api/policy/backtest", json={"yaml": BROKEN}, headers=bearer(desk.a.owner_token)
    )
    assert broken.status_code == 422
    assert broken.json()["error"]["line"] == 6


def test_an_agent_cannot_change_the_policy_or_approve(client: TestClient, desk: Desk) -> None:
    _put_policy(client, desk.a)
    agent = bearer(desk.a.agent_token)
    denied = [
        client.put("/api/policy", json={"yaml": POLICY}, headers=agent),
        client.put(
            f"/api/brand-accounts/{desk.a.brand_account_id}/policy",
            json={"yaml": POLICY},
            headers=agent,
        ),
        client.post("/api/policy/starters/faith/adopt", headers=agent),
        client.post("/api/policy/backtest", json={}, headers=agent),
        client.get("/api/approvals", headers=agent),
        client.post("/api/approvals/1/approve", json={}, headers=agent),
        client.post("/api/approvals/1/reject", json={"comment": "no"}, headers=agent),
        # Approvers apply the policy; they do not rewrite it.
        client.put("/api/policy", json={"yaml": POLICY}, headers=bearer(desk.approver_token)),
    ]
    assert [r.status_code for r in denied] == [403] * len(denied)
    assert client.get("/api/policy/versions", headers=agent).json()[0]["version"] == 1


def _message(message_id: int) -> Message:
    with get_sessionmaker(write=False)() as reader:
        found = reader.get(Message, message_id)
        assert found is not None
        return found


def test_the_approval_flow(client: TestClient, desk: Desk, jobs: JobRunner) -> None:
    _put_policy(client, desk.a)
    message_id = _send(client, desk.a, "We will refund you today")
    assert _message(message_id).delivery_state == DeliveryState.HELD.value
    queue = client.get("/api/approvals", headers=bearer(desk.approver_token)).json()
    (item,) = queue
    assert item["message_id"] == message_id
    assert item["requested_by_id"] == desk.a.agent.id
    (reason,) = item["reasons"]
    assert reason["rule"] == "refunds-need-approval"
    assert item["text"][reason["start"] : reason["end"]] == "refund"
    # Not visible, not decidable, from another organization.
    assert client.get("/api/approvals", headers=bearer(desk.b_approver_token)).json() == []
    across = client.post(
        f"/api/approvals/{item['id']}/approve", json={}, headers=bearer(desk.b_approver_token)
    )
    assert across.status_code == 404
    # An edit is checked again: a block is never overridden.
    blocked = client.post(
        f"/api/approvals/{item['id']}/approve",
        json={"text": "A refund and a beer"},
        headers=bearer(desk.approver_token),
    )
    assert blocked.status_code == 422
    assert _message(message_id).delivery_state == DeliveryState.HELD.value
    approved = client.post(
        f"/api/approvals/{item['id']}/approve",
        json={"text": "We will refund you within 5 days", "comment": "softer promise"},
        headers=bearer(desk.approver_token),
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved"
    assert body["approved_text"] == body["text"] == "We will refund you within 5 days"
    assert body["original_text"] == "We will refund you today"
    jobs.run_pending()
    delivered = _message(message_id)
    assert delivered.delivery_state == DeliveryState.SENT.value
    assert delivered.text == "We will refund you within 5 days"
    again = client.post(
        f"/api/approvals/{item['id']}/reject",
        json={"comment": "too late"},
        headers=bearer(desk.approver_token),
    )
    assert again.status_code == 409
    assert client.get("/api/approvals", headers=bearer(desk.approver_token)).json() == []


def test_an_edit_that_brings_a_warning_is_approved_only_when_confirmed(
    client: TestClient, desk: Desk, jobs: JobRunner
) -> None:
    _put_policy(client, desk.a)
    message_id = _send(client, desk.a, "We will refund you today")
    (item,) = client.get("/api/approvals", headers=bearer(desk.approver_token)).json()
    edit = {"text": "We will refund you today, it was our fault", "comment": "owned it"}
    asked = client.post(
        f"/api/approvals/{item['id']}/approve", json=edit, headers=bearer(desk.approver_token)
    )
    assert asked.status_code == 409, asked.text
    error = asked.json()["error"]
    assert error["code"] == "confirm"
    assert error["message"] == "please confirm: Do not admit fault in public."
    assert [(r["rule"], r["decision"]) for r in error["reasons"]] == [("careful-fault", "warn")]
    # The draft stays held as it was, its approval undecided.
    (still,) = client.get("/api/approvals", headers=bearer(desk.approver_token)).json()
    assert (still["status"], still["text"], still["approved_text"]) == (
        "pending",
        "We will refund you today",
        None,
    )
    assert _message(message_id).delivery_state == DeliveryState.HELD.value

    approved = client.post(
        f"/api/approvals/{item['id']}/approve",
        json={**edit, "confirm": True},
        headers=bearer(desk.approver_token),
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved"
    assert body["approved_text"] == "We will refund you today, it was our fault"
    jobs.run_pending()
    assert _message(message_id).delivery_state == DeliveryState.SENT.value


def test_a_rejected_draft_is_never_sent(client: TestClient, desk: Desk, jobs: JobRunner) -> None:
    _put_policy(client, desk.a)
    message_id = _send(client, desk.a, "Full refund, no questions")
    (item,) = client.get("/api/approvals", headers=bearer(desk.approver_token)).json()
    empty = client.post(
        f"/api/approvals/{item['id']}/reject",
        json={"comment": ""},
        headers=bearer(desk.approver_token),
    )
    assert empty.status_code == 422
    rejected = client.post(
        f"/api/approvals/{item['id']}/reject",
        json={"comment": "ask for the order number first"},
        headers=bearer(desk.approver_token),
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["status"] == "rejected"
    jobs.run_pending()
    message = _message(message_id)
    assert message.delivery_state == DeliveryState.REJECTED.value
    assert "ask for the order number first" in (message.delivery_error or "")
    activities = client.get(
        f"/api/conversations/{desk.a.conversation_id}/activities",
        headers=bearer(desk.a.agent_token),
    ).json()
    kinds = [a["kind"] for a in activities["items"]]
    assert "approval_requested" in kinds
    assert "approval_rejected" in kinds
