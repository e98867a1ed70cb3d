"""A small desk in two organizations, and an HTTP client on the real app.

Tokens are made with the accounts service, exactly as POST /api/tokens would, and sent as
``Authorization: Bearer``. Organization B exists so every route can be tried across the fence.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Role
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations import service as conversations_service


@dataclass(frozen=True)
class Org:
    organization_id: int
    owner: Member
    owner_token: str
    agent: Member
    agent_token: str
    viewer: Member
    viewer_token: str
    brand_account_id: int
    team_id: int
    conversation_id: int
    message_id: int
    contact_id: int
    other_contact_id: int
    token_id: int


@dataclass(frozen=True)
class Desk:
    a: Org
    b: Org


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _token(session: Session, member: Member, name: str = "tests") -> str:
    return accounts_service.create_api_token(session, member=member, name=name).token


def build_org(session: Session, clock: FrozenClock, label: str) -> Org:
    org = accounts.organization(session, name=f"Org {label}")
    owner = accounts.member(session, org, role=Role.OWNER, name=f"Owner {label}")
    agent = accounts.member(session, org, role=Role.AGENT, name=f"Agent {label}")
    viewer = accounts.member(session, org, role=Role.VIEWER, name=f"Viewer {label}")
    account = channels.brand_account(session, org, kind="web")
    team = accounts_service.create_team(session, organization_id=org.id, name=f"Care {label}")
    first = ingest(
        session,
        account,
        inbound(
            native_id=f"{label}-1",
            author=f"{label.lower()}-cust",
            text="My parcel never arrived",
            at=clock.now() - timedelta(hours=2),
            thread_key=f"visitor:{label}-cust",
        ),
    )
    conversations_service.add_tag(
        session, conversation=first.conversation, name="delivery", actor=owner
    )
    other = ingest(
        session,
        account,
        inbound(
            native_id=f"{label}-2",
            author=f"{label.lower()}-other",
            text="Where can I change my address?",
            at=clock.now() - timedelta(hours=1),
            thread_key=f"visitor:{label}-other",
        ),
    )
    token = accounts_service.create_api_token(session, member=owner, name="owner")
    assert first.conversation.contact_id is not None
    assert other.conversation.contact_id is not None
    return Org(
        organization_id=org.id,
        owner=owner,
        owner_token=token.token,
        agent=agent,
        agent_token=_token(session, agent),
        viewer=viewer,
        viewer_token=_token(session, viewer),
        brand_account_id=account.id,
        team_id=team.id,
        conversation_id=first.conversation.id,
        message_id=first.message.id,
        contact_id=first.conversation.contact_id,
        other_contact_id=other.conversation.contact_id,
        token_id=token.record.id,
    )


@pytest.fixture
def desk(session: Session, clock: FrozenClock) -> Desk:
    built = Desk(a=build_org(session, clock, "A"), b=build_org(session, clock, "B"))
    session.commit()
    return built


@pytest.fixture
def client(database_url: str, clock: FrozenClock) -> Iterator[TestClient]:
    from socialdesk.app import create_app

    with TestClient(create_app()) as test_client:
        yield test_client
