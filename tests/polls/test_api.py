"""The polls API: agents ask from accounts whose network takes polls; the code of conduct
refuses, questions or holds as it does a reply; approvers decide; the counts come back with
each poll; another organization's poll is a 404. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Organization, Role
from socialdesk.channels.models import BrandAccount
from socialdesk.common.clock import FrozenClock
from socialdesk.connectors import registry
from socialdesk.policy import service as policy_service
from socialdesk.polls import service as polls
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories.connectors import PollingConnector, WithdrawingPollConnector, tally
from tests.factories.conversations import inbound, ingest
from tests.factories.polls import RULES
from tests.polls.conftest import Desk, bearer


@pytest.fixture
def network() -> Iterator[PollingConnector]:
    connector = PollingConnector()
    with registry.override(connector):
        yield connector


@pytest.fixture
def mastodon_id(session: Session, desk: Desk) -> int:
    org = session.get_one(Organization, desk.a.organization_id)
    account = channels.brand_account(session, org, kind="mastodon")
    policy_service.save(session, organization_id=org.id, yaml_text=RULES, author=desk.a.owner)
    session.commit()
    return account.id


def _ask(
    mastodon_id: int, question: str = "Which opening hours suit you?", **extra: object
) -> dict[str, object]:
    return {
        "brand_account_id": mastodon_id,
        "question": question,
        "options": ["Early", "Late"],
        "seconds": 3600,
        **extra,
    }


def test_a_poll_is_asked_posted_and_counted(
    client: TestClient,
    desk: Desk,
    session: Session,
    jobs: JobRunner,
    network: PollingConnector,
    clock: FrozenClock,
    mastodon_id: int,
) -> None:
    agent = bearer(desk.a.agent_token)
    made = client.post("/api/polls", headers=agent, json=_ask(mastodon_id))
    assert made.status_code == 201, made.text
    poll = made.json()
    assert poll["state"] == "queued"
    assert [c["title"] for c in poll["choices"]] == ["Early", "Late"]
    assert poll["created_by_id"] == desk.a.agent.id
    jobs.run_pending()
    network.tallies["p1"] = [tally("p1", (1, 3))]
    clock.advance(polls.COUNT_EVERY)
    session.commit()
    polls.count_open()
    read = client.get(f"/api/polls/{poll['id']}", headers=bearer(desk.a.viewer_token)).json()
    assert read["state"] == "open"
    assert read["url"] == "https://mastodon.example/@brand/1"
    assert read["choices"] == [
        {"title": "Early", "votes": 1, "share": 0.25, "leading": False},
        {"title": "Late", "votes": 3, "share": 0.75, "leading": True},
    ]
    assert (read["votes_count"], read["voters_count"]) == (4, 4)
    assert read["closes_at"] is not None
    assert read["counted_at"] is not None
    listed = client.get("/api/polls", headers=agent, params={"limit": 1}).json()
    assert [p["id"] for p in listed["items"]] == [poll["id"]]
    assert listed["next_cursor"] is None


def test_refusals_name_what_was_wrong(
    client: TestClient, desk: Desk, network: PollingConnector, mastodon_id: int
) -> None:
    agent = bearer(desk.a.agent_token)
    blocked = client.post("/api/polls", headers=agent, json=_ask(mastodon_id, "Beer or cider?"))
    assert blocked.status_code == 422
    error = blocked.json()["error"]
    assert error["field"] == "question"
    assert [r["rule"] for r in error["reasons"]] == ["no-alcohol"]
    warned = client.post("/api/polls", headers=agent, json=_ask(mastodon_id, "Us or AcmeCorp?"))
    assert warned.status_code == 409
    assert warned.json()["error"]["reasons"][0]["rule"] == "careful-competitors"
    confirmed = client.post(
        "/api/polls", headers=agent, json=_ask(mastodon_id, "Us or AcmeCorp?", confirm=True)
    )
    assert confirmed.status_code == 201, confirmed.text
    too_many = client.post(
        "/api/polls", headers=agent, json=_ask(mastodon_id, options=["a", "b", "c", "d", "e"])
    )
    assert too_many.status_code == 422
    assert too_many.json()["error"]["field"] == "options"
    web = client.post("/api/polls", headers=agent, json=_ask(desk.a.brand_account_id))
    assert web.status_code == 422
    assert "cannot post polls" in web.json()["error"]["message"]
    not_a_number = client.post("/api/polls", headers=agent, json=_ask(mastodon_id, seconds=True))
    assert not_a_number.status_code == 422
    viewer = client.post("/api/polls", headers=bearer(desk.a.viewer_token), json=_ask(mastodon_id))
    assert viewer.status_code == 403


def test_approvers_decide_on_held_polls(
    client: TestClient, desk: Desk, jobs: JobRunner, network: PollingConnector, mastodon_id: int
) -> None:
    agent = bearer(desk.a.agent_token)
    owner = bearer(desk.a.owner_token)
    held = client.post("/api/polls", headers=agent, json=_ask(mastodon_id, "A new price plan?"))
    assert held.status_code == 201, held.text
    poll = held.json()
    assert poll["state"] == "held"
    assert [r["rule"] for r in poll["reasons"]] == ["prices-need-approval"]
    assert client.post(f"/api/polls/{poll['id']}/approve", headers=agent, json={}).status_code == (
        403
    )
    refused = client.post(f"/api/polls/{poll['id']}/reject", headers=owner, json={})
    assert refused.status_code == 422
    assert refused.json()["error"]["field"] == "comment"
    approved = client.post(
        f"/api/polls/{poll['id']}/approve", headers=owner, json={"comment": "Go"}
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["state"] == "queued"
    assert approved.json()["decided_by_id"] == desk.a.owner.id
    again = client.post(f"/api/polls/{poll['id']}/approve", headers=owner, json={})
    assert again.status_code == 409
    jobs.run_pending()
    assert len(network.polls) == 1


def test_a_failed_poll_is_tried_again(
    client: TestClient, desk: Desk, jobs: JobRunner, network: PollingConnector, mastodon_id: int
) -> None:
    from tests.factories.connectors import permanent

    agent = bearer(desk.a.agent_token)
    network.failures = [permanent("422: the instance refused the poll")]
    poll = client.post("/api/polls", headers=agent, json=_ask(mastodon_id)).json()
    jobs.run_pending()
    failed = client.get(f"/api/polls/{poll['id']}", headers=agent).json()
    assert (failed["state"], failed["error"]) == ("failed", "422: the instance refused the poll")
    retried = client.post(f"/api/polls/{poll['id']}/retry", headers=agent)
    assert retried.status_code == 200, retried.text
    jobs.run_pending()
    assert client.get(f"/api/polls/{poll['id']}", headers=agent).json()["state"] == "open"


def test_another_organizations_poll_is_a_404(
    client: TestClient, desk: Desk, network: PollingConnector, mastodon_id: int
) -> None:
    poll = client.post("/api/polls", headers=bearer(desk.a.agent_token), json=_ask(mastodon_id))
    poll_id = poll.json()["id"]
    stranger = bearer(desk.b.owner_token)
    assert client.get(f"/api/polls/{poll_id}", headers=stranger).status_code == 404
    assert client.post(f"/api/polls/{poll_id}/retry", headers=stranger).status_code == 404
    assert client.get("/api/polls", headers=stranger).json()["items"] == []
    across = client.post("/api/polls", headers=stranger, json=_ask(mastodon_id))
    assert across.status_code == 422
    assert across.json()["error"]["field"] == "brand_account_id"
    huge = client.get("/api/polls/99999999999999999999", headers=stranger)
    assert huge.status_code == 422


def test_a_long_poll_stays_open_as_long_as_the_network_allows(
    client: TestClient, desk: Desk, network: PollingConnector, mastodon_id: int
) -> None:
    week = int(timedelta(days=7).total_seconds())
    made = client.post(
        "/api/polls", headers=bearer(desk.a.agent_token), json=_ask(mastodon_id, seconds=week)
    )
    assert made.status_code == 201, made.text
    assert made.json()["seconds"] == week


def test_a_poll_says_how_many_replies_its_post_has(
    client: TestClient,
    desk: Desk,
    session: Session,
    jobs: JobRunner,
    network: PollingConnector,
    mastodon_id: int,
) -> None:
    agent = bearer(desk.a.agent_token)
    made = client.post("/api/polls", headers=agent, json=_ask(mastodon_id))
    assert made.status_code == 201, made.text
    assert made.json()["replies_count"] == 0
    poll_id = made.json()["id"]
    jobs.run_pending()
    post_id = client.get(f"/api/polls/{poll_id}", headers=agent).json()["post_id"]
    assert post_id
    ours = session.get_one(BrandAccount, mastodon_id)
    ingest(session, ours, inbound(reply_to=post_id, author="ana", text="Late, please"))
    ingest(session, ours, inbound(reply_to=post_id, author="ben", text="Early"))
    # Organization B's account answering a post of the same id is not ours.
    theirs = channels.brand_account(
        session, session.get_one(Organization, desk.b.organization_id), kind="mastodon"
    )
    ingest(session, theirs, inbound(reply_to=post_id, author="cy", text="Mine"))
    session.commit()
    read = client.get(f"/api/polls/{poll_id}", headers=bearer(desk.a.viewer_token)).json()
    assert read["replies_count"] == 2
    listed = client.get("/api/polls", headers=agent).json()["items"]
    assert [(p["id"], p["replies_count"]) for p in listed] == [(poll_id, 2)]


def test_a_polls_replies_are_read_page_by_page_with_their_mood(
    client: TestClient,
    desk: Desk,
    session: Session,
    jobs: JobRunner,
    network: PollingConnector,
    mastodon_id: int,
) -> None:
    agent = bearer(desk.a.agent_token)
    made = client.post("/api/polls", headers=agent, json=_ask(mastodon_id))
    poll_id = made.json()["id"]
    empty = client.get(f"/api/polls/{poll_id}/replies", headers=agent).json()
    assert (empty["items"], empty["count"], empty["triaged"]) == ([], 0, 0)
    jobs.run_pending()
    post_id = client.get(f"/api/polls/{poll_id}", headers=agent).json()["post_id"]
    ours = session.get_one(BrandAccount, mastodon_id)
    texts = ["Late, please", "Early works for me", "Why not both?"]
    for n, text in enumerate(texts):
        ingest(session, ours, inbound(reply_to=post_id, author=f"a{n}", text=text))
    session.commit()

    viewer = bearer(desk.a.viewer_token)
    first = client.get(f"/api/polls/{poll_id}/replies?limit=2", headers=viewer)
    assert first.status_code == 200, first.text
    page = first.json()
    assert page["count"] == 3
    assert [r["text"] for r in page["items"]] == ["Why not both?", "Early works for me"]
    assert page["next_cursor"]
    rest = client.get(
        f"/api/polls/{poll_id}/replies",
        headers=viewer,
        params={"limit": 2, "cursor": page["next_cursor"]},
    ).json()
    assert [r["text"] for r in rest["items"]] == ["Late, please"]
    assert rest["next_cursor"] is None
    reply = rest["items"][0]
    assert reply["author_handle"] == "@a0"
    assert reply["conversation_id"] > 0
    # Ingest triaged every reply: the mood counts all three, by the labels each carries.
    assert page["triaged"] == 3
    assert sum(page["sentiments"].values()) == 3
    assert sum(page["intents"].values()) == 3
    labelled = [r["sentiment"] for r in page["items"] + rest["items"]]
    for label in set(labelled):
        assert page["sentiments"][label] == labelled.count(label)
    # Another organization's member does not see them.
    other = client.get(f"/api/polls/{poll_id}/replies", headers=bearer(desk.b.agent_token))
    assert other.status_code == 404


def test_a_posted_poll_is_withdrawn_with_a_reason(
    client: TestClient,
    desk: Desk,
    session: Session,
    jobs: JobRunner,
    mastodon_id: int,
) -> None:
    network = WithdrawingPollConnector()
    agent = bearer(desk.a.agent_token)
    with registry.override(network):
        poll = client.post("/api/polls", headers=agent, json=_ask(mastodon_id)).json()
        url = f"/api/polls/{poll['id']}/withdraw"
        early = client.post(url, headers=agent, json={"reason": "Wrong account"})
        assert early.status_code == 409  # queued: not posted yet
        assert "not posted yet" in early.json()["error"]["message"]
        jobs.run_pending()
        assert poll["withdrawal"] is None
        for body in ({}, {"reason": "   "}, {"reason": "x" * 501}):
            refused = client.post(url, headers=agent, json=body)
            assert refused.status_code == 422, body
            assert refused.json()["error"]["field"] == "reason"
        viewer = client.post(url, headers=bearer(desk.a.viewer_token), json={"reason": "No"})
        assert viewer.status_code == 403
        stranger = client.post(url, headers=bearer(desk.b.owner_token), json={"reason": "No"})
        assert stranger.status_code == 404

        asked = client.post(url, headers=agent, json={"reason": " Wrong account "})
        assert asked.status_code == 202, asked.text
        pending = asked.json()
        assert pending["state"] == "open"
        assert pending["withdrawal"] == {
            "state": "pending",
            "reason": "Wrong account",
            "error": None,
            "requested_by": {
                "id": desk.a.agent.id,
                "name": desk.a.agent.name,
                "initials": desk.a.agent.initials,
            },
            "requested_at": "2026-01-05T09:00:00+00:00",
            "withdrawn_at": None,
        }
        jobs.run_pending()
        done = client.get(f"/api/polls/{poll['id']}", headers=agent).json()
        assert done["state"] == "withdrawn"
        assert done["withdrawal"]["state"] == "withdrawn"
        assert done["withdrawal"]["withdrawn_at"] is not None
        assert network.withdrawn == [done["post_id"]]
        listed = client.get("/api/polls", headers=agent).json()["items"]
        assert [p["withdrawal"]["state"] for p in listed] == ["withdrawn"]
        again = client.post(url, headers=agent, json={"reason": "Again"})
        assert again.status_code == 202
        assert again.json()["withdrawal"]["reason"] == "Wrong account"
        assert len(network.withdrawn) == 1


def test_a_colleague_may_not_withdraw_a_poll_and_an_owner_may(
    client: TestClient, session: Session, desk: Desk, jobs: JobRunner, mastodon_id: int
) -> None:
    network = WithdrawingPollConnector()
    with registry.override(network):
        poll = client.post(
            "/api/polls", headers=bearer(desk.a.agent_token), json=_ask(mastodon_id)
        ).json()
        jobs.run_pending()
        org = session.get_one(Organization, desk.a.organization_id)
        colleague = accounts.member(session, org, role=Role.AGENT)
        token = accounts_service.create_api_token(session, member=colleague, name="t").token
        session.commit()
        url = f"/api/polls/{poll['id']}/withdraw"
        refused = client.post(url, headers=bearer(token), json={"reason": "Typo"})
        assert refused.status_code == 403
        assert "only the poll's author, or an owner or admin" in refused.json()["error"]["message"]
        allowed = client.post(url, headers=bearer(desk.a.owner_token), json={"reason": "Typo"})
        assert allowed.status_code == 202, allowed.text
        assert allowed.json()["withdrawal"]["requested_by"]["id"] == desk.a.owner.id


def test_a_network_that_cannot_delete_refuses_to_withdraw(
    client: TestClient, desk: Desk, jobs: JobRunner, network: PollingConnector, mastodon_id: int
) -> None:
    agent = bearer(desk.a.agent_token)
    poll = client.post("/api/polls", headers=agent, json=_ask(mastodon_id)).json()
    jobs.run_pending()
    refused = client.post(f"/api/polls/{poll['id']}/withdraw", headers=agent, json={"reason": "x"})
    assert refused.status_code == 409
    assert refused.json()["error"]["message"] == (
        "Mastodon polls cannot be taken back from the desk once posted"
    )
