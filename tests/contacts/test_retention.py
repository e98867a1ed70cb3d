"""Retention: conversations resolved and quiet for longer than the organization keeps them are
erased by the hourly job, with customers left with nothing; everything else stays."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import AuditEvent, Member, Organization, Role
from socialdesk.channels.models import BrandAccount
from socialdesk.common.clock import FrozenClock
from socialdesk.common.errors import ValidationFailed
from socialdesk.contacts import jobs as contacts_jobs
from socialdesk.contacts import retention
from socialdesk.contacts.models import Contact, ContactIdentity
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Message, Status
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest


def _resolved(
    session: Session, account: BrandAccount, admin: Member, author: str, key: str
) -> Conversation:
    conversation = ingest(session, account, inbound(author=author, thread_key=key)).conversation
    conversations_service.set_status(
        session, conversation=conversation, status=Status.RESOLVED, actor=admin
    )
    return conversation


def _ids(session: Session, model: type[Conversation] | type[Contact]) -> set[int]:
    return set(session.scalars(select(model.id)))


def test_settings_are_checked_and_audited(session: Session) -> None:
    org = accounts.organization(session)
    admin = accounts.member(session, org, role=Role.ADMIN)
    assert retention.retention_settings(session, organization_id=org.id).days is None
    with pytest.raises(ValidationFailed, match="30 to 3650 days, not 7"):
        retention.save_retention_settings(session, organization_id=org.id, actor=admin, days=7)
    retention.save_retention_settings(session, organization_id=org.id, actor=admin, days=365)
    assert retention.retention_settings(session, organization_id=org.id).days == 365
    retention.save_retention_settings(session, organization_id=org.id, actor=admin, days=None)
    assert retention.retention_settings(session, organization_id=org.id).days is None
    trail = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.target_type == "retention_settings")
        .order_by(AuditEvent.id)
    ).all()
    assert [(e.before, e.after) for e in trail] == [
        ({"days": None}, {"days": 365}),
        ({"days": 365}, {"days": None}),
    ]


def test_the_hourly_job_erases_what_is_past_retention(session: Session, clock: FrozenClock) -> None:
    org = accounts.organization(session)
    admin = accounts.member(session, org, role=Role.ADMIN)
    account = channels.brand_account(session, org, kind="web")
    start = clock.now()
    gone_alone = _resolved(session, account, admin, "ada", "visitor:ada")
    gone_but_back = _resolved(session, account, admin, "bo", "visitor:bo-1")
    noted_later = _resolved(session, account, admin, "cy", "visitor:cy")
    open_old = ingest(session, account, inbound(author="dee", thread_key="visitor:dee"))
    # Another organization keeps everything.
    other_org = accounts.organization(session)
    other_admin = accounts.member(session, other_org, role=Role.ADMIN)
    kept_elsewhere = _resolved(
        session, channels.brand_account(session, other_org), other_admin, "ada", "visitor:x"
    )

    clock.advance(timedelta(days=25))
    back = ingest(session, account, inbound(author="bo", thread_key="visitor:bo-2")).conversation
    recent = _resolved(session, account, admin, "eve", "visitor:eve")
    conversations_service.add_note(
        session, conversation=noted_later, author=admin, text="Refund reached her"
    )
    retention.save_retention_settings(session, organization_id=org.id, actor=admin, days=30)
    session.commit()
    assert retention.due(session, organization_id=org.id, now=clock.now()) == 0

    clock.set(start + timedelta(days=31))
    assert retention.due(session, organization_id=org.id, now=clock.now()) == 2
    ada, bo = gone_alone.contact_id, gone_but_back.contact_id
    erased = {gone_alone.id, gone_but_back.id}
    kept = {noted_later.id, open_old.conversation.id, back.id, recent.id, kept_elsewhere.id}
    session.commit()

    contacts_jobs.apply_retention()
    session.expire_all()

    conversations = _ids(session, Conversation)
    assert not erased & conversations
    assert kept <= conversations
    assert session.scalar(select(func.count()).where(Message.conversation_id.in_(erased))) == 0
    contacts = _ids(session, Contact)
    assert ada not in contacts  # nothing of hers was left
    assert bo in contacts  # he wrote again since
    assert session.scalar(select(func.count()).where(ContactIdentity.contact_id == ada)) == 0
    [run] = session.scalars(select(AuditEvent).where(AuditEvent.action == "retention_applied"))
    assert run.actor_member_id is None
    assert run.after == {
        "days": 30,
        "conversations": 2,
        "messages": 2,
        "contacts": 1,
        "raw_events": 0,
    }
    # Nothing left to do: the next run erases nothing and records nothing.
    session.commit()
    contacts_jobs.apply_retention()
    assert session.scalar(select(func.count()).where(AuditEvent.action == "retention_applied")) == 1


def test_the_job_goes_on_batch_after_batch(
    session: Session, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    org = accounts.organization(session)
    admin = accounts.member(session, org, role=Role.ADMIN)
    account = channels.brand_account(session, org, kind="web")
    for n in range(5):
        _resolved(session, account, admin, f"rider{n}", f"visitor:r{n}")
    retention.save_retention_settings(session, organization_id=org.id, actor=admin, days=30)
    session.commit()
    monkeypatch.setattr(retention, "BATCH", 2)
    clock.advance(timedelta(days=31))

    contacts_jobs.apply_retention()

    assert not session.scalars(
        select(Conversation.id).where(Conversation.organization_id == org.id)
    ).all()
    runs = session.scalars(
        select(AuditEvent.after).where(AuditEvent.action == "retention_applied")
    ).all()
    assert [r["conversations"] for r in runs if r] == [2, 2, 1]
    assert isinstance(session.get(Organization, org.id), Organization)
