"""Fixtures for the notification tests: a mail server and a webhook endpoint on loopback,
the desk's mail configured to use it, and the app with a small organization."""

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
from socialdesk.config import get_settings
from socialdesk.notifications import jobs as notifications_jobs
from tests.factories import accounts
from tests.notifications.servers import SmtpSink, WebhookServer, smtp_sink, webhook_server


@pytest.fixture
def smtp(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    """A real SMTP server on loopback, and the desk configured to send through it."""
    with smtp_sink() as sink:
        monkeypatch.setenv("SOCIALDESK_MAIL_URL", sink.url)
        monkeypatch.setenv("SOCIALDESK_MAIL_FROM", "desk@socialdesk.test")
        get_settings.cache_clear()
        yield sink
    get_settings.cache_clear()


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookServer]:
    """A Slack-like incoming webhook on loopback, reached over real HTTP."""
    monkeypatch.setattr(notifications_jobs, "webhook_transport", None)
    with webhook_server() as server:
        yield server


@dataclass
class Org:
    org: Organization
    owner: Member
    admin: Member
    agent: Member
    lead: Member
    viewer: Member
    billing: Team
    stranger: Member  # a member of another organization


@pytest.fixture
def org(session: Session) -> Org:
    org = accounts.organization(session, name="Acme Care")
    owner = accounts.member(session, org, role=Role.OWNER, name="Olivia Owner")
    admin = accounts.member(session, org, role=Role.ADMIN, name="Adam Admin")
    agent = accounts.member(session, org, role=Role.AGENT, name="Alex Agent")
    lead = accounts.member(session, org, role=Role.AGENT, name="Lena Lead")
    viewer = accounts.member(session, org, role=Role.VIEWER, name="Vera Viewer")
    billing = accounts_service.create_team(session, organization_id=org.id, name="Billing")
    accounts_service.add_to_team(session, team=billing, member=lead)
    billing.lead_member_id = lead.id
    other = accounts.organization(session, name="Other Co")
    stranger = accounts.member(session, other, role=Role.OWNER, name="Sam Stranger")
    session.commit()
    return Org(org, owner, admin, agent, lead, viewer, billing, stranger)


@pytest.fixture
def app(database_url: str, clock: FrozenClock) -> FastAPI:
    from socialdesk.app import create_app

    return create_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c
