"""Fixtures for the desk's pages: an app on the test database, an organization with an owner
and a website channel, and logging in through the real login form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Organization, Role
from socialdesk.channels.models import BrandAccount
from socialdesk.common.clock import FrozenClock
from tests.factories import accounts, channels

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Desk:
    org: Organization
    owner: Member
    agent: Member
    viewer: Member
    web: BrandAccount


@pytest.fixture
def app(database_url: str, clock: FrozenClock) -> FastAPI:
    from socialdesk.app import create_app

    return create_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture
def desk(session: Session) -> Desk:
    org = accounts.organization(session, name="Acme Care")
    owner = accounts.member(session, org, role=Role.OWNER, name="Olivia Owner")
    agent = accounts.member(session, org, role=Role.AGENT, name="Alex Agent")
    viewer = accounts.member(session, org, role=Role.VIEWER, name="Vera Viewer")
    web = channels.brand_account(session, org, kind="web")
    session.commit()
    return Desk(org=org, owner=owner, agent=agent, viewer=viewer, web=web)


def csrf_from(html: str) -> str:
    match = CSRF_INPUT.search(html)
    assert match, "no csrf_token field on the page"
    return match.group(1)


def login(client: TestClient, member: Member, password: str = accounts.PASSWORD) -> str:
    """Log in through the form; returns the session's CSRF token for later posts."""
    page = client.get("/login")
    assert page.status_code == 200
    response = client.post(
        "/login",
        data={"email": member.email, "password": password, "csrf_token": csrf_from(page.text)},
    )
    assert response.status_code == 303, response.text
    inbox = client.get("/")
    assert inbox.status_code == 200, inbox.text
    return csrf_from(inbox.text)
