"""A poll asked in the desk reaches X's API exactly, and the counts of a real X poll come back
from X's own sample answer (fixtures/SOURCES.md): the real connector through the service, the
posting job and the counting job. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import socialdesk.connectors.x as x_pkg
from socialdesk.accounts.models import Organization
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common.clock import FrozenClock
from socialdesk.common.errors import ValidationFailed
from socialdesk.connectors import registry
from socialdesk.connectors.http import RetryPolicy
from socialdesk.connectors.x import XConnector
from socialdesk.notifications.models import Notification
from socialdesk.polls import service as polls
from socialdesk.polls.models import Poll
from tests.conftest import JobRunner
from tests.connectors.fake_http import FakeProvider, body_of, recorded
from tests.factories import accounts, channels

RESPONSES = Path(x_pkg.__file__).parent / "fixtures" / "responses"
CREATED = "1456012973835788293"  # the post tweet_created.json answers with
REAL_POLL_POST = "1199786642791452673"  # the post of poll_read_closed.json


@pytest.fixture
def x_api() -> Iterator[FakeProvider]:
    provider = (
        FakeProvider()
        .on("POST", "/2/tweets", recorded(RESPONSES / "tweet_created.json"))
        .on("GET", "/2/tweets", recorded(RESPONSES / "poll_read_closed.json"))
    )
    connector = XConnector(
        transport=provider.transport,
        sleep=lambda _seconds: None,
        policy=RetryPolicy(max_attempts=2, base_delay=0.1, max_delay=0.1, max_wait=1.0),
    )
    with registry.override(connector):
        yield provider


def _x_account(session: Session) -> tuple[Organization, BrandAccount]:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="x", user_id="2244994945")
    channels_service.set_credentials(account, {"access_token": "token-x"})
    return org, account


def test_a_poll_goes_to_x_and_its_counts_come_back(
    session: Session, jobs: JobRunner, x_api: FakeProvider, clock: FrozenClock
) -> None:
    org, account = _x_account(session)
    agent = accounts.member(session, org)
    poll = polls.create(
        session,
        author=agent,
        draft=polls.Draft(
            brand_account_id=account.id,
            question="Which name do you use?",
            options=("C Sharp", "C Hashtag"),
            seconds=86400,
        ),
    )
    session.commit()
    jobs.run_pending()

    [posted] = x_api.sent("POST", "/2/tweets")
    assert posted.headers["Authorization"] == "Bearer token-x"
    assert body_of(posted) == {
        "text": "Which name do you use?",
        "poll": {"options": ["C Sharp", "C Hashtag"], "duration_minutes": 1440},
    }
    session.expire_all()
    stored = session.get_one(Poll, poll.id)
    assert stored.state == "open"
    assert (stored.post_id, stored.native_poll_id) == (CREATED, CREATED)
    assert stored.url == f"https://x.com/{account.handle}/status/{CREATED}"
    assert stored.closes_at == datetime(2021, 11, 4, 21, 38, 39, 32000, tzinfo=UTC)
    assert stored.votes == [0, 0]

    # The counts of a real X poll: the recorded answer is X's sample for @TwitterDev's post.
    stored.post_id = stored.native_poll_id = REAL_POLL_POST
    stored.counted_at = None
    session.commit()
    polls.count_open()
    [read] = x_api.sent("GET", "/2/tweets")
    assert read.url.params["ids"] == REAL_POLL_POST
    session.expire_all()
    counted = session.get_one(Poll, poll.id)
    assert (counted.votes, counted.votes_count, counted.voters_count) == ([795, 156], 951, 951)
    assert counted.state == "closed"
    assert counted.error is None  # X itself said it closed
    told = session.scalars(
        select(Notification.title).where(Notification.member_id == agent.id)
    ).all()
    assert any("“C Sharp” won (84%)" in title for title in told), told


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"multiple": True}, "multiple", "one answer per voter"),
        ({"seconds": 330}, "seconds", "whole multiples of 1 minute; 330 seconds is not one"),
        ({"options": ("a" * 26, "b")}, "options", "allows 25 per choice"),
        ({"seconds": 8 * 86400}, "seconds", "from 5 minutes to 7 days"),
    ],
)
def test_what_x_would_refuse_is_named_before_anything_is_stored(
    session: Session,
    x_api: FakeProvider,
    clock: FrozenClock,
    overrides: dict[str, object],
    field: str,
    words: str,
) -> None:
    org, account = _x_account(session)
    agent = accounts.member(session, org)
    fields: dict[str, object] = {
        "brand_account_id": account.id,
        "question": "Which name do you use?",
        "options": ("C Sharp", "C Hashtag"),
        "seconds": 3600,
    }
    fields.update(overrides)
    with pytest.raises(ValidationFailed, match=words) as refused:
        polls.create(session, author=agent, draft=polls.Draft(**fields))  # type: ignore[arg-type]
    assert refused.value.field == field
    assert session.scalar(select(Poll.id)) is None
    assert x_api.requests == []
