"""Colleagues mentioned in an internal note: found by full name, email name or a first name
nobody else has; never inside an address or a longer word; told in the desk (and by email,
as they choose), never the author; kept in the trail. The finding is pure text work; the
notes are written on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.flows import deactivate
from socialdesk.accounts.models import Role
from socialdesk.common.errors import ValidationFailed
from socialdesk.conversations import mentions
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Activity
from socialdesk.notifications.models import Notification

TEAMS = [mentions.Team(7, "Field service"), mentions.Team(8, "Ben")]
TEAM = [
    mentions.Colleague(1, "Ana Lopez", "ana.lopez@acme.example"),
    mentions.Colleague(2, "Ben Ode", "ben@acme.example"),
    mentions.Colleague(3, "Ana Silva", "asilva@acme.example"),
    mentions.Colleague(4, "Zoë  Brandt", "zb@acme.example"),
    mentions.Colleague(5, "Li", "li@acme.example"),
]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("@Ana Lopez, can you check the refund?", [(1, "@Ana Lopez")]),
        ("@ana lopez can you", [(1, "@ana lopez")]),  # case does not matter
        ("@Ana can you?", []),  # two colleagues are called Ana
        ("@asilva and @ZOË BRANDT!", [(3, "@asilva"), (4, "@ZOË BRANDT")]),  # spaces folded
        ("@Zoë: see above", [(4, "@Zoë")]),  # the only Zoë
        ("@ben.", [(2, "@ben")]),  # the full stop ends the sentence
        ("@ana.lopez please", [(1, "@ana.lopez")]),  # the address's name
        ("@ben.ode", []),  # goes on past "@ben"
        ("@Benjamin", []),  # a longer word
        ("@ben_o", []),
        ("write to ben@acme.example", []),  # an address, not a mention
        ("x@ben", []),
        ("@@ben", []),
        ("(@ben) and @Li", [(2, "@ben"), (5, "@Li")]),
        ("@Ben Ode @Ben Ode", [(2, "@Ben Ode"), (2, "@Ben Ode")]),
        ("@", []),
        ("no one here", []),
    ],
)
def test_mentions_are_found(text: str, found: list[tuple[int, str]]) -> None:
    assert [(m.member_id, text[m.start : m.end]) for m in mentions.find(text, TEAM)] == found


def test_teams_are_mentioned_by_name_and_a_shared_name_names_nobody() -> None:
    text = "@Field Service anyone near Millbrook? @Ben? @ben.ode? @ana.lopez"
    found = mentions.find(text, TEAM, TEAMS)
    assert [(m.member_id, m.team_id, text[m.start : m.end]) for m in found] == [
        (None, 7, "@Field Service"),
        (1, None, "@ana.lopez"),
    ]
    assert mentions.team_ids(found) == [7]
    assert mentions.member_ids(found) == [1]


def test_each_colleague_is_told_once_in_order() -> None:
    found = mentions.find("@Ben Ode and @ana.lopez, and again @ben", TEAM)
    assert mentions.member_ids(found) == [2, 1]


@given(st.text(alphabet=st.sampled_from("@ aAnBbeLlopzFidlsrvc.,!\n"), max_size=60))
def test_segments_give_back_the_text(text: str) -> None:
    found = mentions.find(text, TEAM, TEAMS)
    pieces = mentions.segments(text, found)
    assert "".join(p.text for p in pieces) == text
    assert [(p.member_id, p.team_id) for p in pieces if p.is_mention] == [
        (m.member_id, m.team_id) for m in found
    ]


def test_a_note_tells_the_colleagues_it_mentions(session: Session) -> None:
    org = accounts.organization(session)
    author = accounts.member(session, org, role=Role.AGENT, name="Priya Shah")
    jonas = accounts.member(session, org, role=Role.AGENT, name="Jonas Berg")
    viewer = accounts.member(session, org, role=Role.VIEWER, name="Vera Lind")
    gone = accounts.member(session, org, role=Role.AGENT, name="Gus Olsen")
    deactivate(session, member=gone, actor=author)
    outsider = accounts.member(session, accounts.organization(session), name="Jonas Berg")
    account = channels.brand_account(session, org, kind="web")
    conversation = ingest(session, account, inbound(text="Lost my laptop on the N3")).conversation

    note = conversations_service.add_note(
        session,
        conversation=conversation,
        author=author,
        text="@Jonas, can you take the depot's call? @Vera Lind FYI. @Gus Olsen left; "
        "@Priya Shah is me.",
    )
    session.flush()

    told = session.scalars(
        select(Notification).where(Notification.kind == conversations_service.NOTE_MENTION)
    ).all()
    # Not the author, not a member who left, not the other organization's Jonas Berg.
    assert sorted(n.member_id for n in told) == sorted([jonas.id, viewer.id])
    first = next(n for n in told if n.member_id == jonas.id)
    assert first.title == "Priya Shah mentioned you in a note"
    assert first.body.startswith("@Jonas, can you take")
    assert first.link == f"/conversations/{conversation.id}#message-{note.id}"
    assert first.conversation_id == conversation.id
    assert outsider.id not in {n.member_id for n in told}

    trail = session.scalars(
        select(Activity).where(
            Activity.conversation_id == conversation.id, Activity.kind == "note_added"
        )
    ).one()
    assert trail.data == {"message_id": note.id, "mentioned": [jonas.id, viewer.id, author.id]}


def test_a_team_mention_tells_its_active_members(session: Session) -> None:
    org = accounts.organization(session)
    author = accounts.member(session, org, name="Priya Shah")
    lukas = accounts.member(session, org, name="Lukas Meyer")
    ines = accounts.member(session, org, name="Ines Duarte")
    gone = accounts.member(session, org, name="Gus Olsen")
    field = accounts_service.create_team(session, organization_id=org.id, name="Field service")
    for member in (author, lukas, ines, gone):
        accounts_service.add_to_team(session, team=field, member=member)
    deactivate(session, member=gone, actor=author)
    other_org = accounts.organization(session)
    accounts_service.create_team(session, organization_id=other_org.id, name="Billing")
    account = channels.brand_account(session, org, kind="web")
    conversation = ingest(session, account, inbound(text="Lift broken at Millbrook")).conversation

    note = conversations_service.add_note(
        session,
        conversation=conversation,
        author=author,
        text="@Field service, anyone near Millbrook? @Lukas Meyer especially. @Billing?",
    )
    session.flush()
    told = session.scalars(select(Notification.member_id).order_by(Notification.member_id))
    # Lukas once, though named and in the team; not the author, not who left; no "Billing"
    # here (the other organization's team is nobody's business).
    assert list(told) == sorted([lukas.id, ines.id])
    trail = session.scalars(select(Activity).where(Activity.kind == "note_added")).one()
    assert trail.data == {
        "message_id": note.id,
        "mentioned": [lukas.id],
        "mentioned_teams": [field.id],
    }


def test_a_note_without_mentions_tells_nobody(session: Session) -> None:
    org = accounts.organization(session)
    author = accounts.member(session, org, name="Priya Shah")
    accounts.member(session, org, name="Jonas Berg")
    account = channels.brand_account(session, org, kind="web")
    conversation = ingest(session, account, inbound()).conversation
    long_note = "Asked jonas@kestrel.example to call. " + "x" * 400
    conversations_service.add_note(
        session, conversation=conversation, author=author, text=long_note
    )
    session.flush()
    assert session.scalars(select(Notification)).all() == []
    trail = session.scalars(select(Activity).where(Activity.kind == "note_added")).one()
    assert "mentioned" not in trail.data


def test_a_note_past_the_limit_is_refused_and_stores_nothing(session: Session) -> None:
    org = accounts.organization(session)
    author = accounts.member(session, org, name="Priya Shah")
    account = channels.brand_account(session, org, kind="web")
    conversation = ingest(session, account, inbound()).conversation
    with pytest.raises(ValidationFailed, match="a note is at most 20,000 characters"):
        conversations_service.add_note(
            session, conversation=conversation, author=author, text="@" * 20_001
        )
    assert session.scalars(select(Activity).where(Activity.kind == "note_added")).all() == []
