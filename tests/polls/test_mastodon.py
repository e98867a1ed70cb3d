"""A poll asked in the desk reaches Mastodon's API exactly, and its counts come back from it:
the real connector against a real server's recorded answers (fixtures/SOURCES.md), through the
service, the posting job and the counting job. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

import socialdesk.connectors.mastodon as mastodon_pkg
from socialdesk.channels import service as channels_service
from socialdesk.common.clock import FrozenClock
from socialdesk.connectors import registry
from socialdesk.connectors.http import RetryPolicy
from socialdesk.connectors.mastodon import MastodonConnector
from socialdesk.outbound import service as outbound
from socialdesk.polls import service as polls
from socialdesk.polls.models import Poll
from tests.conftest import JobRunner
from tests.connectors.fake_http import FakeProvider, body_of, recorded
from tests.factories import accounts, channels

RESPONSES = Path(mastodon_pkg.__file__).parent / "fixtures" / "responses"


@pytest.fixture
def instance() -> Iterator[FakeProvider]:
    provider = (
        FakeProvider()
        .on("GET", "/api/v2/instance", recorded(RESPONSES / "instance_v2.json"))
        .on("POST", "/api/v1/statuses", recorded(RESPONSES / "poll_status_created.json"))
        .on("GET", "/api/v1/polls/1", recorded(RESPONSES / "poll_read.json"))
    )
    connector = MastodonConnector(
        transport=provider.transport,
        sleep=lambda _seconds: None,
        policy=RetryPolicy(max_attempts=2, base_delay=0.1, max_delay=0.1, max_wait=1.0),
    )
    with registry.override(connector):
        yield provider


def test_a_poll_goes_to_mastodon_and_its_counts_come_back(
    session: Session, jobs: JobRunner, instance: FakeProvider, clock: FrozenClock
) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(
        session, org, kind="mastodon", instance_url="https://social.example"
    )
    channels_service.set_credentials(account, {"access_token": "token-abc"})
    agent = accounts.member(session, org)
    poll = polls.create(
        session,
        author=agent,
        draft=polls.Draft(
            brand_account_id=account.id,
            question="nice",
            options=("four twenty", "sixty-nine"),
            seconds=300,
            multiple=True,
        ),
    )
    session.commit()
    jobs.run_pending()

    [posted] = instance.sent("POST", "/api/v1/statuses")
    assert posted.headers["Authorization"] == "Bearer token-abc"
    assert posted.headers["Idempotency-Key"] == (
        f"socialdesk-{outbound.install_tag()}-poll-{poll.id}"
    )
    assert body_of(posted) == {
        "status": "nice",
        "visibility": "public",
        "poll": {
            "options": ["four twenty", "sixty-nine"],
            "expires_in": 300,
            "multiple": True,
            "hide_totals": False,
        },
    }
    session.expire_all()
    stored = session.get_one(Poll, poll.id)
    assert stored.state == "open"
    assert (stored.post_id, stored.native_poll_id) == ("109440145871929772", "1")
    assert stored.url == "http://localhost:3000/@admin/109440145871929772"
    assert stored.closes_at == datetime(2022, 12, 1, 19, 53, 20, 832000, tzinfo=UTC)
    assert stored.votes == [0, 0]

    # The recorded poll's time was up long ago: the next sweep reads its counts at once, and
    # as its end is years past though the recording still says "expired": false, they are final.
    session.commit()
    polls.count_open()
    session.expire_all()
    counted = session.get_one(Poll, poll.id)
    assert (counted.votes, counted.votes_count, counted.voters_count) == ([0, 1], 1, 1)
    assert counted.post_id == "109440145871929772"  # a read does not forget the post
    assert counted.state == "closed"
    assert counted.error == "closed a day after its end; the network still called it open"
    clock.advance(polls.COUNT_EVERY)
    session.commit()
    polls.count_open()  # closed: not read again
    assert [r.url.path for r in instance.requests].count("/api/v1/polls/1") == 1
