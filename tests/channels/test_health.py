"""An account turning unhealthy tells the organization's admins, once per transition."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.factories import accounts, channels

from socialdesk.accounts.models import Member, Organization, Role
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount, Health
from socialdesk.common.clock import FrozenClock
from socialdesk.connectors import registry
from socialdesk.connectors.base import (
    AccountContext,
    AuthError,
    Capabilities,
    ChannelKind,
    ConnectorError,
    InboundMessage,
    LengthCounting,
    OutboundRequest,
    PollResult,
    RawEvent,
    SendResult,
)
from socialdesk.conversations.jobs import poll_account
from socialdesk.db.session import get_sessionmaker
from socialdesk.notifications.models import Notification


@dataclass
class People:
    org: Organization
    owner: Member
    admin: Member
    agent: Member
    other_admin: Member  # of another organization


@pytest.fixture
def people(session: Session) -> People:
    org = accounts.organization(session)
    other = accounts.organization(session)
    found = People(
        org=org,
        owner=accounts.member(session, org, role=Role.OWNER),
        admin=accounts.member(session, org, role=Role.ADMIN),
        agent=accounts.member(session, org, role=Role.AGENT),
        other_admin=accounts.member(session, other, role=Role.ADMIN),
    )
    session.commit()
    return found


def notifications(session: Session) -> list[Notification]:
    session.flush()
    session.expire_all()
    return list(session.scalars(select(Notification).order_by(Notification.id)))


def test_turning_unhealthy_notifies_owners_and_admins(
    session: Session, people: People, clock: FrozenClock
) -> None:
    account = channels.brand_account(session, people.org, kind="mastodon")
    assert account.health == Health.UNKNOWN.value
    channels_service.mark_health(account, healthy=False, reason="token revoked by the user")
    session.commit()

    found = notifications(session)
    assert sorted(n.member_id for n in found) == sorted([people.owner.id, people.admin.id])
    for n in found:
        assert n.kind == "account.unhealthy"
        assert n.organization_id == people.org.id
        assert n.title == f"Mastodon account {account.handle} needs attention"
        assert n.body == "token revoked by the user"
        assert n.link == f"/admin/accounts/{account.id}"
        assert n.data == {"brand_account_id": account.id, "channel": "mastodon"}
        assert n.created_at == clock.now()
    assert account.health == Health.UNHEALTHY.value
    assert account.health_reason == "token revoked by the user"


def test_the_same_failure_again_notifies_nobody(session: Session, people: People) -> None:
    account = channels.brand_account(session, people.org, kind="x")
    channels_service.mark_health(account, healthy=False, reason="X answered 401: token expired")
    channels_service.mark_health(account, healthy=False, reason="X answered 401: token expired")
    session.commit()
    assert len(notifications(session)) == 2  # owner and admin, once


def test_a_reason_differing_only_in_numbers_is_the_same_reason(
    session: Session, people: People
) -> None:
    account = channels.brand_account(session, people.org, kind="facebook")
    channels_service.mark_health(
        account, healthy=False, reason="Session has expired on 20-Nov-26 09:00:00; now 02:00"
    )
    channels_service.mark_health(
        account, healthy=False, reason="Session has expired on 20-Nov-26 09:00:00;  now 02:01"
    )
    session.commit()
    assert len(notifications(session)) == 2


def test_a_new_reason_notifies_again(session: Session, people: People) -> None:
    account = channels.brand_account(session, people.org, kind="x")
    channels_service.mark_health(account, healthy=False, reason="X answered 401: token expired")
    channels_service.mark_health(account, healthy=False, reason="your access tier has no mentions")
    session.commit()
    bodies = [n.body for n in notifications(session)]
    assert bodies.count("X answered 401: token expired") == 2
    assert bodies.count("your access tier has no mentions") == 2


def test_recovering_then_failing_again_notifies_again(session: Session, people: People) -> None:
    account = channels.brand_account(session, people.org, kind="x")
    channels_service.mark_health(account, healthy=False, reason="token expired")
    channels_service.mark_health(account, healthy=True)
    assert account.health == Health.OK.value
    assert account.health_reason is None
    assert len(notifications(session)) == 2  # recovering notifies nobody
    channels_service.mark_health(account, healthy=False, reason="token expired")
    session.commit()
    assert len(notifications(session)) == 4


def test_healthy_to_unhealthy_notifies(session: Session, people: People) -> None:
    account = channels.brand_account(session, people.org, kind="web")
    assert account.health == Health.OK.value
    channels_service.mark_health(account, healthy=False, reason="disabled")
    session.commit()
    assert len(notifications(session)) == 2


def test_a_rolled_back_change_notifies_nobody(session: Session, people: People) -> None:
    account = channels.brand_account(session, people.org, kind="x")
    session.commit()
    channels_service.mark_health(account, healthy=False, reason="token expired")
    session.rollback()
    assert notifications(session) == []


@dataclass
class FailingPoller:
    """A polled network whose credentials keep being refused."""

    kind: ClassVar[ChannelKind] = ChannelKind.MASTODON
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_length=500, length_counting=LengthCounting.CHARACTERS
    )
    supported_events: ClassVar[frozenset[str]] = frozenset()
    ignored_events: ClassVar[frozenset[str]] = frozenset()

    failures: list[ConnectorError] = field(default_factory=list)
    polls: int = 0

    def parse(self, event: RawEvent) -> list[InboundMessage]:
        return []

    def send(self, account: AccountContext, request: OutboundRequest) -> SendResult:
        raise AuthError("not used")

    def poll(self, account: AccountContext, cursor: str | None) -> PollResult:
        self.polls += 1
        if self.failures:
            raise self.failures.pop(0)
        return PollResult(events=[], cursor=cursor)


def _stored_notifications() -> list[Notification]:
    with get_sessionmaker(write=False)() as reader:
        return list(reader.scalars(select(Notification).order_by(Notification.id)))


def _stored(account_id: int) -> BrandAccount:
    with get_sessionmaker(write=False)() as reader:
        found = reader.get(BrandAccount, account_id)
        assert found is not None
        return found


def test_failed_polls_notify_once_per_transition(session: Session, people: People) -> None:
    account = channels.brand_account(
        session, people.org, kind="mastodon", instance_url="https://social.example"
    )
    session.commit()
    revoked = "Mastodon (social.example) answered 401: The access token was revoked"
    poller = FailingPoller(failures=[AuthError(revoked), AuthError(revoked), AuthError(revoked)])
    with registry.override(poller):
        for _ in range(3):
            poll_account({"brand_account_id": account.id})
        assert _stored(account.id).health == Health.UNHEALTHY.value
        assert len(_stored_notifications()) == 2  # three failed polls, one notification each

        poll_account({"brand_account_id": account.id})  # the admin reconnected: it works
        assert _stored(account.id).health == Health.OK.value
        poller.failures.append(AuthError(revoked))
        poll_account({"brand_account_id": account.id})
    assert poller.polls == 5
    found = _stored_notifications()
    assert len(found) == 4
    assert {n.body for n in found} == {revoked}
    assert {n.member_id for n in found} == {people.owner.id, people.admin.id}
