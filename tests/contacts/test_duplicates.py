"""Customers likely to be the same person: suggested by a shared address or full name, never
for placeholders, other organizations, or a pair already parted. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Organization
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.connectors.base import Identity, InboundMessage, Visibility
from socialdesk.contacts import duplicates
from socialdesk.contacts import service as contacts_service
from socialdesk.contacts.models import Contact, ContactMerge
from socialdesk.conversations import flows
from tests.factories import accounts, channels

_sent = iter(range(1, 10_000))


def _customer(
    session: Session, account: BrandAccount, native_id: str, name: str, handle: str | None = None
) -> Contact:
    """A customer as a channel first sees them: one message from this identity."""
    result = flows.ingest_message(
        session,
        account=account,
        message=InboundMessage(
            native_id=f"msg-{next(_sent)}",
            author=Identity(native_id=native_id, handle=handle, display_name=name),
            text="Hello",
            created_at=clock.now() - timedelta(minutes=1),
            visibility=Visibility.DIRECT,
            thread_key=f"thread-{native_id}",
        ),
    )
    contact = session.get(Contact, result.conversation.contact_id)
    assert contact is not None
    return contact


def _likely(session: Session, org: Organization, contact: Contact) -> list[tuple[str, str]]:
    return [
        (s.contact.name, s.reason)
        for s in duplicates.suggestions(session, organization_id=org.id, contact=contact)
    ]


@pytest.fixture
def org(session: Session) -> Organization:
    return accounts.organization(session)


def test_an_address_given_in_the_chat_meets_the_email_sender(
    session: Session, org: Organization
) -> None:
    web = channels.brand_account(session, org, kind="web")
    mail = channels.brand_account(session, org, kind="email")
    # As the website channel stores what the visitor typed: lower-cased (tested with it).
    visitor = _customer(session, web, "visitor-1", "Tomasz", handle="tomasz.nowak@mail.example")
    sender = _customer(
        session, mail, "tomasz.nowak@mail.example", "T. Nowak", handle="Tomasz.Nowak@mail.example"
    )
    elsewhere = accounts.organization(session)
    _customer(
        session,
        channels.brand_account(session, elsewhere, kind="email"),
        "tomasz.nowak@mail.example",
        "Tomasz Nowak",
    )
    assert _likely(session, org, visitor) == [("T. Nowak", "both use tomasz.nowak@mail.example")]
    assert _likely(session, org, sender) == [("Tomasz", "both use tomasz.nowak@mail.example")]


def test_the_same_full_name_but_not_a_placeholder_or_one_word(
    session: Session, org: Organization
) -> None:
    x = channels.brand_account(session, org, kind="x")
    mail = channels.brand_account(session, org, kind="email")
    web = channels.brand_account(session, org, kind="web")
    on_x = _customer(session, x, "1001", "Elif Demir", handle="elifdemir_kv")
    _customer(session, mail, "elif@mail.example", "elif demir")
    _customer(session, mail, "other@mail.example", "Elif Demirci")
    assert _likely(session, org, on_x) == [("elif demir", "the same name")]
    # Case beyond ASCII and inner spacing do not tell two spellings apart either.
    zoe = _customer(session, x, "1002", "ZOË Ørsted", handle="zoe_o")
    _customer(session, mail, "zoe@mail.example", "zoë  ørsted")
    assert _likely(session, org, zoe) == [("zoë  ørsted", "the same name")]
    greta = _customer(session, web, "visitor-g1", "Greta")
    _customer(session, web, "visitor-g2", "Greta")
    assert _likely(session, org, greta) == []
    anonymous = _customer(session, web, "visitor-a1", "Website visitor")
    _customer(session, web, "visitor-a2", "Website visitor")
    assert _likely(session, org, anonymous) == []


def test_merged_and_parted_pairs_are_not_suggested(session: Session, org: Organization) -> None:
    x = channels.brand_account(session, org, kind="x")
    mail = channels.brand_account(session, org, kind="email")
    ana = _customer(session, x, "2001", "Ana Sousa")
    other_ana = _customer(session, mail, "ana@mail.example", "Ana Sousa")
    third_ana = _customer(session, mail, "ana.s@mail.example", "Ana Sousa")
    assert {name for name, _ in _likely(session, org, ana)} == {"Ana Sousa"}
    assert len(_likely(session, org, ana)) == 2

    # Merged: the merged-away customer is no longer suggested.
    contacts_service.merge(
        session, organization_id=org.id, source_id=third_ana.id, target_id=ana.id
    )
    session.flush()
    assert [
        s.contact.id for s in duplicates.suggestions(session, organization_id=org.id, contact=ana)
    ] == [other_ana.id]
    # The other one is merged and then parted again: not the same person, never suggested.
    contacts_service.merge(
        session, organization_id=org.id, source_id=other_ana.id, target_id=ana.id
    )
    session.flush()
    merge_id = session.scalars(
        select(ContactMerge.id).where(ContactMerge.source_id == other_ana.id)
    ).one()
    contacts_service.unmerge(session, organization_id=org.id, merge_id=merge_id)
    session.flush()
    assert _likely(session, org, ana) == []
    assert _likely(session, org, other_ana) == []
