"""An admin's "Check now": signing in to the network with the stored credentials, through the
real X connector answering with recorded traffic, and what the account's health records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.conftest import JobRunner
from tests.connectors.fake_http import FakeProvider, recorded, response
from tests.factories import accounts, channels

import socialdesk.connectors.facebook as facebook_pkg
import socialdesk.connectors.x as x_pkg
from socialdesk.accounts.models import Organization, Role
from socialdesk.channels import health
from socialdesk.channels import jobs as channels_jobs
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount, Health
from socialdesk.common.clock import FrozenClock
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.connectors import registry
from socialdesk.connectors.facebook.connector import FacebookConnector
from socialdesk.connectors.x import XConnector
from socialdesk.notifications.models import Notification

ME = Path(x_pkg.__file__).parent / "fixtures" / "responses" / "users_me.json"
FB = Path(facebook_pkg.__file__).parent / "fixtures" / "responses"
PAGE_ID = "101234567890123"  # the Page of the recording
RECORDED_ID = "1072250532645998596"  # @TweepyDev, the account of the recording
UNAUTHORIZED = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}


@pytest.fixture
def network() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    with registry.override(XConnector(transport=provider.transport, sleep=lambda _: None)):
        yield provider


@pytest.fixture
def org(session: Session) -> Organization:
    made = accounts.organization(session)
    accounts.member(session, made, role=Role.ADMIN)
    session.commit()
    return made


def _x_account(session: Session, org: Organization, user_id: str = RECORDED_ID) -> BrandAccount:
    account = channels.brand_account(session, org, kind="x", user_id=user_id)
    channels_service.set_credentials(account, {"access_token": "stored-token"})
    session.commit()
    return account


def _check(account: BrandAccount) -> health.ConnectionCheck:
    return health.check_connection(
        organization_id=account.organization_id, brand_account_id=account.id
    )


def _stored(session: Session, account: BrandAccount) -> BrandAccount:
    session.expire_all()
    return session.get_one(BrandAccount, account.id)


def test_credentials_the_network_accepts_make_the_account_healthy(
    session: Session, org: Organization, network: FakeProvider, clock: FrozenClock
) -> None:
    account = _x_account(session, org)
    network.on("GET", "/2/users/me", recorded(ME))
    checked = _check(account)
    assert checked.ok
    assert checked.detail == "signed in as @TweepyDev"
    assert checked.health_changed
    [call] = network.sent("GET", "/2/users/me")
    assert call.headers["authorization"] == "Bearer stored-token"
    stored = _stored(session, account)
    assert (stored.health, stored.health_reason) == (Health.OK.value, None)
    assert stored.health_checked_at == clock.now()


def test_a_refused_token_makes_the_account_unhealthy_and_tells_the_admins(
    session: Session, org: Organization, network: FakeProvider
) -> None:
    account = _x_account(session, org)
    network.on("GET", "/2/users/me", response(401, UNAUTHORIZED))
    checked = _check(account)
    assert not checked.ok
    assert "expired or was revoked" in checked.detail
    stored = _stored(session, account)
    assert (stored.health, stored.health_reason) == (Health.UNHEALTHY.value, checked.detail)
    [told] = session.scalars(select(Notification)).all()
    assert told.kind == channels_service.UNHEALTHY_NOTIFICATION
    assert told.body == checked.detail


def test_credentials_of_another_account_are_named(
    session: Session, org: Organization, network: FakeProvider
) -> None:
    """The token works, but for another X user than the one this account was connected as:
    replies would go out under the wrong name."""
    account = _x_account(session, org, user_id="783214")
    network.on("GET", "/2/users/me", recorded(ME))
    checked = _check(account)
    assert not checked.ok
    assert checked.detail == (
        f"the credentials are for @TweepyDev, not {account.handle}: reconnect while signed in "
        f"to X as {account.handle}"
    )
    assert _stored(session, account).health == Health.UNHEALTHY.value


def test_a_network_that_cannot_answer_now_leaves_the_health_as_it_was(
    session: Session, org: Organization, network: FakeProvider
) -> None:
    account = _x_account(session, org)
    network.on("GET", "/2/users/me", response(503, {"title": "Service Unavailable"}))
    checked = _check(account)
    assert not checked.ok
    assert not checked.health_changed
    assert checked.detail == (
        "X answered 503 Service Unavailable; health unchanged: check again later"
    )
    stored = _stored(session, account)
    assert (stored.health, stored.health_checked_at) == (Health.UNKNOWN.value, None)
    assert session.scalars(select(Notification)).all() == []
    # Somebody waits for the answer: one retry, not the three the connector gives a job.
    assert len(network.sent("GET", "/2/users/me")) == 2


def test_the_daily_check_is_as_patient_as_a_job(
    session: Session, org: Organization, network: FakeProvider
) -> None:
    account = _x_account(session, org)
    network.on("GET", "/2/users/me", response(503, {"title": "Service Unavailable"}))
    checked = health.check_connection(
        organization_id=org.id, brand_account_id=account.id, person_waiting=False
    )
    assert not checked.health_changed
    assert len(network.sent("GET", "/2/users/me")) == 4


def test_an_account_that_is_not_set_up_is_not_sent_to_the_network(
    session: Session, org: Organization, network: FakeProvider
) -> None:
    account = channels.brand_account(session, org, kind="x")
    session.commit()
    checked = _check(account)
    assert not checked.ok
    assert not checked.health_changed
    assert (
        checked.detail
        == f"not checked: X account '{account.handle}' has no access token; connect it"
    )
    assert network.requests == []


def test_the_website_channel_has_nothing_to_check(session: Session, org: Organization) -> None:
    account = channels.brand_account(session, org, kind="web")
    session.commit()
    assert not health.can_check(account)
    with pytest.raises(ValidationFailed, match="Website accounts sign in to no network"):
        _check(account)


def test_another_organizations_account_is_not_found(
    session: Session, org: Organization, network: FakeProvider
) -> None:
    account = _x_account(session, org)
    other = accounts.organization(session)
    session.commit()
    with pytest.raises(NotFound):
        health.check_connection(organization_id=other.id, brand_account_id=account.id)
    assert network.requests == []


def test_accounts_nothing_polls_are_checked_once_a_day(
    session: Session, org: Organization, clock: FrozenClock, jobs: JobRunner
) -> None:
    """A Facebook Page is pushed to, never polled: the daily check finds a Page token that
    stopped working (recorded Graph answers) before a reply fails on it. Polled accounts,
    accounts not set up and the website channel are left to their own ways."""
    graph = FakeProvider().on(
        "GET",
        f"/v24.0/{PAGE_ID}",
        recorded(FB / "page.json"),
        recorded(FB / "error_token_expired.json"),
    )
    page = channels.brand_account(session, org, kind="facebook", page_id=PAGE_ID)
    channels_service.set_credentials(page, {"page_access_token": "p", "app_secret": "s"})
    polled = _x_account(session, org)
    quiet = channels.brand_account(session, org, kind="x", user_id="1", polling_enabled=False)
    channels_service.set_credentials(quiet, {"access_token": "q"})
    channels.brand_account(session, org, kind="facebook", page_id="55")  # no credentials
    channels.brand_account(session, org, kind="web")
    session.commit()
    facebook = FacebookConnector(transport=graph.transport, sleep=lambda _: None)
    with registry.override(facebook):
        assert health.unwatched_account_ids(session, now=clock.now()) == [page.id, quiet.id]
        quiet_account = _stored(session, quiet)
        channels_service.mark_health(quiet_account, healthy=True)  # checked just now
        session.commit()

        channels_jobs.check_unwatched_accounts()
        jobs.run_pending()
        assert _stored(session, page).health == Health.OK.value
        assert health.unwatched_account_ids(session, now=clock.now()) == []

        clock.advance(health.RECHECK_AFTER + timedelta(minutes=1))
        assert health.unwatched_account_ids(session, now=clock.now()) == [page.id, quiet.id]
        channels_jobs.check_unwatched_accounts()
        jobs.run_pending()
    stored = _stored(session, page)
    assert stored.health == Health.UNHEALTHY.value
    assert "Session has expired" in (stored.health_reason or "")
    assert len(graph.sent("GET", f"/v24.0/{PAGE_ID}")) == 2
    assert _stored(session, polled).health_checked_at is None  # its polls check it
