"""A small desk for the SLA tests: an organization with an owner, an agent, a team with a
lead, a website channel, and helpers to make policies and let the clocks' jobs run."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Organization, Role, Team
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations.models import Conversation
from socialdesk.schedules import service as schedules_service
from socialdesk.schedules.models import BusinessHours
from socialdesk.sla import service as sla_service
from socialdesk.sla.models import SlaClock, SlaPolicy
from socialdesk.sla.schemas import SlaPolicyCreate
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest
from tests.notifications.conftest import webhook  # noqa: F401 - the shared fixture

OFFICE = {str(d): [["09:00", "17:00"]] for d in range(5)}


@dataclass
class World:
    org: Organization
    owner: Member
    agent: Member
    lead: Member
    team: Team
    web: BrandAccount


@pytest.fixture
def world(session: Session) -> World:
    org = accounts.organization(session, name="Acme Care")
    owner = accounts.member(session, org, role=Role.OWNER, name="Olivia Owner")
    agent = accounts.member(session, org, role=Role.AGENT, name="Alex Agent")
    lead = accounts.member(session, org, role=Role.AGENT, name="Lena Lead")
    team = accounts_service.create_team(session, organization_id=org.id, name="Care")
    team.lead_member_id = lead.id
    web = channels.brand_account(session, org, kind="web")
    session.commit()
    return World(org=org, owner=owner, agent=agent, lead=lead, team=team, web=web)


def policy(session: Session, org: Organization, **fields: Any) -> SlaPolicy:
    data: dict[str, Any] = {
        "name": f"policy {len(sla_service.list_policies(session, organization_id=org.id)) + 1}",
        "first_response_minutes": 60,
        "next_response_minutes": 30,
        "resolution_minutes": 480,
        **fields,
    }
    made = sla_service.create(session, organization_id=org.id, data=SlaPolicyCreate(**data))
    session.commit()
    return made


def office_hours(
    session: Session, org: Organization, *, timezone: str, holidays: tuple[str, ...] = ()
) -> BusinessHours:
    made = schedules_service.create(
        session,
        organization_id=org.id,
        name=f"Office {timezone}",
        timezone=timezone,
        intervals=OFFICE,
        holidays=list(holidays),
    )
    session.commit()
    return made


def customer_writes(
    session: Session,
    jobs: JobRunner,
    world: World,
    *,
    text: str = "Hello, a question about my account",
    at: datetime | None = None,
    who: str = "ana",
) -> Conversation:
    result = ingest(
        session,
        world.web,
        inbound(text=text, author=who, thread_key=f"visitor:{who}", at=at or clock.now()),
    )
    session.commit()
    jobs.run_pending()
    return fresh(session, result.conversation.id)


def fresh(session: Session, conversation_id: int) -> Conversation:
    session.expire_all()
    found = session.get_one(Conversation, conversation_id)
    session.commit()  # end the read: the app's requests need SQLite's write lock
    return found


def clocks_of(session: Session, conversation_id: int) -> list[SlaClock]:
    session.expire_all()
    found = list(
        session.scalars(
            select(SlaClock)
            .where(SlaClock.conversation_id == conversation_id)
            .order_by(SlaClock.started_at, SlaClock.id)
        )
    )
    session.commit()
    return found


def by_target(rows: list[SlaClock], target: str) -> list[SlaClock]:
    return [r for r in rows if r.target == target]


@pytest.fixture
def app(database_url: str, clock: FrozenClock) -> FastAPI:
    from socialdesk.app import create_app

    return create_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c


def token(session: Session, member: Member, scopes: list[str] | None = None) -> dict[str, str]:
    made = accounts_service.create_api_token(session, member=member, name="tests", scopes=scopes)
    session.commit()
    return {"Authorization": f"Bearer {made.token}"}
