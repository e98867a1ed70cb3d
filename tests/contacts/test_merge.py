"""Merging two customers, and undoing a merge that was a mistake, on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import AuditEvent, Member, Organization, Role
from socialdesk.channels.models import BrandAccount
from socialdesk.common.clock import FrozenClock
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.contacts import privacy
from socialdesk.contacts import service as contacts_service
from socialdesk.contacts.models import Contact, ContactIdentity, ContactMerge
from socialdesk.conversations.models import Activity, Conversation, Message
from socialdesk.events.models import EventRecord
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest


@dataclass
class Desk:
    org: Organization
    agent: Member
    x: BrandAccount
    email: BrandAccount


@pytest.fixture
def desk(session: Session) -> Desk:
    org = accounts.organization(session)
    return Desk(
        org=org,
        agent=accounts.member(session, org, role=Role.AGENT),
        x=channels.brand_account(session, org, kind="x"),
        email=channels.brand_account(session, org, kind="email"),
    )


def _writes(session: Session, account: BrandAccount, author: str, text: str) -> Conversation:
    """A new thread from ``author`` (a new conversation, whatever they wrote before)."""
    return ingest(session, account, inbound(author=author, text=text)).conversation


def _contact_of(session: Session, conversation_id: int) -> int | None:
    session.expire_all()
    conversation = session.get(Conversation, conversation_id)
    assert conversation is not None
    return conversation.contact_id


def _merge(session: Session, desk: Desk, source: int, target: int) -> ContactMerge:
    contacts_service.merge(
        session, organization_id=desk.org.id, source_id=source, target_id=target, actor=desk.agent
    )
    session.flush()
    return session.scalars(
        select(ContactMerge).where(ContactMerge.source_id == source).order_by(ContactMerge.id)
    ).all()[-1]


def test_undo_parts_them_again_with_what_each_wrote(
    session: Session, desk: Desk, clock: FrozenClock
) -> None:
    ana_thread = _writes(session, desk.x, "ana", "My router blinks red")
    bea_thread = _writes(session, desk.email, "bea@example.org", "Invoice 17 is wrong")
    ana_id, bea_id = ana_thread.contact_id, bea_thread.contact_id
    assert ana_id is not None
    assert bea_id is not None
    assert ana_id != bea_id
    bea = session.get(Contact, bea_id)
    ana = session.get(Contact, ana_id)
    assert bea is not None
    assert ana is not None
    bea.is_vip = True
    bea.attributes = {"plan": "business"}
    ana.attributes = {"city": "Leeds"}
    bea_message_ids = list(
        session.scalars(select(Message.id).where(Message.author_contact_id == bea_id))
    )

    record = _merge(session, desk, bea_id, ana_id)
    assert _contact_of(session, bea_thread.id) == ana_id
    assert record.identity_ids
    assert record.conversation_ids == [bea_thread.id]
    assert record.message_ids == bea_message_ids
    ana = session.get(Contact, ana_id)
    assert ana is not None
    assert ana.is_vip
    assert ana.attributes == {"plan": "business", "city": "Leeds"}

    # Since the merge, Bea wrote again by email: the desk took it for Ana's.
    clock.advance(timedelta(hours=2))
    later = _writes(session, desk.email, "bea@example.org", "Still wrong, see attached")
    assert later.contact_id == ana_id
    later_id = later.id

    undone = contacts_service.unmerge(
        session, organization_id=desk.org.id, merge_id=record.id, actor=desk.agent
    )
    session.flush()
    assert undone.contact.id == bea_id
    assert (undone.conversations_back, undone.conversations_kept) == (2, 0)
    assert _contact_of(session, bea_thread.id) == bea_id
    assert _contact_of(session, later_id) == bea_id, "email is Bea's channel alone"
    assert _contact_of(session, ana_thread.id) == ana_id
    by_author = dict(
        session.execute(
            select(Message.conversation_id, Message.author_contact_id).where(
                Message.conversation_id.in_([ana_thread.id, bea_thread.id, later_id])
            )
        ).all()
    )
    assert by_author == {ana_thread.id: ana_id, bea_thread.id: bea_id, later_id: bea_id}
    owners = dict(
        session.execute(select(ContactIdentity.native_id, ContactIdentity.contact_id)).all()
    )
    assert owners == {"ana": ana_id, "bea@example.org": bea_id}
    bea = session.get(Contact, bea_id)
    ana = session.get(Contact, ana_id)
    assert bea is not None
    assert ana is not None
    assert bea.merged_into_id is None
    assert bea.is_vip
    assert bea.attributes == {"plan": "business"}
    assert not ana.is_vip
    assert ana.attributes == {"city": "Leeds"}

    # The trail of each conversation that went back says so, and open views refresh.
    kinds = session.scalars(
        select(Activity.kind).where(Activity.conversation_id == bea_thread.id).order_by(Activity.id)
    ).all()
    assert kinds[-2:] == ["contact_merged", "contact_unmerged"]
    changed = session.scalars(
        select(EventRecord.payload).where(EventRecord.kind == "conversation.changed")
    ).all()
    assert {p["conversation_id"] for p in changed if p.get("fields") == ["contact"]} >= {
        bea_thread.id,
        later_id,
    }
    actions = session.scalars(
        select(AuditEvent.action).where(AuditEvent.organization_id == desk.org.id)
    ).all()
    assert "contact_merged" in actions
    assert "contact_unmerged" in actions

    # Bea writes once more: her own customer again.
    again = _writes(session, desk.email, "bea@example.org", "Thanks, sorted")
    assert again.contact_id == bea_id

    with pytest.raises(ValidationFailed, match="undone already"):
        contacts_service.unmerge(session, organization_id=desk.org.id, merge_id=record.id)


def test_what_came_since_on_a_shared_channel_stays_and_is_counted(
    session: Session, desk: Desk, clock: FrozenClock
) -> None:
    ana_id = _writes(session, desk.x, "ana", "Hello").contact_id
    bea_thread = _writes(session, desk.x, "bea", "Hi there")
    bea_id = bea_thread.contact_id
    assert ana_id is not None
    assert bea_id is not None
    record = _merge(session, desk, bea_id, ana_id)
    clock.advance(timedelta(minutes=30))
    since = _writes(session, desk.x, "bea", "Me again")
    since_id = since.id
    undone = contacts_service.unmerge(session, organization_id=desk.org.id, merge_id=record.id)
    assert (undone.conversations_back, undone.conversations_kept) == (1, 1)
    assert _contact_of(session, bea_thread.id) == bea_id
    assert _contact_of(session, since_id) == ana_id, "both write on X: nothing tells whose"


def test_a_chain_of_merges_undoes_in_order(session: Session, desk: Desk) -> None:
    ana_id = _writes(session, desk.x, "ana", "1").contact_id
    bea_id = _writes(session, desk.email, "bea@example.org", "2").contact_id
    cem_thread = _writes(session, desk.email, "cem@example.org", "3")
    cem_id = cem_thread.contact_id
    assert ana_id is not None
    assert bea_id is not None
    assert cem_id is not None
    first = _merge(session, desk, cem_id, bea_id)
    second = _merge(session, desk, bea_id, ana_id)
    cem = session.get(Contact, cem_id)
    assert cem is not None
    assert cem.merged_into_id == ana_id

    # Ana is merged into Dan as well: the merge into Ana cannot be undone before that one.
    dan_id = _writes(session, desk.x, "dan", "4").contact_id
    assert dan_id is not None
    third = _merge(session, desk, ana_id, dan_id)
    with pytest.raises(
        ValidationFailed, match=f"contact {ana_id} was merged into contact {dan_id}"
    ):
        contacts_service.unmerge(session, organization_id=desk.org.id, merge_id=second.id)
    contacts_service.unmerge(session, organization_id=desk.org.id, merge_id=third.id)
    contacts_service.unmerge(session, organization_id=desk.org.id, merge_id=second.id)
    session.expire_all()
    cem = session.get(Contact, cem_id)
    assert cem is not None
    assert cem.merged_into_id == bea_id, "Cem points at Bea again"
    assert _contact_of(session, cem_thread.id) == bea_id
    contacts_service.unmerge(session, organization_id=desk.org.id, merge_id=first.id)
    assert _contact_of(session, cem_thread.id) == cem_id
    owners = dict(
        session.execute(select(ContactIdentity.native_id, ContactIdentity.contact_id)).all()
    )
    assert owners == {
        "ana": ana_id,
        "bea@example.org": bea_id,
        "cem@example.org": cem_id,
        "dan": dan_id,
    }


def test_merges_of_lists_both_sides_and_other_organizations_are_not_found(
    session: Session, desk: Desk
) -> None:
    ana_id = _writes(session, desk.x, "ana", "1").contact_id
    bea_id = _writes(session, desk.x, "bea", "2").contact_id
    assert ana_id is not None
    assert bea_id is not None
    record = _merge(session, desk, bea_id, ana_id)
    for contact_id in (ana_id, bea_id):
        listed = contacts_service.merges_of(
            session, organization_id=desk.org.id, contact_id=contact_id
        )
        assert [m.id for m in listed] == [record.id]
    other = accounts.organization(session)
    with pytest.raises(NotFound, match=f"merge {record.id} not found"):
        contacts_service.unmerge(session, organization_id=other.id, merge_id=record.id)
    with pytest.raises(ValidationFailed, match="already"):
        contacts_service.merge(
            session, organization_id=desk.org.id, source_id=bea_id, target_id=ana_id
        )


def test_erasing_the_customer_takes_the_merge_records_with_them(
    session: Session, desk: Desk
) -> None:
    ana_id = _writes(session, desk.x, "ana", "1").contact_id
    bea_id = _writes(session, desk.email, "bea@example.org", "2").contact_id
    assert ana_id is not None
    assert bea_id is not None
    _merge(session, desk, bea_id, ana_id)
    admin = accounts.member(session, desk.org, role=Role.ADMIN)
    privacy.erase(session, organization_id=desk.org.id, contact_id=ana_id, actor=admin)
    session.flush()
    assert session.scalars(select(ContactMerge)).all() == []
    assert session.get(Contact, bea_id) is None


def test_a_vip_mark_set_again_by_hand_stays_after_the_undo(session: Session, desk: Desk) -> None:
    ana_id = _writes(session, desk.x, "ana", "My router blinks red").contact_id
    bea_id = _writes(session, desk.email, "bea@example.org", "Invoice 17 is wrong").contact_id
    assert ana_id is not None
    assert bea_id is not None
    bea = session.get(Contact, bea_id)
    assert bea is not None
    bea.is_vip = True
    first = _merge(session, desk, bea_id, ana_id)
    assert first.vip_from_source
    # Somebody takes the mark off Ana and, later, decides she is a VIP after all.
    for vip in (False, True):
        contacts_service.update_details(
            session, organization_id=desk.org.id, contact_id=ana_id, is_vip=vip, actor=desk.agent
        )
    contacts_service.unmerge(session, organization_id=desk.org.id, merge_id=first.id)
    session.flush()
    ana = session.get(Contact, ana_id)
    assert ana is not None
    assert ana.is_vip, "the mark was set by a person since the merge"
    assert bea.is_vip
