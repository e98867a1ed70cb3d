from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Organization, Role
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount, Health
from socialdesk.common.clock import FrozenClock
from socialdesk.common.errors import Conflict, PermissionDenied, ValidationFailed
from socialdesk.connectors import registry
from socialdesk.connectors.base import ConnectorError
from socialdesk.events.models import EventRecord
from socialdesk.notifications.models import Notification
from socialdesk.outbound import service as outbound
from socialdesk.policy import service as policy_service
from socialdesk.policy.models import PolicyDecision
from socialdesk.polls import service as polls
from socialdesk.polls.models import Poll, PollState
from socialdesk.polls.results import choices
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories.connectors import PollingConnector, permanent, revoked, tally, transient
from tests.factories.polls import RULES

# One character as people see it, five code points.
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"


@pytest.fixture
def network() -> Iterator[PollingConnector]:
    connector = PollingConnector()
    with registry.override(connector):
        yield connector


def _desk(session: Session) -> tuple[Organization, BrandAccount, Member]:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="mastodon")
    agent = accounts.member(session, org, name="Ana Lima")
    admin = accounts.member(session, org, role=Role.ADMIN, name="Priya Shah")
    policy_service.save(session, organization_id=org.id, yaml_text=RULES, author=admin)
    session.commit()
    return org, account, agent


def _draft(
    account: BrandAccount, question: str = "Which opening hours suit you?", **kw: Any
) -> polls.Draft:
    draft = polls.Draft(
        brand_account_id=account.id,
        question=question,
        options=("Early", "Late", ""),
        seconds=86400,
    )
    return dataclasses.replace(draft, **kw)


def _sweep(session: Session) -> None:
    """The periodic job, run as the worker would: after the test's own transaction."""
    session.commit()
    polls.count_open()


def _reload(session: Session, poll_id: int) -> Poll:
    session.expire_all()
    return session.get_one(Poll, poll_id)


def test_a_poll_is_posted_by_a_job_and_counted_until_it_closes(
    session: Session, jobs: JobRunner, network: PollingConnector, clock: FrozenClock
) -> None:
    _, account, agent = _desk(session)
    poll = polls.create(session, author=agent, draft=_draft(account))
    session.commit()
    assert poll.state == PollState.QUEUED.value
    assert poll.options == ["Early", "Late"]  # the blank third box is left out
    assert network.polls == []  # nothing leaves before the commit and the job
    jobs.run_pending()
    posted = _reload(session, poll.id)
    assert posted.state == PollState.OPEN.value
    assert (posted.post_id, posted.native_poll_id) == ("1000", "p1")
    assert posted.url == "https://mastodon.example/@brand/1"
    assert posted.closes_at == clock.now() + timedelta(days=1)
    assert posted.votes == [0, 0]
    request = network.polls[0]
    assert request.idempotency_key == f"socialdesk-{outbound.install_tag()}-poll-{poll.id}"
    assert (request.question, request.options, request.seconds) == (
        "Which opening hours suit you?",
        ("Early", "Late"),
        86400,
    )
    # The counts are read every few minutes, not on every sweep.
    network.tallies["p1"] = [tally("p1", (3, 5)), tally("p1", (4, 9), closed=True, voters=12)]
    assert polls.due_for_count(session, now=clock.now()) == []
    clock.advance(polls.COUNT_EVERY)
    _sweep(session)
    counted = _reload(session, poll.id)
    assert (counted.state, counted.votes, counted.votes_count) == ("open", [3, 5], 8)
    _sweep(session)  # read a moment ago: not read again
    assert network.tallies["p1"] != []
    clock.advance(timedelta(days=1))
    _sweep(session)
    closed = _reload(session, poll.id)
    assert (closed.state, closed.votes, closed.voters_count) == ("closed", [4, 9], 12)
    assert [(c.title, c.votes, c.leading) for c in choices(closed)] == [
        ("Early", 4, False),
        ("Late", 9, True),
    ]
    told = session.scalars(select(Notification).where(Notification.member_id == agent.id)).one()
    assert told.kind == "poll.closed"
    assert told.title == "Your poll closed: “Late” won (69%)"
    assert told.link == f"/polls/{poll.id}"
    _sweep(session)  # closed polls are not read again
    assert polls.due_for_count(session, now=clock.now()) == []


def _events(session: Session, poll_id: int) -> list[tuple[str, str | None]]:
    """The ``poll.changed`` events of one poll: the state each said, and its error."""
    session.expire_all()
    rows = session.scalars(
        select(EventRecord).where(EventRecord.kind == "poll.changed").order_by(EventRecord.id)
    )
    return [
        (r.payload["state"], r.payload["error"]) for r in rows if r.payload["poll_id"] == poll_id
    ]


def test_every_change_of_a_poll_is_an_event_of_its_organization(
    session: Session, jobs: JobRunner, network: PollingConnector, clock: FrozenClock
) -> None:
    org, account, agent = _desk(session)
    poll = polls.create(session, author=agent, draft=_draft(account))
    session.commit()
    jobs.run_pending()
    assert _events(session, poll.id) == [("queued", None), ("open", None)]
    network.tallies["p1"] = [
        tally("p1", (3, 5)),
        tally("p1", (3, 5)),  # nothing new: no page is told
        tally("p1", (4, 9), closed=True),
    ]
    clock.advance(polls.COUNT_EVERY)
    _sweep(session)
    clock.advance(polls.COUNT_EVERY)
    _sweep(session)
    assert network.tallies["p1"] == [tally("p1", (4, 9), closed=True)]
    clock.advance(timedelta(days=1))
    _sweep(session)
    assert _events(session, poll.id)[2:] == [("open", None), ("closed", None)]
    record = session.scalars(
        select(EventRecord).where(EventRecord.kind == "poll.changed").order_by(EventRecord.id)
    ).first()
    assert record is not None
    assert record.organization_id == org.id
    assert record.payload == {
        "poll_id": poll.id,
        "state": "queued",
        "withdrawal_state": None,
        "error": None,
        "withdrawal_error": None,
    }

    # Failed, tried again, posted.
    network.failures = [permanent("422: the poll options are invalid")]
    second = polls.create(session, author=agent, draft=_draft(account, question="Which day?"))
    session.commit()
    jobs.run_pending()
    polls.retry(session, poll=_reload(session, second.id), actor=agent)
    session.commit()
    jobs.run_pending()
    assert _events(session, second.id) == [
        ("queued", None),
        ("failed", "422: the poll options are invalid"),
        ("queued", None),
        ("open", None),
    ]


@pytest.mark.parametrize(
    ("draft", "field", "words"),
    [
        ({"question": "  "}, "question", "needs a question"),
        ({"options": ("Only one", " ")}, "options", "at least two choices"),
        ({"options": ("a", "b", "c", "d", "e")}, "options", "at most 4 choices; this poll has 5"),
        ({"options": ("a", "x" * 51)}, "options", "choice 2 has 51 characters"),
        # Counted as people see them: 51 family emoji (five code points each) are 51.
        ({"options": ("a", FAMILY * 51)}, "options", "choice 2 has 51 characters"),
        ({"options": ("Yes", "yes ")}, "options", "'yes' is there twice"),
        ({"seconds": 60}, "seconds", "from 5 minutes to"),
        ({"seconds": 40 * 86400}, "seconds", "40 days is outside"),
    ],
)
def test_what_the_network_would_refuse_is_named_and_nothing_is_stored(
    session: Session,
    network: PollingConnector,
    draft: dict[str, Any],
    field: str,
    words: str,
) -> None:
    _, account, agent = _desk(session)
    with pytest.raises(ValidationFailed) as refused:
        polls.create(session, author=agent, draft=_draft(account, **draft))
    assert refused.value.field == field
    assert words in refused.value.message
    assert session.scalars(select(Poll)).all() == []


def test_a_choice_is_counted_in_characters_as_people_see_them(
    session: Session, network: PollingConnector
) -> None:
    _, account, agent = _desk(session)
    poll = polls.create(session, author=agent, draft=_draft(account, options=("a", FAMILY * 50)))
    assert poll.options == ["a", FAMILY * 50]


def test_every_word_passes_the_code_of_conduct_choices_included(
    session: Session, jobs: JobRunner, network: PollingConnector
) -> None:
    _, account, agent = _desk(session)
    with pytest.raises(outbound.Blocked) as blocked:
        polls.create(
            session,
            author=agent,
            draft=_draft(account, "What goes with pizza?", options=("Cola", "Beer")),
        )
    assert blocked.value.field == "question"
    assert [r.rule for r in blocked.value.outcome.reasons] == ["no-alcohol"]
    session.rollback()  # as the request would
    decision = session.scalars(select(PolicyDecision)).one()  # kept though the request failed
    assert (decision.decision, decision.stage) == ("block", "queue")
    with pytest.raises(outbound.NeedsConfirmation):
        polls.create(
            session,
            author=agent,
            draft=_draft(account, "Are we better than AcmeCorp?", options=("Yes", "No")),
        )
    session.rollback()
    warned = polls.create(
        session,
        author=agent,
        draft=_draft(account, "Are we better than AcmeCorp?", options=("Yes", "No")),
        confirmed=True,
    )
    assert warned.state == PollState.QUEUED.value
    # The question alone counts towards the post's length; a long one is refused.
    with pytest.raises(outbound.Blocked) as too_long:
        polls.create(session, author=agent, draft=_draft(account, "Why? " * 101))
    assert "500" in too_long.value.message


def test_a_held_poll_waits_for_an_approver_who_is_not_its_author(
    session: Session, jobs: JobRunner, network: PollingConnector
) -> None:
    org, account, agent = _desk(session)
    approver = accounts.member(session, org, role=Role.APPROVER, name="Jonas Berg")
    poll = polls.create(
        session,
        author=agent,
        draft=_draft(account, "Which price plan should we add?", options=("Family", "Student")),
    )
    session.commit()
    assert poll.state == PollState.HELD.value
    assert [r["rule"] for r in poll.reasons] == ["prices-need-approval"]
    jobs.run_pending()
    assert network.polls == []
    asked = session.scalars(select(Notification).where(Notification.kind == "approval.poll")).all()
    assert {n.member_id for n in asked} >= {approver.id}
    assert agent.id not in {n.member_id for n in asked}
    assert polls.held_count(session, approver=approver) == 1
    with pytest.raises(PermissionDenied):
        polls.approve(session, poll=poll, approver=agent)  # an agent may not approve
    with pytest.raises(ValidationFailed, match="say why"):
        polls.reject(session, poll=poll, approver=approver, comment=" ")
    polls.approve(session, poll=poll, approver=approver, comment="Fine by me")
    session.commit()
    with pytest.raises(Conflict):
        polls.approve(session, poll=poll, approver=approver)
    jobs.run_pending()
    posted = _reload(session, poll.id)
    assert posted.state == PollState.OPEN.value
    assert posted.decided_by_id == approver.id
    assert len(network.polls) == 1
    told = session.scalars(select(Notification).where(Notification.kind == "poll.decided")).one()
    assert (told.member_id, told.title) == (agent.id, "Your poll was approved")


def test_a_rejected_poll_is_never_posted(
    session: Session, jobs: JobRunner, network: PollingConnector
) -> None:
    org, account, agent = _desk(session)
    approver = accounts.member(session, org, role=Role.APPROVER)
    poll = polls.create(
        session, author=agent, draft=_draft(account, "A price question", options=("a", "b"))
    )
    polls.reject(session, poll=poll, approver=approver, comment="Not this month")
    session.commit()
    jobs.run_pending()
    assert network.polls == []
    assert _reload(session, poll.id).error == f"rejected by {approver.name}: Not this month"


def test_a_rule_added_after_queueing_stops_the_poll_right_before_posting(
    session: Session, jobs: JobRunner, network: PollingConnector
) -> None:
    org, account, agent = _desk(session)
    poll = polls.create(session, author=agent, draft=_draft(account, options=("Cider", "Tea")))
    admin = accounts.member(session, org, role=Role.ADMIN)
    stricter = RULES.replace("terms: [beer, wine]", "terms: [beer, wine, cider]")
    policy_service.save(session, organization_id=org.id, yaml_text=stricter, author=admin)
    session.commit()
    jobs.run_pending()
    failed = _reload(session, poll.id)
    assert failed.state == PollState.FAILED.value
    assert failed.error is not None
    assert failed.error.startswith("refused right before posting")
    assert network.polls == []
    told = session.scalars(select(Notification).where(Notification.kind == "poll.failed")).one()
    assert told.member_id == agent.id


def test_transient_failures_retry_and_post_once(
    session: Session, jobs: JobRunner, network: PollingConnector
) -> None:
    _, account, agent = _desk(session)
    network.failures = [transient()]
    poll = polls.create(session, author=agent, draft=_draft(account))
    session.commit()
    jobs.run_pending()
    waiting = _reload(session, poll.id)
    assert (waiting.state, waiting.error) == ("queued", "503 from the provider")
    jobs.run_pending(include_scheduled=True)
    posted = _reload(session, poll.id)
    assert (posted.state, posted.attempts) == ("open", 2)
    assert len(network.polls) == 1


def test_a_refusal_fails_with_its_reason_and_tells_the_author(
    session: Session, jobs: JobRunner, network: PollingConnector
) -> None:
    _, account, agent = _desk(session)
    network.failures = [permanent("422: the poll options are invalid")]
    poll = polls.create(session, author=agent, draft=_draft(account))
    session.commit()
    jobs.run_pending()
    failed = _reload(session, poll.id)
    assert (failed.state, failed.error) == ("failed", "422: the poll options are invalid")
    told = session.scalars(select(Notification).where(Notification.kind == "poll.failed")).one()
    assert (told.member_id, told.title) == (agent.id, "Your poll could not be posted")
    assert told.body.startswith("422: the poll options are invalid")


def test_retry_of_a_failed_poll_posts_it(
    session: Session, jobs: JobRunner, network: PollingConnector
) -> None:
    _, account, agent = _desk(session)
    network.failures = [permanent()]
    poll = polls.create(session, author=agent, draft=_draft(account))
    session.commit()
    jobs.run_pending()
    polls.retry(session, poll=_reload(session, poll.id), actor=agent)
    session.commit()
    with pytest.raises(Conflict, match="only a poll that failed"):
        polls.retry(session, poll=_reload(session, poll.id), actor=agent)
    jobs.run_pending()
    assert _reload(session, poll.id).state == PollState.OPEN.value
    assert len(network.polls) == 1


def test_a_revoked_token_fails_the_poll_and_marks_the_account(
    session: Session, jobs: JobRunner, network: PollingConnector
) -> None:
    _, account, agent = _desk(session)
    network.failures = [revoked()]
    poll = polls.create(session, author=agent, draft=_draft(account))
    session.commit()
    jobs.run_pending()
    failed = _reload(session, poll.id)
    assert failed.state == PollState.FAILED.value
    assert failed.error is not None
    assert "needs attention: token revoked" in failed.error
    assert session.get_one(BrandAccount, account.id).health == Health.UNHEALTHY.value


def test_counts_that_cannot_be_read_are_said_and_given_up_a_day_after_closing(
    session: Session, jobs: JobRunner, network: PollingConnector, clock: FrozenClock
) -> None:
    _, account, agent = _desk(session)
    poll = polls.create(session, author=agent, draft=_draft(account, seconds=3600))
    session.commit()
    jobs.run_pending()
    posted_at = _reload(session, poll.id).counted_at
    network.read_failures = [ConnectorError("the instance answered 502")]
    clock.advance(polls.COUNT_EVERY)
    _sweep(session)
    unread = _reload(session, poll.id)
    assert unread.state == PollState.OPEN.value
    assert unread.error == "the counts could not be read: the instance answered 502"
    assert unread.counted_at == posted_at  # the counts shown are still those of the post
    network.read_failures = [ConnectorError("gone")]
    clock.advance(timedelta(hours=1) + polls.GIVE_UP_COUNTING)
    _sweep(session)
    given_up = _reload(session, poll.id)
    assert given_up.state == PollState.CLOSED.value
    assert given_up.error == "closed; the final counts could not be read: gone"


def test_an_interrupted_post_is_posted_again_with_the_same_key(
    session: Session, jobs: JobRunner, network: PollingConnector, clock: FrozenClock
) -> None:
    _, account, agent = _desk(session)
    poll = polls.create(session, author=agent, draft=_draft(account))
    session.commit()
    jobs.flush()  # the job is lost
    stored = _reload(session, poll.id)
    stored.state = PollState.SENDING.value  # a worker died mid-post
    session.commit()
    clock.advance(outbound.STALE_SENDING + timedelta(minutes=1))
    assert polls.recover_stale(session) == 1
    session.commit()
    jobs.run_pending()
    assert _reload(session, poll.id).state == PollState.OPEN.value
    assert len(network.polls) == 1


def test_polls_belong_to_their_organization_and_its_accounts(
    session: Session, network: PollingConnector
) -> None:
    _, account, agent = _desk(session)
    other_org, other_account, stranger = _desk(session)
    poll = polls.create(session, author=agent, draft=_draft(account))
    session.commit()
    with pytest.raises(ValidationFailed, match="does not exist"):
        polls.create(session, author=stranger, draft=_draft(account))
    with pytest.raises(Exception, match="does not exist"):
        polls.get(session, member=stranger, poll_id=poll.id)
    web = channels.brand_account(session, other_org, kind="web")
    with pytest.raises(ValidationFailed, match="cannot post polls"):
        polls.create(session, author=stranger, draft=_draft(web))
    page = polls.page(session, organization_id=other_org.id, cursor=None, limit=10)
    assert page.items == []
    assert [a.id for a in polls.accounts_for(session, member=stranger)] == [other_account.id]
    viewer = accounts.member(session, other_org, role=Role.VIEWER)
    with pytest.raises(PermissionDenied):
        polls.create(session, author=viewer, draft=_draft(other_account))


def test_a_block_added_while_a_poll_waits_stops_its_approval_and_is_kept(
    session: Session, jobs: JobRunner, network: PollingConnector
) -> None:
    org, account, agent = _desk(session)
    approver = accounts.member(session, org, role=Role.APPROVER)
    admin = accounts.member(session, org, role=Role.ADMIN)
    poll = polls.create(
        session,
        author=agent,
        draft=_draft(account, "Which price plan should we add?", options=("Family", "Student")),
    )
    session.commit()
    stricter = RULES.replace("terms: [beer, wine]", "terms: [beer, wine, family]")
    policy_service.save(session, organization_id=org.id, yaml_text=stricter, author=admin)
    session.commit()
    with pytest.raises(outbound.Blocked, match="We do not talk about drinking"):
        polls.approve(session, poll=poll, approver=approver)
    session.rollback()  # as the request that asked would
    assert _reload(session, poll.id).state == PollState.HELD.value
    kept = session.scalars(
        select(PolicyDecision).where(PolicyDecision.member_id == approver.id)
    ).all()
    assert [(d.stage, d.decision) for d in kept] == [("approval", "block")]
    jobs.run_pending()
    assert network.polls == []


def test_approvers_count_only_the_polls_of_accounts_they_may_act_for(
    session: Session, network: PollingConnector
) -> None:
    org, account, agent = _desk(session)
    approver = accounts.member(session, org, role=Role.APPROVER)
    polls.create(session, author=agent, draft=_draft(account, "A price question?"))
    session.commit()
    assert polls.held_count(session, approver=approver) == 1
    channels_service.set_access(session, account=account, member_ids=[agent.id], team_ids=[])
    session.commit()
    assert polls.held_count(session, approver=approver) == 0


def test_a_block_says_the_poll_is_not_posted(session: Session, network: PollingConnector) -> None:
    _, account, agent = _desk(session)
    with pytest.raises(outbound.Blocked) as blocked:
        polls.create(session, author=agent, draft=_draft(account, "Wine or water?"))
    assert blocked.value.message.startswith("not posted: We do not talk about drinking")
