"""A small care desk for the follow-up tests: an organization with an agent who resolves, a
brand account on a recording connector, and a customer's conversation."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import ClassVar

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Organization, Role
from socialdesk.channels.models import BrandAccount
from socialdesk.common.clock import FrozenClock
from socialdesk.connectors import registry
from socialdesk.connectors.base import ChannelKind, Visibility
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Direction, Message, Status
from socialdesk.followups import jobs as followups_jobs
from socialdesk.followups.models import FollowUp
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories.connectors import RecordingConnector
from tests.factories.conversations import inbound, ingest


@dataclass
class RecordingFacebook(RecordingConnector):
    """Pretends to be Facebook (a channel with a messaging window)."""

    kind: ClassVar[ChannelKind] = ChannelKind.FACEBOOK


@pytest.fixture
def fake_x() -> Iterator[RecordingConnector]:
    connector = RecordingConnector()
    with registry.override(connector):
        yield connector


@pytest.fixture
def fake_facebook() -> Iterator[RecordingFacebook]:
    connector = RecordingFacebook()
    with registry.override(connector):
        yield connector


@dataclass
class Care:
    session: Session
    jobs: JobRunner
    clock: FrozenClock
    org: Organization
    agent: Member
    admin: Member
    account: BrandAccount
    conversation: Conversation
    others: list[Conversation] = field(default_factory=list)

    def reload(self) -> None:
        self.session.expire_all()

    def done(self) -> None:
        """End the test's transaction so a job or periodic task can write (SQLite)."""
        self.session.commit()

    def resolve(
        self,
        conversation: Conversation | None = None,
        *,
        by: Member | None = None,
        automation: bool = False,
    ) -> None:
        """Resolve as a person (the agent unless ``by``) or an automation would, then let the
        jobs the change enqueued run."""
        target = conversation or self.conversation
        conversations_service.set_status(
            self.session,
            conversation=target,
            status=Status.RESOLVED,
            actor=None if automation else (by or self.agent),
        )
        self.session.commit()
        self.jobs.run_pending()
        self.reload()

    def reopen(self, conversation: Conversation | None = None) -> None:
        target = conversation or self.conversation
        conversations_service.set_status(
            self.session, conversation=target, status=Status.OPEN, actor=self.agent
        )
        self.session.commit()
        self.jobs.run_pending()
        self.reload()

    def customer_says(
        self, text: str, *, visibility: Visibility = Visibility.PUBLIC, after: int = 1
    ) -> Message:
        """The customer writes (``after`` minutes from now), through the real ingest flow."""
        self.clock.advance(timedelta(minutes=after))
        result = ingest(
            self.session,
            self.account,
            inbound(
                author="cust",
                text=text,
                at=self.clock.now(),
                thread_key=self.conversation.thread_key,
                reply_to=None if self.conversation.thread_key else "t1",
                visibility=visibility,
            ),
        )
        self.session.commit()
        self.jobs.run_pending()
        self.reload()
        return result.message

    def tick(self) -> None:
        """The minute's periodic task, then the deliveries it queued."""
        self.session.commit()
        followups_jobs.tick()
        self.jobs.run_pending()
        self.reload()

    def follow_ups(self, conversation: Conversation | None = None) -> list[FollowUp]:
        target = conversation or self.conversation
        self.reload()
        rows = list(
            self.session.scalars(
                select(FollowUp).where(FollowUp.conversation_id == target.id).order_by(FollowUp.id)
            )
        )
        self.session.commit()  # end the read: SQLite has one writer, and jobs need it
        return rows

    def only(self) -> FollowUp:
        rows = self.follow_ups()
        assert len(rows) == 1, rows
        return rows[0]

    def outbound(self, conversation: Conversation | None = None) -> list[Message]:
        target = conversation or self.conversation
        self.reload()
        rows = list(
            self.session.scalars(
                select(Message)
                .where(
                    Message.conversation_id == target.id,
                    Message.direction == Direction.OUTBOUND.value,
                )
                .order_by(Message.id)
            )
        )
        self.session.commit()
        return rows


def build_care(
    session: Session,
    jobs: JobRunner,
    clock: FrozenClock,
    *,
    kind: str = "x",
    visibility: Visibility = Visibility.PUBLIC,
    **settings: object,
) -> Care:
    org = accounts.organization(session, name="Acme Care")
    agent = accounts.member(session, org, role=Role.AGENT, name="Alex Agent")
    admin = accounts.member(session, org, role=Role.ADMIN, name="Ada Admin")
    account = channels.brand_account(session, org, kind=kind, **settings)
    account.display_name = "Acme Support"
    direct = visibility is Visibility.DIRECT
    result = ingest(
        session,
        account,
        inbound(
            native_id="t1",
            author="cust",
            text="My internet is down since this morning",
            at=clock.now() - timedelta(minutes=30),
            thread_key="dm:cust" if direct else None,
            visibility=visibility,
        ),
    )
    conversations_service.assign(
        session, conversation=result.conversation, assignee_id=agent.id, actor=agent
    )
    session.commit()
    jobs.run_pending()
    return Care(
        session=session,
        jobs=jobs,
        clock=clock,
        org=org,
        agent=agent,
        admin=admin,
        account=account,
        conversation=result.conversation,
    )


@pytest.fixture
def care(session: Session, jobs: JobRunner, clock: FrozenClock, fake_x: RecordingConnector) -> Care:
    return build_care(session, jobs, clock)
