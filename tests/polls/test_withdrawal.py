"""Withdrawing a posted poll: who may, which polls may be, the job that deletes its post with
retries and failures (the one who asked told of a final one), and a withdrawn poll no longer
counted as open, by the counting job or the polls report. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import AuditEvent, Member, Organization, Role
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount, Health
from socialdesk.common.clock import FrozenClock
from socialdesk.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from socialdesk.connectors import registry
from socialdesk.conversations.models import WithdrawalState
from socialdesk.events.models import EventRecord
from socialdesk.notifications.models import Notification
from socialdesk.polls import report, withdrawal
from socialdesk.polls import service as polls
from socialdesk.polls.models import Poll, PollState
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories.connectors import (
    PollingConnector,
    WithdrawingPollConnector,
    permanent,
    revoked,
    tally,
    transient,
)
from tests.factories.polls import held


@pytest.fixture
def network() -> Iterator[WithdrawingPollConnector]:
    connector = WithdrawingPollConnector()
    with registry.override(connector):
        yield connector


def _posted(session: Session, jobs: JobRunner) -> tuple[Poll, Member, Organization]:
    """A poll asked by an agent and posted by the job, as the desk posts one."""
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="mastodon")
    author = accounts.member(session, org, name="Ana Lima")
    poll = polls.create(
        session,
        author=author,
        draft=polls.Draft(
            brand_account_id=account.id,
            question="Which opening hours suit you?",
            options=("Early", "Late"),
            seconds=86400,
        ),
    )
    session.commit()
    jobs.run_pending()
    return _reload(session, poll.id), author, org


def _reload(session: Session, poll_id: int) -> Poll:
    session.expire_all()
    return session.get_one(Poll, poll_id)


def _told(session: Session, member: Member) -> list[Notification]:
    session.expire_all()
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.member_id == member.id, Notification.kind.startswith("poll."))
            .order_by(Notification.id)
        )
    )


def test_the_author_withdraws_a_posted_poll_and_its_counts_stop(
    session: Session, clock: FrozenClock, jobs: JobRunner, network: WithdrawingPollConnector
) -> None:
    poll, author, _org = _posted(session, jobs)
    assert (poll.state, poll.post_id) == (PollState.OPEN.value, "1000")
    clock.advance(timedelta(minutes=3))
    asked_at = clock.now()
    withdrawal.request(session, poll=poll, actor=author, reason="  Asked from the wrong account ")
    session.commit()
    pending = _reload(session, poll.id)
    assert pending.withdrawal_state == WithdrawalState.PENDING.value
    assert pending.withdrawal_reason == "Asked from the wrong account"
    assert pending.withdrawal_requested_by_id == author.id
    assert pending.withdrawal_requested_at == asked_at
    assert pending.state == PollState.OPEN.value  # still up until the network says so
    assert network.withdrawn == []  # nothing leaves before the commit and the job
    # Being withdrawn: its counts are no longer read, even when due.
    clock.advance(polls.COUNT_EVERY)
    assert polls.due_for_count(session, now=clock.now()) == []
    session.commit()
    polls.count(poll.id)  # a count already queued reads nothing (no counts are set to answer)

    clock.advance(timedelta(seconds=20))
    jobs.run_pending()
    done = _reload(session, poll.id)
    assert network.withdrawn == ["1000"]
    assert done.withdrawal_state == WithdrawalState.WITHDRAWN.value
    assert done.withdrawn_at == datetime(2026, 1, 5, 9, 8, 20, tzinfo=UTC)
    assert done.withdrawal_error is None
    assert done.state == PollState.WITHDRAWN.value
    assert done.state_changed_at == done.withdrawn_at
    assert done.votes == [0, 0]  # the last counts read stay
    clock.advance(timedelta(days=2))
    assert polls.due_for_count(session, now=clock.now()) == []
    session.commit()
    polls.count(poll.id)  # a count queued before the withdrawal reads nothing
    assert _reload(session, poll.id).state == PollState.WITHDRAWN.value
    audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "poll_withdrawn")).one()
    assert audit.actor_member_id == author.id
    assert audit.after == {"state": "open", "reason": "Asked from the wrong account"}
    assert _told(session, author) == []


def test_asking_twice_asks_the_network_once(
    session: Session, jobs: JobRunner, network: WithdrawingPollConnector
) -> None:
    poll, author, _org = _posted(session, jobs)
    withdrawal.request(session, poll=poll, actor=author, reason="Wrong question")
    withdrawal.request(session, poll=poll, actor=author, reason="Wrong question")  # pending
    session.commit()
    jobs.run_pending()
    again = withdrawal.request(
        session, poll=_reload(session, poll.id), actor=author, reason="Once more"
    )
    session.commit()
    jobs.run_pending()
    withdrawal.withdraw({"poll_id": poll.id})  # a duplicate job, e.g. a recovered one
    assert again.state == PollState.WITHDRAWN.value
    assert again.withdrawal_reason == "Wrong question"
    assert network.withdrawn == ["1000"]


def test_a_closed_poll_may_be_withdrawn_too(
    session: Session, jobs: JobRunner, network: WithdrawingPollConnector
) -> None:
    poll, author, _org = _posted(session, jobs)
    poll.state = PollState.CLOSED.value
    withdrawal.request(session, poll=poll, actor=author, reason="Wrong question")
    session.commit()
    jobs.run_pending()
    assert _reload(session, poll.id).state == PollState.WITHDRAWN.value


def test_a_temporary_failure_retries_with_backoff(
    session: Session, jobs: JobRunner, network: WithdrawingPollConnector
) -> None:
    poll, author, _org = _posted(session, jobs)
    network.withdraw_failures = [transient("the instance answered 503; will try again later")]
    withdrawal.request(session, poll=poll, actor=author, reason="Typo")
    session.commit()
    jobs.run_pending()
    waiting = _reload(session, poll.id)
    assert waiting.withdrawal_state == WithdrawalState.PENDING.value
    assert waiting.withdrawal_error == "the instance answered 503; will try again later"
    assert waiting.state == PollState.OPEN.value
    assert jobs.huey.scheduled_count() == 1  # the retry waits for its backoff
    jobs.run_pending(include_scheduled=True)
    done = _reload(session, poll.id)
    assert (done.withdrawal_state, done.withdrawal_error) == ("withdrawn", None)
    assert done.state == PollState.WITHDRAWN.value
    assert network.withdrawn == ["1000"]
    assert _told(session, author) == []  # a temporary failure tells nobody


def test_a_final_failure_keeps_the_reason_tells_who_asked_and_may_be_tried_again(
    session: Session,
    clock: FrozenClock,
    jobs: JobRunner,
    network: WithdrawingPollConnector,
) -> None:
    poll, author, org = _posted(session, jobs)
    admin = accounts.member(session, org, role=Role.ADMIN, name="Priya Shah")
    network.withdraw_failures = [permanent("the instance refused the request (403): forbidden")]
    withdrawal.request(session, poll=poll, actor=admin, reason="Wrong account")
    session.commit()
    jobs.run_pending()
    failed = _reload(session, poll.id)
    assert failed.withdrawal_state == WithdrawalState.FAILED.value
    assert failed.withdrawal_error == "the instance refused the request (403): forbidden"
    # Still up on the network: open, and its counts are read again.
    assert failed.state == PollState.OPEN.value
    clock.advance(polls.COUNT_EVERY)
    assert polls.due_for_count(session, now=clock.now()) == [poll.id]
    account = session.get_one(BrandAccount, poll.brand_account_id)
    (told,) = _told(session, admin)
    assert told.kind == "poll.withdrawal_failed"
    assert told.title == f"A poll could not be withdrawn from the Mastodon account {account.handle}"
    assert told.body.startswith("the instance refused the request (403): forbidden\n\n")
    assert "“Which opening hours suit you?”" in told.body
    assert told.link == f"/polls/{poll.id}"
    assert told.data == {"poll_id": poll.id, "brand_account_id": account.id}
    assert _told(session, author) == []  # the one who asked is told, not the author

    withdrawal.request(session, poll=failed, actor=admin, reason="Wrong account")  # "Try again"
    session.commit()
    jobs.run_pending()
    assert _reload(session, poll.id).state == PollState.WITHDRAWN.value
    assert network.withdrawn == ["1000"]


def test_each_change_of_a_withdrawal_is_an_event_the_polls_page_follows(
    session: Session, jobs: JobRunner, network: WithdrawingPollConnector
) -> None:
    poll, author, org = _posted(session, jobs)
    network.withdraw_failures = [permanent("the instance refused the request (403): forbidden")]
    withdrawal.request(session, poll=poll, actor=author, reason="Wrong account")
    session.commit()
    jobs.run_pending()
    withdrawal.request(session, poll=_reload(session, poll.id), actor=author, reason="Again")
    session.commit()
    jobs.run_pending()
    session.expire_all()
    rows = session.scalars(
        select(EventRecord).where(EventRecord.kind == "poll.changed").order_by(EventRecord.id)
    ).all()
    assert {r.organization_id for r in rows} == {org.id}
    said = [
        (r.payload["state"], r.payload["withdrawal_state"], r.payload["withdrawal_error"])
        for r in rows
        if r.payload["poll_id"] == poll.id
    ]
    refused = "the instance refused the request (403): forbidden"
    assert said[-4:] == [
        ("open", "pending", None),
        ("open", "failed", refused),
        ("open", "pending", None),
        ("withdrawn", "withdrawn", None),
    ]


def test_repeated_temporary_failures_give_up_and_tell_who_asked(
    session: Session, jobs: JobRunner, network: WithdrawingPollConnector
) -> None:
    poll, author, _org = _posted(session, jobs)
    network.withdraw_failures = [transient("the instance answered 503") for _ in range(20)]
    withdrawal.request(session, poll=poll, actor=author, reason="Typo")
    session.commit()
    for _ in range(20):
        if not jobs.run_pending(include_scheduled=True):
            break
    failed = _reload(session, poll.id)
    assert failed.withdrawal_state == WithdrawalState.FAILED.value
    assert failed.withdrawal_error == "gave up after repeated failures: the instance answered 503"
    assert network.withdrawn == []
    (told,) = _told(session, author)
    assert told.body.startswith("gave up after repeated failures: the instance answered 503")


def test_a_refused_token_fails_it_and_marks_the_account(
    session: Session, jobs: JobRunner, network: WithdrawingPollConnector
) -> None:
    poll, author, _org = _posted(session, jobs)
    network.withdraw_failures = [revoked()]
    withdrawal.request(session, poll=poll, actor=author, reason="Typo")
    session.commit()
    jobs.run_pending()
    failed = _reload(session, poll.id)
    assert failed.withdrawal_state == WithdrawalState.FAILED.value
    assert "needs attention: token revoked by the user" in (failed.withdrawal_error or "")
    account = session.get_one(BrandAccount, poll.brand_account_id)
    assert account.health == Health.UNHEALTHY.value


def test_its_author_or_an_admin_who_may_act_for_the_account_may_withdraw_it(
    session: Session, jobs: JobRunner, network: WithdrawingPollConnector
) -> None:
    poll, author, org = _posted(session, jobs)
    colleague = accounts.member(session, org, role=Role.APPROVER)
    with pytest.raises(PermissionDenied, match="only the poll's author, or an owner or admin"):
        withdrawal.request(session, poll=poll, actor=colleague, reason="Typo")
    admin = accounts.member(session, org, role=Role.ADMIN)
    account = session.get_one(BrandAccount, poll.brand_account_id)
    channels_service.set_access(session, account=account, member_ids=[author.id], team_ids=[])
    with pytest.raises(PermissionDenied, match=f"you may not act for {account.display_name}"):
        withdrawal.request(session, poll=poll, actor=admin, reason="Typo")
    channels_service.set_access(session, account=account, member_ids=[admin.id], team_ids=[])
    with pytest.raises(PermissionDenied, match="so you may not withdraw its polls"):
        withdrawal.request(session, poll=poll, actor=author, reason="Typo")
    withdrawal.request(session, poll=poll, actor=admin, reason="Wrong account")
    assert poll.withdrawal_requested_by_id == admin.id
    assert withdrawal.offered(admin, poll, account) is False  # pending: nothing to offer


def test_another_organizations_poll_is_not_found(
    session: Session, jobs: JobRunner, network: WithdrawingPollConnector
) -> None:
    poll, _author, _org = _posted(session, jobs)
    stranger = accounts.member(session, accounts.organization(session), role=Role.OWNER)
    with pytest.raises(NotFound, match=f"poll {poll.id} does not exist"):
        withdrawal.request(session, poll=poll, actor=stranger, reason="Typo")


@pytest.mark.parametrize(
    ("reason", "says"),
    [("", "say why"), ("   ", "say why"), ("x" * 501, "at most 500 characters; this one has 501")],
)
def test_a_reason_is_required(
    session: Session, jobs: JobRunner, network: WithdrawingPollConnector, reason: str, says: str
) -> None:
    poll, author, _org = _posted(session, jobs)
    with pytest.raises(ValidationFailed, match=says) as caught:
        withdrawal.request(session, poll=poll, actor=author, reason=reason)
    assert caught.value.field == "reason"
    assert poll.withdrawal_state is None


@pytest.mark.parametrize(
    ("state", "says"),
    [
        (PollState.HELD, "not posted yet: it waits for approval"),
        (PollState.QUEUED, "not posted yet: it is on its way"),
        (PollState.SENDING, "not posted yet: it is on its way"),
        (PollState.FAILED, "it was never posted, so there is nothing to take back"),
        (PollState.REJECTED, "it was rejected by an approver and never posted"),
    ],
)
def test_a_poll_not_posted_cannot_be_withdrawn_and_says_why(
    session: Session, network: WithdrawingPollConnector, state: PollState, says: str
) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="mastodon")
    author = accounts.member(session, org)
    poll = held(session, account, author)
    poll.state = state.value
    with pytest.raises(Conflict, match=says):
        withdrawal.request(session, poll=poll, actor=author, reason="Typo")
    assert not withdrawal.offered(author, poll, account)
    assert network.withdrawn == []


def test_a_network_that_cannot_delete_refuses_clearly(session: Session, jobs: JobRunner) -> None:
    with registry.override(PollingConnector()):
        poll, author, _org = _posted(session, jobs)
        account = session.get_one(BrandAccount, poll.brand_account_id)
        with pytest.raises(
            Conflict, match="Mastodon polls cannot be taken back from the desk once posted"
        ):
            withdrawal.request(session, poll=poll, actor=author, reason="Typo")
        assert not withdrawal.offered(author, poll, account)
        assert poll.withdrawal_state is None


def test_a_withdrawn_poll_is_not_in_the_reports_figures(
    session: Session, clock: FrozenClock, jobs: JobRunner, network: WithdrawingPollConnector
) -> None:
    poll, author, org = _posted(session, jobs)
    kept = polls.create(
        session,
        author=author,
        draft=polls.Draft(
            brand_account_id=poll.brand_account_id,
            question="Tea or coffee?",
            options=("Tea", "Coffee"),
            seconds=86400,
        ),
    )
    session.commit()
    jobs.run_pending()
    network.tallies = {"p1": [tally("p1", (3, 4))], "p2": [tally("p2", (1, 1))]}
    clock.advance(polls.COUNT_EVERY)
    session.commit()
    polls.count_open()
    withdrawal.request(session, poll=_reload(session, poll.id), actor=author, reason="Mistake")
    session.commit()
    jobs.run_pending()
    session.expire_all()  # read as a new request would

    found = report.build(session, organization_id=org.id, start=None, end=None)
    assert [line.poll_id for line in found.polls] == [kept.id]
    assert found.totals == report.Totals(
        posted=1,
        open=1,
        closed=0,
        votes=2,
        replies=0,
        triaged=0,
        negative=0,
        complaints=0,
        withdrawn=1,
    )
    assert found.not_posted == report.NotPosted()
