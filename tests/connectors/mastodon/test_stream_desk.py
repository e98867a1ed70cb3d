"""Mastodon streaming in the desk, against the Mastodon instance of ``test_stream`` served on
127.0.0.1: a mention on the stream wakes the account's poll job, which stores it with the
usual cursor rules; one worker process per account holds the lease; a refused token marks the
account unhealthy and tells its admins; an instance without streaming is left to polling until
the account changes; watchers follow settings and stop cleanly."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Organization, Role
from socialdesk.channels import jobs as channels_jobs
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount, Health, InboundEvent
from socialdesk.common.clock import FrozenClock
from socialdesk.connectors import registry
from socialdesk.connectors.mastodon import MastodonConnector
from socialdesk.connectors.mastodon import stream as mastodon_stream
from socialdesk.conversations.flows import POLL_ACCOUNT_JOB
from socialdesk.conversations.models import Message
from socialdesk.db.session import get_sessionmaker
from socialdesk.notifications.models import Notification
from tests.conftest import JobRunner
from tests.connectors.mastodon.test_stream import (
    BRAND_ID,
    TOKEN,
    FakeMastodon,
    recorded_mention,
    wait_for,
)
from tests.factories import accounts

FAST = mastodon_stream.StreamOptions(
    connect_timeout=2.0,
    request_timeout=2.0,
    read_timeout=5.0,
    base_delay=0.05,
    max_backoff=0.2,
)
STREAM = "/api/v1/streaming/user/notification"
HEALTH = "/api/v1/streaming/health"


@pytest.fixture
def mastodon() -> Iterator[FakeMastodon]:
    fake = FakeMastodon()
    with registry.override(MastodonConnector()):
        yield fake
    fake.close()


@pytest.fixture
def org(session: Session) -> Organization:
    found = accounts.organization(session)
    accounts.member(session, found, role=Role.OWNER)
    accounts.member(session, found, role=Role.ADMIN)
    accounts.member(session, found, role=Role.AGENT)
    session.commit()
    return found


@pytest.fixture
def workers(database_url: str) -> Iterator[Callable[[str], channels_jobs.StreamWatchers]]:
    """Worker processes, each with its own lease owner; stopped while the test's database is
    still there (their leases are released in it)."""
    started: list[channels_jobs.StreamWatchers] = []

    def worker(owner: str) -> channels_jobs.StreamWatchers:
        watchers = channels_jobs.StreamWatchers(owner, options=FAST, wake_interval=0.1)
        started.append(watchers)
        return watchers

    yield worker
    for watchers in started:
        watchers.stop()
    channels_jobs.stop_stream_watchers()


def mastodon_account(
    session: Session, org: Organization, fake: FakeMastodon, token: str = TOKEN, **settings: Any
) -> BrandAccount:
    account = channels_service.create(
        session,
        organization_id=org.id,
        kind="mastodon",
        handle="mastodonpy_test",
        settings={"instance_url": fake.url, "account_id": BRAND_ID, **settings},
        credentials={"access_token": token},
    )
    account.poll_cursor = "20"  # notification 21, the recorded mention, is new
    session.commit()
    return account


def stored(account_id: int) -> BrandAccount:
    with get_sessionmaker(write=False)() as reader:
        account = reader.get_one(BrandAccount, account_id)
        reader.expunge(account)
        return account


def lease_of(account_id: int) -> Any:
    return stored(account_id).settings.get(channels_service.STREAM_LEASE_SETTING)


def off_note(account_id: int) -> Any:
    return stored(account_id).settings.get(channels_service.STREAM_OFF_SETTING)


def messages(account_id: int) -> list[Message]:
    with get_sessionmaker(write=False)() as reader:
        found = list(
            reader.scalars(
                select(Message).where(Message.brand_account_id == account_id).order_by(Message.id)
            )
        )
        reader.expunge_all()
        return found


def event_count(account_id: int) -> int:
    with get_sessionmaker(write=False)() as reader:
        return int(
            reader.scalar(
                select(func.count())
                .select_from(InboundEvent)
                .where(InboundEvent.brand_account_id == account_id)
            )
            or 0
        )


def unhealthy_notices(organization_id: int) -> list[Notification]:
    with get_sessionmaker(write=False)() as reader:
        found = list(
            reader.scalars(
                select(Notification).where(
                    Notification.organization_id == organization_id,
                    Notification.kind == channels_service.UNHEALTHY_NOTIFICATION,
                )
            )
        )
        reader.expunge_all()
        return found


def test_a_mention_on_the_stream_reaches_the_desk_through_the_poller(
    session: Session,
    jobs: JobRunner,
    org: Organization,
    mastodon: FakeMastodon,
    workers: Callable[[str], channels_jobs.StreamWatchers],
) -> None:
    account = mastodon_account(session, org, mastodon)
    state = workers("worker-a").ensure()[account.id]
    assert wait_for(lambda: state.connected), state
    lease = lease_of(account.id)
    assert lease["owner"] == "worker-a"
    # Connecting asks for one poll (mentions may have come while nobody listened): nothing yet.
    assert wait_for(lambda: jobs.queue.pending_count() == 1)
    jobs.run_pending()
    assert messages(account.id) == []

    mention = recorded_mention()
    mastodon.notifications.append(mention)
    sent_at = time.monotonic()
    mastodon.push("notification", mention)
    assert wait_for(lambda: jobs.queue.pending_count() >= 1), state
    jobs.run_pending()
    latency = time.monotonic() - sent_at
    [message] = messages(account.id)
    assert message.native_id == mention["status"]["id"]
    assert "hello!" in message.text
    assert stored(account.id).poll_cursor == "21"
    assert latency < 5, f"the mention took {latency:.1f}s to reach the desk"

    # The same notification again (the stream repeats it, or a poll overlaps): stored once.
    mastodon.push("notification", mention)
    assert wait_for(lambda: jobs.queue.pending_count() >= 1)
    jobs.run_pending()
    assert len(messages(account.id)) == 1
    assert event_count(account.id) == 1
    assert stored(account.id).poll_cursor == "21"
    assert state.notifications == 2
    assert stored(account.id).health == Health.OK.value


def test_a_refused_token_marks_the_account_unhealthy_until_it_is_connected_again(
    session: Session,
    org: Organization,
    mastodon: FakeMastodon,
    workers: Callable[[str], channels_jobs.StreamWatchers],
) -> None:
    account = mastodon_account(session, org, mastodon, token="revoked")
    worker = workers("worker-a")
    state = worker.ensure()[account.id]
    assert wait_for(lambda: off_note(account.id) is not None), state
    note = off_note(account.id)
    assert note["refused"] is True
    found = stored(account.id)
    assert found.health == Health.UNHEALTHY.value
    assert found.health_reason is not None
    assert "refused the streaming connection" in found.health_reason
    assert "connect the account again" in found.health_reason
    # The owner and the admin are told, once.
    assert len(unhealthy_notices(org.id)) == 2

    # Not tried again, by this process or any other, while the account stays as it is.
    assert account.id not in worker.ensure()
    assert account.id not in workers("worker-b").ensure()
    assert lease_of(account.id) is None
    assert len(mastodon.requests_to(STREAM)) == 1

    # Connected again with a good token: followed again, and healthy.
    channels_service.connect(
        session,
        organization_id=org.id,
        kind="mastodon",
        handle="mastodonpy_test",
        display_name=None,
        settings={"instance_url": mastodon.url},
        credentials={"access_token": TOKEN},
    )
    session.commit()
    again = worker.ensure()[account.id]
    assert wait_for(lambda: again.connected), again
    assert off_note(account.id) is None
    assert stored(account.id).health == Health.OK.value
    assert len(unhealthy_notices(org.id)) == 2


def test_a_refusal_on_an_account_already_unhealthy_tells_nobody_again(
    session: Session,
    org: Organization,
    mastodon: FakeMastodon,
    workers: Callable[[str], channels_jobs.StreamWatchers],
) -> None:
    account = mastodon_account(session, org, mastodon, token="revoked")
    channels_service.mark_health(account, healthy=False, reason="the poll was refused (401)")
    session.commit()
    assert len(unhealthy_notices(org.id)) == 2
    workers("worker-a").ensure()
    assert wait_for(lambda: off_note(account.id) is not None)
    assert stored(account.id).health_reason == "the poll was refused (401)"
    assert len(unhealthy_notices(org.id)) == 2


def test_an_instance_without_streaming_is_polled_and_not_retried_until_the_account_changes(
    session: Session,
    jobs: JobRunner,
    org: Organization,
    mastodon: FakeMastodon,
    workers: Callable[[str], channels_jobs.StreamWatchers],
) -> None:
    mastodon.names_streaming = False  # and its own host has none
    account = mastodon_account(session, org, mastodon)
    worker = workers("worker-a")
    state = worker.ensure()[account.id]
    assert wait_for(lambda: off_note(account.id) is not None), state
    assert state.supported is False
    assert off_note(account.id)["refused"] is False
    assert "has no streaming API" in off_note(account.id)["reason"]
    assert stored(account.id).health == Health.UNKNOWN.value  # nothing wrong with the account
    assert account.id not in worker.ensure()
    assert account.id not in workers("worker-b").ensure()
    assert len(mastodon.requests_to(HEALTH)) == 1

    # Polling goes on as before.
    mention = recorded_mention()
    mastodon.notifications.append(mention)
    jobs.queue.enqueue(POLL_ACCOUNT_JOB, {"brand_account_id": account.id})
    jobs.run_pending()
    assert [m.native_id for m in messages(account.id)] == [mention["status"]["id"]]

    # The account's settings change: streaming is tried again (and found missing again).
    session.refresh(account)
    account.settings = {**account.settings, "reply_visibility": "unlisted"}
    session.commit()
    retried = worker.ensure()[account.id]
    assert retried is not state
    assert wait_for(lambda: len(mastodon.requests_to(HEALTH)) == 2)
    assert wait_for(lambda: retried.supported is False)


@pytest.mark.parametrize("setting", ["streaming", "polling_enabled"])
def test_streaming_can_be_switched_off(
    session: Session,
    org: Organization,
    mastodon: FakeMastodon,
    workers: Callable[[str], channels_jobs.StreamWatchers],
    setting: str,
) -> None:
    switched_off: dict[str, Any] = {setting: False}
    account = mastodon_account(session, org, mastodon, **switched_off)
    assert account.id not in workers("worker-a").ensure()
    assert lease_of(account.id) is None
    assert mastodon.seen == []


def test_one_worker_process_per_account_holds_the_lease(
    session: Session,
    clock: FrozenClock,
    org: Organization,
    mastodon: FakeMastodon,
    workers: Callable[[str], channels_jobs.StreamWatchers],
) -> None:
    account = mastodon_account(session, org, mastodon)
    a, b = workers("worker-a"), workers("worker-b")
    first = a.ensure()[account.id]
    assert wait_for(lambda: first.connected)
    assert account.id not in b.ensure()
    assert account.id not in b.ensure()  # nor at its next renewal
    assert mastodon.streams_opened == 1
    assert lease_of(account.id)["owner"] == "worker-a"

    # Worker a stops: its lease is given back at once and worker b takes over.
    a.stop()
    assert lease_of(account.id) is None
    assert wait_for(lambda: mastodon.open_streams() == 0)
    second = b.ensure()[account.id]
    assert wait_for(lambda: second.connected)
    assert lease_of(account.id)["owner"] == "worker-b"
    assert account.id not in a.ensure()

    # Worker b stops renewing (it hangs or died): when its lease lapses, a takes over, and b,
    # when it comes to, finds the lease gone and stops watching.
    clock.advance(channels_service.WATCH_LEASE + timedelta(seconds=1))
    third = a.ensure()[account.id]
    assert wait_for(lambda: third.connected)
    assert lease_of(account.id)["owner"] == "worker-a"
    assert account.id not in b.ensure()
    assert wait_for(lambda: not second.connected)
    assert wait_for(lambda: mastodon.open_streams() == 1)
    assert mastodon.streams_opened == 3


def test_watchers_follow_settings_and_the_worker_hook_stops_cleanly(
    session: Session,
    org: Organization,
    mastodon: FakeMastodon,
    workers: Callable[[str], channels_jobs.StreamWatchers],
) -> None:
    account = mastodon_account(session, org, mastodon)
    worker = workers("worker-a")
    first = worker.ensure()[account.id]
    assert wait_for(lambda: first.connected)
    # The next renewal keeps the same watcher.
    assert worker.ensure()[account.id] is first

    # A new token: the watcher starts again with it.
    mastodon.token = "token-new"
    session.refresh(account)
    channels_service.update_credentials(account, {"access_token": "token-new"})
    session.commit()
    second = worker.ensure()[account.id]
    assert second is not first
    assert wait_for(lambda: second.connected and not first.connected)
    assert mastodon.requests_to(STREAM)[-1].authorization == "Bearer token-new"

    # Streaming switched off for the account: watcher stopped, lease given back.
    session.refresh(account)
    account.settings = {**account.settings, "streaming": False}
    session.commit()
    assert account.id not in worker.ensure()
    assert wait_for(lambda: not second.connected)
    assert wait_for(lambda: mastodon.open_streams() == 0)
    assert lease_of(account.id) is None
    worker.stop()
    opened = mastodon.streams_opened

    # The worker's own start-up hook: watching at once, then kept up by its renewal thread,
    # which picks up an account switched back on without anyone calling ensure.
    assert channels_jobs.start_stream_watchers(every_seconds=0.05) == {}
    session.refresh(account)
    account.settings = {**account.settings, "streaming": True}
    session.commit()
    assert wait_for(lambda: mastodon.streams_opened == opened + 1)
    assert mastodon.open_streams() == 1
    assert lease_of(account.id)["owner"] == channels_jobs.PROCESS_TOKEN
    started = time.monotonic()
    channels_jobs.stop_stream_watchers()
    assert time.monotonic() - started < 2
    assert wait_for(lambda: mastodon.open_streams() == 0)
    assert lease_of(account.id) is None
