"""A customer's data: exported whole, and erased whole, on SQLite and PostgreSQL.

The erasure test reads every text and JSON column of every table afterwards, so a table added
later that keeps the customer's words and is not reached by the erasure fails it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import JSON, String, Text, func, select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import AuditEvent, Member, Organization, Role
from socialdesk.channels.models import BrandAccount, InboundEvent
from socialdesk.commitments import service as commitments_service
from socialdesk.commitments.models import Commitment
from socialdesk.common.clock import FrozenClock
from socialdesk.common.errors import Conflict, NotFound, ValidationFailed
from socialdesk.contacts import privacy
from socialdesk.contacts import service as contacts_service
from socialdesk.contacts.models import Contact, ContactIdentity
from socialdesk.conversations import bulk, search
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, DeliveryState, Message
from socialdesk.escalations import service as escalations_service
from socialdesk.escalations.models import EscalationRequest
from socialdesk.outbound import service as outbound_service
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest, visitor_event

SECRET = "Quillfeather"  # in everything Lena wrote or is called: found nowhere after erasure


@dataclass
class World:
    org: Organization
    admin: Member
    account: BrandAccount
    lena: Contact  # the customer to erase
    lena_conversation: Conversation
    old_lena_conversation: Conversation  # of a contact merged into Lena
    old_contact_id: int  # that contact
    ben_conversation: Conversation  # Ben's, where Lena also wrote once
    other_org_contact: Contact


def _visitor_message(
    session: Session, account: BrandAccount, visitor: str, text: str
) -> Conversation:
    """A message through the website channel, as it arrives: a raw event, then parsed."""
    stored, _ = visitor_event(
        session,
        account,
        visitor=visitor,
        text=text,
        native_id=f"{visitor}:{text[:12]}",
        name=f"Lena {SECRET}",
    )
    message = session.scalar(select(Message).where(Message.inbound_event_id == stored.id))
    assert message is not None, "the message keeps the raw event it came from"
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation is not None
    return conversation


@pytest.fixture
def world(session: Session, clock: FrozenClock) -> World:
    org = accounts.organization(session)
    admin = accounts.member(session, org, role=Role.ADMIN)
    colleague = accounts.member(session, org, role=Role.AGENT)
    account = channels.brand_account(session, org, kind="web")
    lena_conversation = _visitor_message(
        session, account, "visitor-lena", f"My name is Lena {SECRET}, my tram pass broke"
    )
    assert lena_conversation.contact_id is not None
    lena = session.get(Contact, lena_conversation.contact_id)
    assert lena is not None
    conversations_service.add_note(
        session,
        conversation=lena_conversation,
        author=admin,
        text=f"{SECRET} called twice already",
    )
    reply = outbound_service.queue_reply(
        session,
        conversation=lena_conversation,
        author=admin,
        text=f"Sorry {SECRET}, a new pass is on its way",
        confirmed=True,
    )
    reply.delivery_state = DeliveryState.SENT.value
    reply.sent_at = clock.now()
    commitments_service.create(
        session,
        conversation=lena_conversation,
        actor=admin,
        text=f"Post a new pass to {SECRET}",
        due_at=clock.now() + timedelta(days=2),
    )
    escalations_service.create(
        session,
        conversation=lena_conversation,
        requested_by=admin,
        text=f"Please check the card of {SECRET}",
        member_id=colleague.id,
    )
    conversations_service.add_tag(
        session, conversation=lena_conversation, name="passes", actor=admin
    )

    # An older contact of hers on the same desk, merged into her.
    old = ingest(
        session,
        account,
        inbound(author="lena-old", text=f"{SECRET} here again, from my old browser"),
    )
    old_contact_id = old.conversation.contact_id
    assert old_contact_id is not None
    contacts_service.merge(
        session,
        organization_id=org.id,
        source_id=old_contact_id,
        target_id=lena.id,
    )
    # Ben's thread, where she answered him once.
    ben = ingest(session, account, inbound(author="ben", text="Is the tram running today?"))
    ingest(
        session,
        account,
        inbound(
            author="visitor-lena", reply_to=ben.message.native_id, text=f"Yes Ben, {SECRET} says"
        ),
    )

    other_org = accounts.organization(session)
    other_account = channels.brand_account(session, other_org, kind="web")
    other = ingest(session, other_account, inbound(author="visitor-lena", text="Hello"))
    assert other.conversation.contact_id is not None
    other_contact = session.get(Contact, other.conversation.contact_id)
    assert other_contact is not None
    session.commit()
    return World(
        org=org,
        admin=admin,
        account=account,
        lena=lena,
        lena_conversation=lena_conversation,
        old_lena_conversation=old.conversation,
        old_contact_id=old_contact_id,
        ben_conversation=ben.conversation,
        other_org_contact=other_contact,
    )


def _where_secret_is(session: Session) -> list[str]:
    """Every table and column that still holds SECRET, read through the schema's own list of
    text and JSON columns."""
    from socialdesk.db.models import Base

    found = []
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if isinstance(column.type, (String, Text)):
                hit = select(func.count()).where(column.contains(SECRET))
            elif isinstance(column.type, JSON):
                hit = select(func.count()).where(func.cast(column, String).contains(SECRET))
            else:
                continue
            if session.scalar(hit.select_from(table)):
                found.append(f"{table.name}.{column.name}")
    return found


def test_erasure_leaves_nothing_of_the_person_anywhere(session: Session, world: World) -> None:
    # The scan sees what is there, wherever the desk put it.
    assert {
        "contacts.name",
        "inbound_events.payload",
        "conversations.subject",
        "activities.data",
        "messages.text",
        "messages.raw",
        "commitments.text",
        "escalation_requests.text",
        "notifications.body",
    } <= set(_where_secret_is(session))
    lena_id = world.lena.id
    ids = {
        "lena": world.lena_conversation.id,
        "old": world.old_lena_conversation.id,
        "ben": world.ben_conversation.id,
    }
    other_contact_id = world.other_org_contact.id
    ben_message_count = session.scalar(
        select(func.count()).where(Message.conversation_id == ids["ben"])
    )
    assert ben_message_count == 2

    erased = privacy.erase(
        session, organization_id=world.org.id, contact_id=lena_id, actor=world.admin
    )
    session.commit()

    assert erased.contacts == 2  # Lena and the contact merged into her
    assert erased.identities == 2
    assert erased.conversations == 2
    # Her message, the note and the reply; the old contact's message; hers in Ben's thread.
    assert erased.messages == 5
    assert erased.raw_events == 1
    assert erased.conversations_touched == 1
    assert _where_secret_is(session) == []
    assert session.get(Contact, lena_id) is None
    assert session.scalars(
        select(Conversation.id).where(Conversation.organization_id == world.org.id)
    ).all() == [ids["ben"]]
    assert session.scalar(select(func.count()).select_from(Commitment)) == 0
    assert session.scalar(select(func.count()).select_from(EscalationRequest)) == 0
    assert (
        session.scalar(select(func.count()).where(InboundEvent.organization_id == world.org.id))
        == 0
    )
    assert (
        session.scalar(select(func.count()).where(ContactIdentity.organization_id == world.org.id))
        == 1
    )  # Ben's
    # Ben's conversation lost her message and its figures say so.
    ben = session.get(Conversation, ids["ben"])
    assert ben is not None
    assert ben.message_count == 1
    assert ben.last_preview == "Is the tram running today?"
    # The other organization's visitor of the same id is another person.
    assert session.get(Contact, other_contact_id) is not None
    # Search finds nothing of hers.
    assert (
        session.scalars(
            search.matching_conversation_ids(session, organization_id=world.org.id, query=SECRET)
        ).all()
        == []
    )
    # The trail records the erasure, by whom, with counts and no name.
    trail = session.scalars(select(AuditEvent).where(AuditEvent.action == "contact_erased")).one()
    assert trail.actor_member_id == world.admin.id
    assert trail.target_id == str(lena_id)
    assert trail.after == {
        "contacts": 2,
        "identities": 2,
        "conversations": 2,
        "messages": 5,
        "raw_events": 1,
        "conversations_touched": 1,
    }


def test_erasure_waits_for_a_reply_on_its_way(session: Session, world: World) -> None:
    reply = outbound_service.queue_reply(
        session,
        conversation=world.lena_conversation,
        author=world.admin,
        text="One more thing",
        confirmed=True,
    )
    assert reply.delivery_state == DeliveryState.QUEUED.value
    with pytest.raises(Conflict, match=rf"conversation #{world.lena_conversation.id} has a reply"):
        privacy.erase(
            session, organization_id=world.org.id, contact_id=world.lena.id, actor=world.admin
        )
    assert session.get(Contact, world.lena.id) is not None


def test_a_merged_away_contact_names_the_survivor(session: Session, world: World) -> None:
    old_id = world.old_contact_id
    with pytest.raises(ValidationFailed, match=rf"merged into contact {world.lena.id}"):
        privacy.erase(session, organization_id=world.org.id, contact_id=old_id, actor=world.admin)


def test_another_organizations_contact_is_unknown(session: Session, world: World) -> None:
    with pytest.raises(NotFound):
        privacy.erase(
            session,
            organization_id=world.org.id,
            contact_id=world.other_org_contact.id,
            actor=world.admin,
        )
    with pytest.raises(NotFound):
        privacy.export(
            session,
            organization_id=world.org.id,
            contact_id=world.other_org_contact.id,
            actor=world.admin,
        )


def test_export_holds_everything_kept_about_the_person(session: Session, world: World) -> None:
    document = privacy.export(
        session, organization_id=world.org.id, contact_id=world.lena.id, actor=world.admin
    )
    assert document["format"] == privacy.EXPORT_FORMAT
    assert document["contact"]["id"] == world.lena.id
    assert document["contact"]["merged_contacts"] == [world.old_contact_id]
    assert {i["native_id"] for i in document["identities"]} == {"visitor-lena", "lena-old"}
    by_id: dict[int, dict[str, Any]] = {c["id"]: c for c in document["conversations"]}
    assert set(by_id) == {world.lena_conversation.id, world.old_lena_conversation.id}
    first = by_id[world.lena_conversation.id]
    assert [(m["direction"], m["visibility"], m["author"]) for m in first["messages"]] == [
        ("inbound", "direct", "customer"),
        ("outbound", "note", world.admin.name),
        ("outbound", "direct", world.admin.name),
    ]
    assert first["promises"][0]["text"] == f"Post a new pass to {SECRET}"
    assert first["tags"] == ["passes"]
    assert first["messages"][0]["text"] == f"My name is Lena {SECRET}, my tram pass broke"
    assert "triage" in first["messages"][0]
    [elsewhere] = document["messages_in_other_conversations"]
    assert elsewhere["conversation_id"] == world.ben_conversation.id
    assert [m["text"] for m in elsewhere["messages"]] == [f"Yes Ben, {SECRET} says"]
    trail = session.scalars(select(AuditEvent).where(AuditEvent.action == "contact_exported")).one()
    assert trail.target_id == str(world.lena.id)


def test_what_was_erased_is_not_stored_again(
    session: Session, world: World, clock: FrozenClock
) -> None:
    """The network sends her old message again (a replayed webhook, a backfill, a file
    imported twice): nothing of it is stored, and the raw copy keeps nothing. What she writes
    afterwards comes in as from anyone new."""
    org_id, account = world.org.id, world.account
    account_id = account.id
    ben_message_native_id = session.scalars(
        select(Message.native_id).where(Message.conversation_id == world.ben_conversation.id)
    ).first()
    lena_id = world.lena.id
    privacy.erase(session, organization_id=org_id, contact_id=lena_id, actor=world.admin)
    session.commit()
    contacts_before = session.scalar(select(func.count()).select_from(Contact))

    # The website's raw event, delivered again.
    again, is_new = visitor_event(
        session,
        account,
        visitor="visitor-lena",
        text=f"My name is Lena {SECRET}, my tram pass broke",
        native_id="visitor-lena:My name is L",
    )
    assert is_new  # its first copy was erased with her
    assert again.payload == {}
    assert again.status == "ignored"
    assert again.error == "its messages were erased with their customer"
    # The same messages through the batch path (an import run again).
    imported = bulk.ingest_batch(
        session,
        organization_id=org_id,
        items=[
            bulk.BulkItem(
                account_id, inbound(native_id="visitor-lena:My name is L", author="visitor-lena")
            ),
            bulk.BulkItem(
                account_id,
                inbound(
                    native_id=ben_message_native_id,
                    author="ben",
                    text="Is the tram running today?",
                ),
            ),
        ],
    )
    assert (imported.erased, imported.duplicates, imported.created) == (1, 1, 0)
    session.commit()
    assert _where_secret_is(session) == []
    assert session.scalar(select(func.count()).select_from(Contact)) == contacts_before

    # She writes again: a new customer.
    new = ingest(session, account, inbound(author="visitor-lena", text="Me again"))
    assert new.created
    assert new.conversation.contact_id not in (None, lena_id)
