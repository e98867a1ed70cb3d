"""Erasure over a desk with every feature at work: the demo organization, loaded through the
desk's own flows (approvals, promises, follow-ups, requests to other teams, SLA clocks,
automation, alerts, notifications...). Erasing each of its customers in turn leaves nothing
that hangs on a conversation, a message or a contact, with the database's own foreign key
checks on, on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table, func, or_, select, true
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Role
from socialdesk.common.clock import FrozenClock
from socialdesk.contacts import privacy
from socialdesk.contacts.models import Contact
from socialdesk.conversations.models import Conversation
from socialdesk.demo import loader
from socialdesk.notifications.models import Notification

ROOTS = frozenset({"conversations", "messages", "contacts"})


def _hanging_on_customers() -> list[Table]:
    """Every table with a foreign key to conversations, messages or contacts, and those."""
    from socialdesk.db.models import Base

    return [
        table
        for table in Base.metadata.sorted_tables
        if table.name in ROOTS or any(fk.column.table.name in ROOTS for fk in table.foreign_keys)
    ]


def _on_a_customer(table: Table) -> ColumnElement[bool]:
    """The rows of ``table`` that hang on a conversation, a message or a contact: all of a root
    table's, and another's where one of those keys is set (a poll's code-of-conduct decision
    names no message, an account's notification no conversation)."""
    keys = [fk.parent for fk in table.foreign_keys if fk.column.table.name in ROOTS]
    return or_(*(key.is_not(None) for key in keys)) if keys else true()


def test_erasing_every_demo_customer_leaves_nothing_of_them(
    session: Session, clock: FrozenClock
) -> None:
    loaded = loader.load()
    assert loaded.created
    owner = session.scalars(select(Member).where(Member.role == Role.OWNER.value)).one()
    org_id = owner.organization_id
    tables = _hanging_on_customers()
    names = {t.name for t in tables}
    # The features the demo shows are all among them.
    assert {
        "approvals",
        "commitments",
        "escalation_requests",
        "follow_ups",
        "sla_clocks",
        "automation_runs",
        "message_triage",
        "policy_decisions",
        "activities",
        "notifications",
    } <= names
    filled = {t.name for t in tables if session.scalar(select(func.count()).select_from(t))}
    assert {"approvals", "commitments", "escalation_requests", "follow_ups"} <= filled

    customers = session.scalars(
        select(Contact.id).where(
            Contact.organization_id == org_id, Contact.merged_into_id.is_(None)
        )
    ).all()
    assert len(customers) > 20
    messages = 0
    for contact_id in customers:
        messages += privacy.erase(
            session, organization_id=org_id, contact_id=contact_id, actor=owner
        ).messages
        session.commit()

    assert messages > 100
    # Every demo conversation has a customer, so none is left, nor anything hanging on one.
    assert session.scalar(select(func.count()).select_from(Conversation)) == 0
    left = {
        t.name: n
        for t in tables
        if (n := session.scalar(select(func.count()).select_from(t).where(_on_a_customer(t))))
    }
    assert left == {}
    # The notifications left are about brand accounts and alerts, none about a conversation.
    assert (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.conversation_id.is_not(None))
        )
        == 0
    )
