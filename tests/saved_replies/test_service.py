"""Saved replies: kept per organization under a unique shortcut, checked when saved (a bad
shortcut, an empty or too long text, an unknown placeholder are refused naming the field, and
nothing is stored), filled in for a conversation with its customer, agent and brand account,
found by words, and judged by the organization's code of conduct before anyone sends them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from socialdesk.accounts import audit
from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import AuditEvent
from socialdesk.common.errors import Conflict, NotFound, ValidationFailed
from socialdesk.conversations import service as conversations_service
from socialdesk.policy import service as policy_service
from socialdesk.saved_replies import service
from socialdesk.saved_replies.models import SavedReply
from socialdesk.saved_replies.service import Draft
from tests.factories import accounts
from tests.saved_replies.conftest import Desk

REFUND = Draft(
    shortcut="/Refund",
    title="  How to get   a refund ",
    text="Hi {name}, you can ask {brand} for a refund at kestrelvalley.example/refund. ^{agent}\n",
)

CONDUCT = """
rules:
  - id: no-alcohol
    explain: "We do not talk about drinking: many in our community abstain."
    action: block
    terms: [beer, wine]
  - id: refunds-need-approval
    explain: "Refund promises need a supervisor's approval."
    action: approve
    terms: [refund]
"""


def _add(desk: Desk, draft: Draft = REFUND) -> SavedReply:
    reply = service.create(desk.session, organization_id=desk.org.id, draft=draft, actor=desk.owner)
    desk.session.commit()
    return reply


def test_a_saved_reply_is_stored_clean_and_audited(desk: Desk) -> None:
    audit.act_as(desk.session, member_id=desk.owner.id, source_address="198.51.100.7")
    reply = _add(desk)
    assert (reply.shortcut, reply.title) == ("refund", "How to get a refund")
    assert reply.text.endswith("^{agent}")  # trimmed, placeholders kept for each use
    assert reply.created_by_id == desk.owner.id
    trail = desk.session.scalars(
        select(AuditEvent).where(AuditEvent.target_type == "saved_reply")
    ).all()
    assert [(e.action, e.target_id, e.before, e.actor_member_id) for e in trail] == [
        ("settings_changed", str(reply.id), None, desk.owner.id)
    ]
    after = trail[0].after
    assert after is not None
    assert after["change"] == "created"
    assert after["id"] == reply.id
    assert (after["shortcut"], after["title"], after["text"]) == (
        "refund",
        "How to get a refund",
        reply.text,
    )
    assert trail[0].source_address == "198.51.100.7"

    service.update(
        desk.session, reply=reply, draft=Draft("refund", "Refunds", reply.text), actor=desk.owner
    )
    desk.session.commit()
    changed = desk.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.target_type == "saved_reply")
        .order_by(AuditEvent.id.desc())
    ).first()
    assert changed is not None
    assert changed.target_id == str(reply.id)
    assert changed.before is not None
    assert changed.before["title"] == "How to get a refund"
    assert "text" not in changed.before  # only what changed
    assert changed.after is not None
    assert (changed.after["title"], changed.after["change"]) == ("Refunds", "changed")


@pytest.mark.parametrize(
    ("draft", "field", "words"),
    [
        (Draft("", "Refund", "Hi"), "shortcut", "must not be empty"),
        (Draft("Bad Shortcut", "Refund", "Hi"), "shortcut", "'Bad Shortcut' may hold only"),
        (Draft("refund--now", "Refund", "Hi"), "shortcut", "single dashes"),
        (Draft("r" * 41, "Refund", "Hi"), "shortcut", "at most 40 characters, not 41"),
        (Draft("refund", " ", "Hi"), "title", "must not be empty"),
        (Draft("refund", "t" * 121, "Hi"), "title", "at most 120 characters, not 121"),
        (Draft("refund", "Refund", " \n "), "text", "must not be empty"),
        (Draft("refund", "Refund", "x" * 5001), "text", "at most 5000 characters, not 5001"),
        (
            Draft("refund", "Refund", "Hi {firstname} and {mood}"),
            "text",
            "unknown placeholders in the text: {firstname}, {mood}; use {name}",
        ),
        (Draft("refund", "Refund", "Hi {name!r}"), "text", "placeholders take no format"),
        (Draft("refund", "Refund", "Hi {name"), "text", "write {{ or }} for a literal brace"),
    ],
)
def test_a_bad_saved_reply_is_refused_naming_the_field(
    desk: Desk, draft: Draft, field: str, words: str
) -> None:
    kept = _add(desk, Draft("kept", "Kept", "Kept as it was"))
    with pytest.raises(ValidationFailed) as refused:
        service.update(desk.session, reply=kept, draft=draft, actor=desk.owner)
    assert refused.value.field == field
    assert words in refused.value.message
    desk.session.rollback()
    again = service.get(desk.session, organization_id=desk.org.id, reply_id=kept.id)
    assert (again.shortcut, again.text) == ("kept", "Kept as it was")


def test_shortcuts_are_unique_within_an_organization_only(desk: Desk) -> None:
    first = _add(desk)
    with pytest.raises(Conflict, match="already has the shortcut 'refund'"):
        service.create(
            desk.session,
            organization_id=desk.org.id,
            draft=Draft("REFUND", "Another", "Hello"),
            actor=desk.owner,
        )
    desk.session.rollback()
    # Saving a reply under its own shortcut is no conflict.
    service.update(
        desk.session, reply=first, draft=Draft("refund", "Refunds", REFUND.text), actor=None
    )
    other = accounts.organization(desk.session, name="Other transit")
    theirs = service.create(desk.session, organization_id=other.id, draft=REFUND, actor=None)
    desk.session.commit()
    assert theirs.shortcut == "refund"
    with pytest.raises(NotFound):
        service.get(desk.session, organization_id=desk.org.id, reply_id=theirs.id)
    assert [r.id for r in service.search(desk.session, organization_id=desk.org.id)] == [first.id]


def test_a_saved_reply_is_filled_in_for_the_conversation_and_its_agent(desk: Desk) -> None:
    reply = _add(desk)
    conversation = desk.write("Can I get my money back?", account=desk.x, author="lucia_r")
    text = service.fill_in(desk.session, reply=reply, conversation=conversation, agent=desk.ana)
    brand = desk.x.display_name or desk.x.handle
    assert text == (
        f"Hi Lucia_R, you can ask {brand} for a refund at "
        f"kestrelvalley.example/refund. ^{desk.ana.name}"
    )
    # Another organization's saved reply is not there for this conversation.
    other = accounts.organization(desk.session, name="Other transit")
    theirs = service.create(desk.session, organization_id=other.id, draft=REFUND, actor=None)
    with pytest.raises(NotFound):
        service.fill_in(desk.session, reply=theirs, conversation=conversation, agent=desk.ana)


def test_search_finds_every_word_and_puts_matching_shortcuts_first(desk: Desk) -> None:
    _add(desk)
    _add(desk, Draft("lost-card", "Lost card", "Hi {name}, a refund of the card fee..."))
    _add(desk, Draft("delay", "Tram delay", "Sorry {name}, the tram 4 runs late today."))
    _add(desk, Draft("percent", "Fare rise", "Fares rise by 5% from January; 100_000 riders"))

    def found(query: str) -> list[str]:
        return [
            r.shortcut
            for r in service.search(desk.session, organization_id=desk.org.id, query=query)
        ]

    assert found("") == ["delay", "lost-card", "percent", "refund"]
    assert found("/ref") == ["refund", "lost-card"]  # its shortcut first, then by text
    assert found("refund card") == ["lost-card"]
    assert found("TRAM") == ["delay"]
    # % and _ are letters to search for, not patterns.
    assert found("5%") == ["percent"]
    assert found("0_0") == ["percent"]
    assert found("%") == ["percent"]
    assert found("nothing-like-it") == []


def test_the_code_of_conduct_judges_saved_replies_before_anyone_sends_them(desk: Desk) -> None:
    refund = _add(desk)
    beer = _add(desk, Draft("party", "Party", "Come and have a beer with {agent}!"))
    fine = _add(desk, Draft("thanks", "Thanks", "Thank you {name}!"))
    replies = [refund, beer, fine]
    assert service.conduct(desk.session, organization_id=desk.org.id, replies=replies) == {}

    policy_service.save(
        desk.session, organization_id=desk.org.id, yaml_text=CONDUCT, author=desk.owner
    )
    desk.session.commit()
    judged = service.conduct(desk.session, organization_id=desk.org.id, replies=replies)
    assert {reply_id: str(d.outcome) for reply_id, d in judged.items()} == {
        refund.id: "approve",
        beer.id: "block",
        fine.id: "allow",
    }
    assert [v.rule for v in judged[beer.id].violations] == ["no-alcohol"]
    assert "abstain" in judged[beer.id].violations[0].explain


def test_deleting_a_saved_reply_keeps_it_in_the_audit_trail(desk: Desk) -> None:
    reply = _add(desk)
    reply_id = reply.id
    service.delete(desk.session, reply=reply)
    desk.session.commit()
    with pytest.raises(NotFound):
        service.get(desk.session, organization_id=desk.org.id, reply_id=reply_id)
    last = desk.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.target_type == "saved_reply")
        .order_by(AuditEvent.id.desc())
    ).first()
    assert last is not None
    assert (last.before or {})["shortcut"] == "refund"
    assert last.after == {"change": "deleted"}


def test_a_teams_saved_replies_are_at_hand_for_its_members_and_on_its_conversations(
    desk: Desk,
) -> None:
    """Ana is in Care, nobody is in Billing: Billing's answers reach her only on a
    conversation that Billing owns."""
    everyone = _add(desk, Draft("hello", "Hello", "Hello {name}"))
    care = _add(desk, Draft("delay", "Delays", "Sorry for the delay", team_id=desk.care.id))
    billing = _add(desk, Draft("refund", "Refunds", "A refund", team_id=desk.billing.id))
    conversation = desk.write("Where is my refund?", account=desk.x, route=False)

    def offered() -> list[str]:
        only = service.at_hand(member=desk.ana, conversation=conversation)
        return [
            r.shortcut for r in service.search(desk.session, organization_id=desk.org.id, only=only)
        ]

    assert offered() == ["delay", "hello"]
    conversations_service.set_team(
        desk.session, conversation=conversation, team_id=desk.billing.id, actor=desk.owner
    )
    desk.session.commit()
    assert offered() == ["delay", "hello", "refund"]
    # The settings page and the API's plain list show them all.
    every = service.search(desk.session, organization_id=desk.org.id)
    assert {r.id for r in every} == {everyone.id, care.id, billing.id}

    # Moving one to everyone is a change like any other, kept in the audit trail.
    service.update(
        desk.session, reply=billing, draft=Draft("refund", "Refunds", "A refund"), actor=None
    )
    desk.session.commit()
    assert billing.team_id is None
    last = desk.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.target_type == "saved_reply", AuditEvent.target_id == str(billing.id))
        .order_by(AuditEvent.id.desc())
    ).first()
    assert last is not None
    assert last.before is not None
    assert last.after is not None
    assert (last.before["team_id"], last.after["team_id"]) == (desk.billing.id, None)


def test_a_saved_reply_for_a_team_of_another_organization_is_refused(desk: Desk) -> None:
    other = accounts.organization(desk.session, name="Other transit")
    theirs = accounts_service.create_team(desk.session, organization_id=other.id, name="Care")
    desk.session.commit()
    for team_id in (theirs.id, 999_999):
        with pytest.raises(NotFound) as refused:
            service.create(
                desk.session,
                organization_id=desk.org.id,
                draft=Draft("refund", "Refunds", "A refund", team_id=team_id),
                actor=desk.owner,
            )
        assert refused.value.field == "team_id"
        assert f"team {team_id} does not exist" in refused.value.message
        desk.session.rollback()
    assert service.search(desk.session, organization_id=desk.org.id) == []
