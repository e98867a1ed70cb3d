"""A desk for the escalation tests: Alex on the front line owns a customer's conversation in
the Care team; Billing has a lead (Lena) and a member (Bo); Field has nobody yet."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Organization, Role, Team
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest
from tests.notifications.conftest import smtp, webhook  # noqa: F401 - shared fixtures


@dataclass
class Desk:
    org: Organization
    owner: Member
    alex: Member  # front line, owns the conversation
    lena: Member  # Billing's lead
    bo: Member  # in Billing
    viewer: Member
    care: Team
    billing: Team
    field: Team  # nobody in it
    conversation: Conversation
    other_conversation: Conversation  # another organization's
    stranger: Member  # owner of the other organization


@pytest.fixture
def desk(session: Session, jobs: JobRunner) -> Desk:
    org = accounts.organization(session, name="Acme Care")
    owner = accounts.member(session, org, role=Role.OWNER, name="Olivia Owner")
    alex = accounts.member(session, org, role=Role.AGENT, name="Alex Agent")
    lena = accounts.member(session, org, role=Role.AGENT, name="Lena Lead")
    bo = accounts.member(session, org, role=Role.AGENT, name="Bo Billing")
    viewer = accounts.member(session, org, role=Role.VIEWER, name="Vera Viewer")
    care = accounts_service.create_team(session, organization_id=org.id, name="Care")
    billing = accounts_service.create_team(session, organization_id=org.id, name="Billing")
    field = accounts_service.create_team(session, organization_id=org.id, name="Field")
    accounts_service.add_to_team(session, team=care, member=alex)
    for m in (lena, bo):
        accounts_service.add_to_team(session, team=billing, member=m)
    billing.lead_member_id = lena.id
    web = channels.brand_account(session, org, kind="web")
    result = ingest(
        session,
        web,
        inbound(text="I was charged twice for order 123!", author="ana", thread_key="visitor:ana"),
    )
    other_org = accounts.organization(session, name="Other Co")
    stranger = accounts.member(session, other_org, role=Role.OWNER, name="Sam Stranger")
    other_web = channels.brand_account(session, other_org, kind="web")
    other = ingest(session, other_web, inbound(author="zed", thread_key="visitor:zed"))
    session.commit()
    jobs.run_pending()  # whatever the new conversations set off (routing...) is over
    conversation = session.get_one(Conversation, result.conversation.id)
    conversations_service.assign(
        session, conversation=conversation, assignee_id=alex.id, actor=alex
    )
    conversations_service.set_team(session, conversation=conversation, team_id=care.id, actor=alex)
    session.commit()
    jobs.run_pending()
    return Desk(
        org=org,
        owner=owner,
        alex=alex,
        lena=lena,
        bo=bo,
        viewer=viewer,
        care=care,
        billing=billing,
        field=field,
        conversation=conversation,
        other_conversation=session.get_one(Conversation, other.conversation.id),
        stranger=stranger,
    )


@pytest.fixture
def app(database_url: str, clock: FrozenClock) -> FastAPI:
    from socialdesk.app import create_app

    return create_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c
