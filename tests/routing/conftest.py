"""A small desk for the routing tests: an organization with a website channel, two teams and
three agents, and helpers to bring in customers' messages and move the clock."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import count
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Organization, Role, Team
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations.models import Activity, Conversation
from socialdesk.routing import service as routing_service
from socialdesk.routing.models import Strategy
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

if TYPE_CHECKING:
    from tests.conftest import JobRunner

_customers = count(1)


@dataclass
class Desk:
    session: Session
    jobs: JobRunner
    clock: FrozenClock
    org: Organization
    owner: Member
    ana: Member
    ben: Member
    cy: Member
    care: Team
    billing: Team
    web: BrandAccount
    x: BrandAccount
    conversations: list[int] = field(default_factory=list)

    def write(
        self,
        text: str = "Hello, my order has not arrived",
        *,
        account: BrandAccount | None = None,
        author: str | None = None,
        at: datetime | None = None,
        thread: str | None = None,
        route: bool = True,
    ) -> Conversation:
        """A customer writes (a new conversation unless ``author`` already has one on the
        channel); the jobs it causes run unless ``route`` is False."""
        who = author or f"customer-{next(_customers)}"
        result = ingest(
            self.session,
            account or self.web,
            inbound(
                text=text,
                author=who,
                thread_key=thread or f"visitor:{who}",
                at=at or clock.now(),
            ),
        )
        self.session.commit()
        if route:
            self.jobs.run_pending()
        self.conversations.append(result.conversation.id)
        return self.get(result.conversation.id)

    def fresh(self, *more: object) -> None:
        """Read everything again as stored, then end the read: the test must hold no lock
        the app or a job needs (SQLite has one writer; this session writes)."""
        self.session.commit()
        self.session.expire_all()
        fixtures = (self.org, self.owner, self.ana, self.ben, self.cy, self.care, self.billing)
        for row in (*fixtures, self.web, self.x, *more):
            self.session.refresh(row)
        self.session.commit()

    def settings(
        self,
        strategy: Strategy = Strategy.ROUND_ROBIN,
        *,
        reassign_when_away: bool = True,
        reassign_after_minutes: int | None = None,
    ) -> None:
        routing_service.update_settings(
            self.session,
            organization_id=self.org.id,
            strategy=strategy.value,
            reassign_when_away=reassign_when_away,
            reassign_after_minutes=reassign_after_minutes,
        )
        self.session.commit()

    def get(self, conversation_id: int) -> Conversation:
        self.session.commit()
        conversation = self.session.get_one(Conversation, conversation_id)
        self.fresh(conversation)
        return conversation

    def member(self, member_id: int) -> Member:
        self.fresh()
        return self.session.get_one(Member, member_id)

    def trail(self, conversation_id: int, kind: str | None = None) -> list[Activity]:
        stmt = select(Activity).where(Activity.conversation_id == conversation_id)
        if kind:
            stmt = stmt.where(Activity.kind == kind)
        return list(self.session.scalars(stmt.order_by(Activity.id)))

    def tick(self) -> None:
        """Run routing's periodic tasks as the worker would each minute (after committing the
        test's session, which would otherwise hold SQLite's write lock)."""
        from socialdesk.routing import jobs as routing_jobs

        self.session.commit()
        routing_jobs.reassign()
        routing_jobs.fire_due_automation()
        self.jobs.run_pending()
        self.fresh()

    def advance(self, **delta: float) -> None:
        self.clock.advance(timedelta(**delta))


@pytest.fixture
def desk(session: Session, jobs: JobRunner, clock: FrozenClock) -> Desk:
    org = accounts.organization(session, name="Acme")
    owner = accounts.member(session, org, role=Role.OWNER, name="Olivia Owner")
    ana = accounts.member(session, org, name="Ana")
    ben = accounts.member(session, org, name="Ben")
    cy = accounts.member(session, org, name="Cy")
    care = accounts_service.create_team(session, organization_id=org.id, name="Care")
    billing = accounts_service.create_team(session, organization_id=org.id, name="Billing")
    for m in (ana, ben, cy):
        accounts_service.add_to_team(session, team=care, member=m)
    # The owner runs the organization and takes no conversations from routing.
    owner.availability = "away"
    web = channels.brand_account(session, org, kind="web")
    x = channels.brand_account(session, org, kind="x")
    session.commit()
    return Desk(
        session=session,
        jobs=jobs,
        clock=clock,
        org=org,
        owner=owner,
        ana=ana,
        ben=ben,
        cy=cy,
        care=care,
        billing=billing,
        web=web,
        x=x,
    )


@pytest.fixture
def client(desk: Desk, clock: FrozenClock) -> Iterator[TestClient]:
    """The app over the desk's database, following redirects (a web test that needs to see
    them overrides this)."""
    from socialdesk.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client


def api_headers(session: Session, member: Member) -> dict[str, str]:
    """A bearer token of ``member``'s for the REST API."""
    token = accounts_service.create_api_token(session, member=member, name="tests").token
    session.commit()
    return {"Authorization": f"Bearer {token}"}
