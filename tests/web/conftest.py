"""Fixtures for the desk's pages: an app on the test database, an organization with an owner
and a website channel, and logging in through the real login form."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Organization, Role
from socialdesk.channels.models import BrandAccount
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation
from socialdesk.db.session import get_sessionmaker
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

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


HX = {"HX-Request": "true"}


class Page:
    """A logged-in member working on one conversation."""

    def __init__(self, client: TestClient, csrf: str, conversation_id: int) -> None:
        self.client = client
        self.csrf = csrf
        self.id = conversation_id

    def post(self, action: str, htmx: bool = False, **data: str) -> Response:
        return self.client.post(
            f"/conversations/{self.id}/{action}",
            data={**data, "csrf_token": self.csrf},
            headers=HX if htmx else {},
        )

    def html(self) -> str:
        page = self.client.get(f"/conversations/{self.id}")
        assert page.status_code == 200, page.text
        return page.text


def new_conversation(session: Session, desk: Desk, text: str = "My parcel never arrived") -> int:
    result = ingest(session, desk.web, inbound(text=text, author="ana", thread_key="visitor:ana"))
    session.commit()
    return result.conversation.id


@pytest.fixture
def page(client: TestClient, desk: Desk, session: Session) -> Page:
    conversation_id = new_conversation(session, desk)
    return Page(client, login(client, desk.owner), conversation_id)


def fresh_conversation(conversation_id: int) -> Conversation:
    """The conversation as stored now, read in a read-only session: the test's own session
    takes SQLite's write lock when it starts a transaction, which the app needs."""
    with get_sessionmaker(write=False)() as reader:
        conversation = reader.get(Conversation, conversation_id)
        assert conversation is not None
        return conversation


def tags_of(conversation_id: int) -> list[str]:
    with get_sessionmaker(write=False)() as reader:
        return conversations_service.tags_of(reader, conversation_id=conversation_id)
