"""The inbox's search finds customers too: the conversations of those whose name, or an
identity's handle, display name or email address, starts with what was typed (in any case, a
handle with or without its "@"), beside those whose messages hold the words. Both listing plans
and the counts agree; another organization's customers are never found; the folded values are
read along their indexes."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts.models import Member
from socialdesk.channels.models import BrandAccount
from socialdesk.connectors.base import Identity
from socialdesk.contacts.models import Contact
from socialdesk.conversations import search as search_index
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Status
from socialdesk.conversations.service import STATUS_ALL, AssigneeFilter, InboxFilter


@dataclass
class Desk:
    organization_id: int
    me: Member
    colleague: Member
    elif_: int  # Elif Demir, @elifd on the website chat
    bora: int  # Bora Kaya by email, Bora.Kaya@Mail.Example
    deniz: int  # wrote "Elif" in a message
    al: int  # a two-letter handle
    others: list[int]  # conversations no search below finds


def _talk(
    session: Session, account: BrandAccount, who: Identity, said: str, name: str | None = None
) -> Conversation:
    message = replace(inbound(text=said, thread_key=f"visitor:{who.native_id}"), author=who)
    conversation = ingest(session, account, message).conversation
    if name is not None:
        # The name an agent corrected (a visitor who said who they are): no identity has it.
        contact = session.get(Contact, conversation.contact_id)
        assert contact is not None
        contact.name = name
    return conversation


@pytest.fixture
def desk(session: Session) -> Desk:
    org = accounts.organization(session)
    me = accounts.member(session, org)
    colleague = accounts.member(session, org)
    web = channels.brand_account(session, org, kind="web")
    mail = channels.brand_account(session, org, kind="email")
    elif_ = _talk(
        session,
        web,
        Identity("v-elif", handle="@elifd", display_name="Visitor"),
        "my parcel is late",
        name="Elif Demir",
    )
    bora = _talk(
        session,
        mail,
        Identity("bora.kaya@mail.example", handle="Bora.Kaya@Mail.Example", display_name="B. Kaya"),
        "where is my refund",
    )
    deniz = _talk(
        session, web, Identity("v-deniz", display_name="Deniz"), "Elif said to write here"
    )
    al = _talk(session, web, Identity("v-al", handle="al", display_name="Alan"), "hello there")
    others = [
        _talk(session, web, Identity("v-alice", handle="alice"), "hi"),
        _talk(session, web, Identity("v-elbow", display_name="Elbow Grease"), "hi again"),
    ]
    # Another organization's customer of the same name, handle and address is never found.
    other_org = accounts.organization(session)
    other_web = channels.brand_account(session, other_org, kind="web")
    _talk(
        session,
        other_web,
        Identity("v-elif", handle="@elifd", display_name="Elif Demir"),
        "bora.kaya@mail.example wrote too",
        name="Elif Demir",
    )
    _talk(session, other_web, Identity("v-bora", handle="bora.kaya@mail.example"), "hi")
    session.flush()
    return Desk(
        organization_id=org.id,
        me=me,
        colleague=colleague,
        elif_=elif_.id,
        bora=bora.id,
        deniz=deniz.id,
        al=al.id,
        others=[c.id for c in others],
    )


def _listed(session: Session, desk: Desk, flt: InboxFilter) -> list[int]:
    out: list[int] = []
    cursor = None
    while True:
        page = conversations_service.list_inbox(
            session,
            organization_id=desk.organization_id,
            me_id=desk.me.id,
            flt=flt,
            cursor=cursor,
            limit=2,
        )
        out += [c.id for c in page.items]
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


# What was typed, and whom it finds (attributes of Desk).
SEARCHES: list[tuple[str, set[str]]] = [
    # A name, from its start, in any case; a message with the word is found too.
    ("Elif Demir", {"elif_"}),
    ("elif demir", {"elif_"}),
    ("ELIF  DEMIR", {"elif_"}),
    ("Elif Dem", {"elif_"}),
    ("Elif", {"elif_", "deniz"}),
    # A handle, with or without its "@", in any case, or its start.
    ("@elifd", {"elif_"}),
    ("elifd", {"elif_"}),
    ("@ELIFD", {"elif_"}),
    ("elif", {"elif_", "deniz"}),
    # An email address, as written or not, or its start; and an identity's display name.
    ("bora.kaya@mail.example", {"bora"}),
    ("BORA.KAYA@MAIL.EXAMPLE", {"bora"}),
    ("Bora.Kaya@Mail", {"bora"}),
    ("b. kaya", {"bora"}),
    # The start, not any part: "Kaya" and "Demir" alone name nobody.
    ("kaya", set()),
    ("demir", set()),
    # One or two letters are a whole name or handle, not every one starting so.
    ("al", {"al"}),
    ("AL", {"al"}),
    ("@al", {"al"}),
    ("el", set()),
]


def _expected(desk: Desk, names: set[str]) -> set[int]:
    return {getattr(desk, name) for name in names}


@pytest.mark.parametrize("threshold", [0, 10_000_000])
def test_customers_are_found_by_name_handle_and_address(
    session: Session, desk: Desk, monkeypatch: pytest.MonkeyPatch, threshold: int
) -> None:
    # 0: the plan that walks the inbox probing each conversation; else: start from the matches.
    monkeypatch.setattr(search_index, "WALK_THRESHOLD", threshold)
    for typed, names in SEARCHES:
        found = _listed(session, desk, InboxFilter(status=STATUS_ALL, query=typed))
        assert len(found) == len(set(found)), typed  # each once
        assert set(found) == _expected(desk, names), typed


def test_a_customer_search_goes_with_the_other_filters(session: Session, desk: Desk) -> None:
    elif_ = session.get(Conversation, desk.elif_)
    deniz = session.get(Conversation, desk.deniz)
    assert elif_ is not None
    assert deniz is not None
    conversations_service.assign(
        session, conversation=elif_, assignee_id=desk.colleague.id, actor=None
    )
    conversations_service.add_tag(session, conversation=deniz, name="vip", actor=None)
    conversations_service.set_status(session, conversation=deniz, status=Status.PENDING, actor=None)
    session.flush()
    cases = [
        (InboxFilter(query="elif"), {desk.elif_}),
        (InboxFilter(status="pending", query="elif"), {desk.deniz}),
        (InboxFilter(status=STATUS_ALL, query="elif", assignee=desk.colleague.id), {desk.elif_}),
        (InboxFilter(status=STATUS_ALL, query="elif", assignee=AssigneeFilter.ME), set()),
        (InboxFilter(status=STATUS_ALL, query="elif", tag="vip"), {desk.deniz}),
        (InboxFilter(status=STATUS_ALL, query="bora", channel="web"), set()),
        (InboxFilter(status=STATUS_ALL, query="bora", channel="email"), {desk.bora}),
    ]
    for flt, expected in cases:
        assert set(_listed(session, desk, flt)) == expected, flt


@pytest.mark.parametrize("threshold", [0, 10_000_000])
def test_the_counts_of_a_customer_search_are_the_lists_sizes(
    session: Session, desk: Desk, monkeypatch: pytest.MonkeyPatch, threshold: int
) -> None:
    monkeypatch.setattr(search_index, "WALK_THRESHOLD", threshold)
    elif_ = session.get(Conversation, desk.elif_)
    assert elif_ is not None
    conversations_service.assign(session, conversation=elif_, assignee_id=desk.me.id, actor=None)
    conversations_service.set_status(
        session, conversation=elif_, status=Status.RESOLVED, actor=None
    )
    session.flush()
    for typed, _names in SEARCHES:
        flt = InboxFilter(status=STATUS_ALL, query=typed)
        counts = conversations_service.counts(
            session, organization_id=desk.organization_id, me_id=desk.me.id, flt=flt
        )
        for status in [*(s.value for s in Status), STATUS_ALL]:
            listed = _listed(session, desk, replace(flt, status=status))
            assert counts[status] == len(listed), (typed, status)
        for key, who in (("mine", AssigneeFilter.ME), ("unassigned", AssigneeFilter.UNASSIGNED)):
            assert counts[key] == len(_listed(session, desk, replace(flt, assignee=who))), typed


def test_another_organization_finds_only_its_own(session: Session, desk: Desk) -> None:
    org = accounts.organization(session)
    me = accounts.member(session, org)
    session.flush()
    for typed in ("Elif Demir", "@elifd", "bora.kaya@mail.example", "al"):
        page = conversations_service.list_inbox(
            session,
            organization_id=org.id,
            me_id=me.id,
            flt=InboxFilter(status=STATUS_ALL, query=typed),
        )
        assert page.items == [], typed


def test_customers_are_read_along_the_folded_indexes(session: Session, desk: Desk) -> None:
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the plan is SQLite's to show here")
    customers = search_index.matching_customers(
        session, organization_id=desk.organization_id, query="@Elif Dem"
    )
    assert customers is not None
    compiled = customers.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    plan = " / ".join(row[-1] for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    for index in (
        "ix_contacts_name_folded",
        "ix_contact_identities_handle_folded",
        "ix_contact_identities_display_name_folded",
    ):
        assert f"USING INDEX {index} (organization_id=? AND <expr>>? AND <expr><?)" in plan, plan
    assert "SCAN" not in plan, plan
