"""Renewing X access tokens before they expire: the periodic scan, the claim, the refresh
grant against a scripted token endpoint, refusals marking the account unhealthy (and telling
its admins), and credentials a failed call obtained being kept."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qsl

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.conftest import JobRunner
from tests.connectors.fake_http import FakeProvider, response
from tests.factories import accounts

from socialdesk.accounts.models import Member, Organization, Role
from socialdesk.channels import jobs as channels_jobs
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount, Health
from socialdesk.common.clock import FrozenClock
from socialdesk.db.session import get_sessionmaker
from socialdesk.notifications.models import Notification

RENEWED = {
    "token_type": "bearer",
    "expires_in": 7200,
    "access_token": "access-2",
    "scope": "tweet.read tweet.write users.read dm.read dm.write offline.access",
    "refresh_token": "refresh-2",
}
# What X answers for a refresh token that was already used or was revoked.
REFUSED = {
    "error": "invalid_request",
    "error_description": "Value passed for the token was invalid.",
}


@dataclass
class World:
    org: Organization
    owner: Member
    agent: Member


@pytest.fixture
def world(session: Session) -> World:
    org = accounts.organization(session)
    found = World(
        org=org,
        owner=accounts.member(session, org, role=Role.OWNER),
        agent=accounts.member(session, org, role=Role.AGENT),
    )
    session.commit()
    return found


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    provider = FakeProvider()
    monkeypatch.setattr(channels_jobs, "x_transport", provider.transport)
    monkeypatch.setattr(channels_jobs, "x_sleep", lambda _seconds: None)
    return provider


def x_account(
    session: Session,
    world: World,
    clock: FrozenClock,
    *,
    expires_in: timedelta = timedelta(minutes=5),
    **credentials: str,
) -> BrandAccount:
    account = channels_service.create(
        session,
        organization_id=world.org.id,
        kind="x",
        handle=f"@brand{len(credentials)}{int(expires_in.total_seconds())}",
        settings={"user_id": "42"},
        credentials={
            "access_token": "access-1",
            "refresh_token": "refresh-1",
            "expires_at": (clock.now() + expires_in).isoformat(),
            "client_id": "cid",
            "client_secret": "csecret",
            **credentials,
        },
    )
    session.commit()
    return account


def stored(account_id: int) -> BrandAccount:
    with get_sessionmaker(write=False)() as reader:
        found = reader.get(BrandAccount, account_id)
        assert found is not None
        reader.expunge(found)
        return found


def credentials_of(account_id: int) -> dict[str, str]:
    return dict(channels_service.context_for(stored(account_id)).credentials)


def notifications() -> list[Notification]:
    with get_sessionmaker(write=False)() as reader:
        return list(reader.scalars(select(Notification).order_by(Notification.id)))


def run_scan(jobs: JobRunner) -> int:
    jobs.run_pending()  # commits the test's session first
    channels_jobs.refresh_x_tokens()
    return jobs.run_pending()


def test_a_token_about_to_expire_is_renewed(
    session: Session,
    world: World,
    clock: FrozenClock,
    jobs: JobRunner,
    endpoint: FakeProvider,
) -> None:
    endpoint.on("POST", "/2/oauth2/token", response(200, RENEWED))
    account = x_account(session, world, clock)
    assert run_scan(jobs) == 1

    [sent] = endpoint.requests
    assert str(sent.url) == "https://api.x.com/2/oauth2/token"
    assert dict(parse_qsl(sent.content.decode())) == {
        "grant_type": "refresh_token",
        "refresh_token": "refresh-1",
        "client_id": "cid",
    }
    assert sent.headers["Authorization"] == "Basic " + base64.b64encode(b"cid:csecret").decode()
    assert credentials_of(account.id) == {
        "access_token": "access-2",
        "refresh_token": "refresh-2",
        "expires_at": (clock.now() + timedelta(hours=2)).isoformat(),
        "client_id": "cid",
        "client_secret": "csecret",
    }
    after = stored(account.id)
    assert channels_service.REFRESH_CLAIM_SETTING not in after.settings
    assert after.settings["user_id"] == "42"
    # Renewed: not due again for almost two hours.
    assert run_scan(jobs) == 0
    clock.advance(timedelta(hours=1, minutes=51))
    assert run_scan(jobs) == 1
    assert len(endpoint.requests) == 2
    assert dict(parse_qsl(endpoint.requests[1].content.decode()))["refresh_token"] == ("refresh-2")


def test_tokens_with_time_left_are_left_alone(
    session: Session,
    world: World,
    clock: FrozenClock,
    jobs: JobRunner,
    endpoint: FakeProvider,
) -> None:
    x_account(session, world, clock, expires_in=timedelta(minutes=11))
    assert run_scan(jobs) == 0
    assert endpoint.requests == []


def test_the_token_endpoint_follows_the_accounts_api_base(
    session: Session,
    world: World,
    clock: FrozenClock,
    jobs: JobRunner,
    endpoint: FakeProvider,
) -> None:
    endpoint.on("POST", "/2/oauth2/token", response(200, RENEWED))
    account = x_account(session, world, clock)
    account.settings = {**account.settings, "api_base": "http://127.0.0.1:8765/"}
    session.commit()
    run_scan(jobs)
    assert str(endpoint.requests[0].url) == "http://127.0.0.1:8765/2/oauth2/token"


def test_a_refused_refresh_marks_the_account_unhealthy_and_tells_admins_once(
    session: Session,
    world: World,
    clock: FrozenClock,
    jobs: JobRunner,
    endpoint: FakeProvider,
) -> None:
    endpoint.on("POST", "/2/oauth2/token", response(400, REFUSED))
    account = x_account(session, world, clock)
    run_scan(jobs)

    after = stored(account.id)
    assert after.health == Health.UNHEALTHY.value
    assert after.health_reason is not None
    assert after.health_reason.startswith("X refused to renew the access token")
    assert "Value passed for the token was invalid." in after.health_reason
    assert after.health_reason.endswith("connect the account again")
    assert credentials_of(account.id)["refresh_token"] == "refresh-1"  # untouched
    [told] = notifications()
    assert told.member_id == world.owner.id
    assert told.kind == "account.unhealthy"
    assert told.link == f"/admin/accounts/{account.id}"

    # The refused token is not tried again, before or after it expires.
    assert run_scan(jobs) == 0
    clock.advance(timedelta(minutes=30))
    assert run_scan(jobs) == 0
    assert len(endpoint.requests) == 1
    assert len(notifications()) == 1

    # Connected again: the new refresh token is renewed as usual.
    endpoint.on("POST", "/2/oauth2/token", response(200, RENEWED))
    endpoint._queues[("POST", "/2/oauth2/token")].popleft()
    channels_service.connect(
        session,
        organization_id=world.org.id,
        kind="x",
        handle=account.handle,
        display_name=None,
        settings={"user_id": "42"},
        credentials={
            "access_token": "access-3",
            "refresh_token": "refresh-3",
            "expires_at": (clock.now() + timedelta(minutes=3)).isoformat(),
            "client_id": "cid",
        },
    )
    assert run_scan(jobs) == 1
    assert credentials_of(account.id)["access_token"] == "access-2"
    assert stored(account.id).health == Health.OK.value


def test_an_unreachable_token_endpoint_is_retried_later(
    session: Session,
    world: World,
    clock: FrozenClock,
    jobs: JobRunner,
    endpoint: FakeProvider,
) -> None:
    endpoint.on("POST", "/2/oauth2/token", httpx.ConnectError("connection refused"))
    account = x_account(session, world, clock)
    run_scan(jobs)
    # Connection refused is certain not to have reached X: retried in-process, then the job
    # is rescheduled; nothing changed and nobody was told.
    assert len(endpoint.requests) == channels_jobs.X_POLICY.max_attempts
    assert jobs.queue.pending_count() == 1  # the retry, scheduled with backoff
    after = stored(account.id)
    assert after.health == Health.UNKNOWN.value
    assert channels_service.REFRESH_CLAIM_SETTING not in after.settings
    assert credentials_of(account.id)["refresh_token"] == "refresh-1"
    assert notifications() == []

    endpoint.on("POST", "/2/oauth2/token", response(200, RENEWED))
    endpoint._queues[("POST", "/2/oauth2/token")].popleft()
    jobs.run_pending(include_scheduled=True)
    assert credentials_of(account.id)["access_token"] == "access-2"


def test_a_rate_limited_renewal_is_retried_after_the_reset(
    session: Session,
    world: World,
    clock: FrozenClock,
    jobs: JobRunner,
    endpoint: FakeProvider,
) -> None:
    endpoint.on("POST", "/2/oauth2/token", response(429, {"title": "Too Many Requests"}))
    x_account(session, world, clock)
    run_scan(jobs)
    assert len(endpoint.requests) == 1  # the token endpoint's 429 is not hammered
    assert jobs.queue.pending_count() == 1
    assert notifications() == []


def test_one_claim_at_a_time_and_a_dead_workers_claim_lapses(
    session: Session, world: World, clock: FrozenClock
) -> None:
    account = x_account(session, world, clock)
    first = channels_service.claim_x_refresh(session, brand_account_id=account.id, now=clock.now())
    session.commit()
    assert first is not None
    assert "refresh-1" not in repr(first)
    assert (
        channels_service.claim_x_refresh(session, brand_account_id=account.id, now=clock.now())
        is None
    )
    assert channels_service.x_refresh_due(session, now=clock.now()) == []
    clock.advance(channels_service.X_REFRESH_CLAIM + timedelta(seconds=1))
    assert channels_service.x_refresh_due(session, now=clock.now()) == [account.id]
    again = channels_service.claim_x_refresh(session, brand_account_id=account.id, now=clock.now())
    assert again is not None


def test_a_connection_made_during_renewal_wins(
    session: Session, world: World, clock: FrozenClock
) -> None:
    account = x_account(session, world, clock)
    claim = channels_service.claim_x_refresh(session, brand_account_id=account.id, now=clock.now())
    assert claim is not None
    channels_service.set_credentials(
        account, {"access_token": "fresh", "refresh_token": "fresh-r", "client_id": "cid"}
    )
    kept = channels_service.store_x_tokens(
        session,
        claim=claim,
        credentials={"access_token": "late", "refresh_token": "late-r", "expires_at": "x"},
    )
    session.commit()
    assert not kept
    assert credentials_of(account.id)["access_token"] == "fresh"
    assert channels_service.REFRESH_CLAIM_SETTING not in stored(account.id).settings


def test_an_expired_token_that_cannot_be_renewed_marks_the_account_once(
    session: Session,
    world: World,
    clock: FrozenClock,
    jobs: JobRunner,
    endpoint: FakeProvider,
) -> None:
    account = x_account(session, world, clock, refresh_token="")
    assert run_scan(jobs) == 0  # not expired yet: nothing to say
    clock.advance(timedelta(minutes=6))
    assert run_scan(jobs) == 1
    after = stored(account.id)
    assert after.health == Health.UNHEALTHY.value
    assert after.health_reason is not None
    assert "no refresh token" in after.health_reason
    assert run_scan(jobs) == 0
    assert len(notifications()) == 1
    assert endpoint.requests == []


def test_accounts_of_other_channels_and_without_expiry_are_ignored(
    session: Session,
    world: World,
    clock: FrozenClock,
    jobs: JobRunner,
    endpoint: FakeProvider,
) -> None:
    channels_service.create(
        session,
        organization_id=world.org.id,
        kind="mastodon",
        handle="@brand@social.example",
        credentials={"access_token": "t", "expires_at": clock.now().isoformat()},
    )
    channels_service.create(
        session,
        organization_id=world.org.id,
        kind="x",
        handle="@manual",
        credentials={"access_token": "t", "refresh_token": "r"},
    )
    session.commit()
    assert run_scan(jobs) == 0
    assert endpoint.requests == []


@dataclass
class RenewingConnector:
    """Stands for a connector that renewed a session during a call that then failed."""

    pending: dict[int, dict[str, str]]

    def take_credentials_update(self, brand_account_id: int) -> dict[str, str] | None:
        return self.pending.pop(brand_account_id, None)


def test_credentials_obtained_by_a_failed_call_are_kept(
    session: Session, world: World, clock: FrozenClock
) -> None:
    account = channels_service.create(
        session,
        organization_id=world.org.id,
        kind="bluesky",
        handle="shop.example",
        credentials={"app_password": "pw", "refresh_jwt": "spent"},
    )
    connector = RenewingConnector({account.id: {"access_jwt": "a2", "refresh_jwt": "r2"}})
    assert channels_service.store_pending_credentials(account, connector)
    assert channels_service.context_for(account).credentials == {
        "app_password": "pw",
        "access_jwt": "a2",
        "refresh_jwt": "r2",
    }
    assert not channels_service.store_pending_credentials(account, connector)  # taken once
    assert not channels_service.store_pending_credentials(account, object())
