"""Durable timing, proven with a real worker process that is killed and restarted.

A real ``socialdesk worker`` (the SQLite job queue under a temporary VAR_DIR, a SQLite
database) works through due follow-ups and commitment reminders while this test kills it with
SIGKILL: once deterministically, right after it claimed a follow-up (a hook the worker's
bootstrap installs), then at random moments in a loop. After a last clean run, every due
follow-up was queued exactly once (one outbound message per follow-up, delivered), every
reminder and overdue notice went out exactly once, and nothing was lost.

The worker reads the real clock, so the work is made due "now" or a few seconds ahead: the
conversations are resolved in the past (under a frozen clock in this process) and the
follow-up delay is one hour. Jobs the worker would otherwise only start on the minute (the
periodic tick, the sweep, commitment reminders) are enqueued directly, as the scheduler would.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest
from tests.integration.worker_process import RUN_WORKER, Env, Worker, wait_for

from socialdesk.accounts.models import Role
from socialdesk.commitments import jobs as commitments_jobs
from socialdesk.commitments import service as commitments_service
from socialdesk.commitments.models import Commitment
from socialdesk.common.clock import FrozenClock, use_clock
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import DeliveryState, Direction, Message, Status
from socialdesk.db.session import get_sessionmaker
from socialdesk.followups import jobs as followups_jobs
from socialdesk.followups import service as followups_service
from socialdesk.followups.models import FollowUp, FollowUpStatus
from socialdesk.jobs.registry import Payload, job
from socialdesk.notifications.models import Notification
from socialdesk.outbound import service as outbound_service

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DUE_NOW = 30  # follow-ups due an hour ago
DUE_SOON = 10  # follow-ups that fall due while the worker is being killed
REMINDERS = 8  # commitments whose reminder is due (the promise itself is not)
OVERDUE = 6  # commitments past due: one overdue notice each
KILL_ROUNDS = 6

# The scheduler starts these on the minute; the test starts them at once, by name.
REMIND_JOB = "durability.commitments_remind"
SWEEP_JOB = "durability.followups_sweep"


@job(REMIND_JOB, max_attempts=1)
def _remind(_payload: Payload) -> None:
    commitments_jobs.remind()


@job(SWEEP_JOB, max_attempts=1)
def _sweep(_payload: Payload) -> None:
    followups_jobs.sweep()


# The worker process: the same two jobs, a hook that notes each claimed follow-up in a file
# (and pauses, so a kill can land inside the claiming transaction), then the real CLI.
BOOTSTRAP = (
    f"""
import os, sys, time
from socialdesk.commitments import jobs as commitments_jobs
from socialdesk.followups import jobs as followups_jobs
from socialdesk.followups import service
from socialdesk.jobs.registry import job

job({REMIND_JOB!r}, max_attempts=1)(lambda payload: commitments_jobs.remind())
job({SWEEP_JOB!r}, max_attempts=1)(lambda payload: followups_jobs.sweep())
marker = os.environ["WORKER_MARKER"]
pause = float(os.environ.get("DURABILITY_PAUSE", "0"))

def noted(follow_up_id):
    with open(marker, "a") as out:
        out.write(f"{{follow_up_id}}\\n")
        out.flush()
        os.fsync(out.fileno())
    if pause:
        time.sleep(pause)

service.AFTER_CLAIM.append(noted)
"""
    + RUN_WORKER
)


def _enqueue_rounds() -> None:
    """What the scheduler starts every minute or five: the tick, the sweep, the reminders."""
    from socialdesk.jobs.queue import get_queue

    queue = get_queue()
    queue.enqueue(followups_jobs.RUN_DUE_JOB, {})
    queue.enqueue(REMIND_JOB, {})
    queue.enqueue(SWEEP_JOB, {})


def _now() -> datetime:
    return datetime.now(UTC)


def _setup(session: Session) -> tuple[list[int], list[int], list[int]]:
    """Conversations resolved in the past (follow-ups due now or within seconds), and
    commitments whose reminder or overdue notice is due."""
    org = accounts.organization(session, name="Durable Care")
    agent = accounts.member(session, org, role=Role.AGENT, name="Dana Durable")
    admin = accounts.member(session, org, role=Role.ADMIN)
    account = channels.brand_account(session, org, kind="web")
    followups_service.save_policy(
        session, organization_id=org.id, actor=admin, template="Hi {name}", delay_minutes=60
    )
    session.commit()
    now = _now()
    conversation_ids: list[int] = []
    for i in range(DUE_NOW + DUE_SOON):
        # Resolved 2 hours ago: due an hour ago. Or 60 minutes minus 6-25 s ago: due soon.
        resolved = (
            now - timedelta(hours=2)
            if i < DUE_NOW
            else now - timedelta(minutes=60) + timedelta(seconds=6 + 2 * (i - DUE_NOW))
        )
        with use_clock(FrozenClock(resolved - timedelta(minutes=10))):
            result = ingest(
                session,
                account,
                inbound(author=f"c{i}", text="The line is dead", thread_key=f"visitor:c{i}"),
            )
        with use_clock(FrozenClock(resolved)):
            conversations_service.set_status(
                session, conversation=result.conversation, status=Status.RESOLVED, actor=agent
            )
        session.commit()  # the status listener enqueues the scheduling job
        conversation_ids.append(result.conversation.id)
    reminded: list[int] = []
    overdue: list[int] = []
    for i in range(REMINDERS + OVERDUE):
        due = now + timedelta(hours=3) if i < REMINDERS else now - timedelta(minutes=5)
        commitment = Commitment(
            organization_id=org.id,
            conversation_id=conversation_ids[i],
            owner_id=agent.id,
            text=f"We will call you back ({i})",
            due_at=due,
            remind_at=now - timedelta(minutes=1) if i < REMINDERS else None,
            status="open",
            created_at=now - timedelta(hours=3),
        )
        session.add(commitment)
        session.flush()
        (reminded if i < REMINDERS else overdue).append(commitment.id)
    session.commit()
    return conversation_ids, reminded, overdue


def _state(conversation_ids: list[int]) -> tuple[Counter[str], Counter[int]]:
    """Follow-up statuses, and outbound messages per conversation."""
    with get_sessionmaker(write=False)() as s:
        statuses = Counter(
            s.scalars(select(FollowUp.status).where(FollowUp.conversation_id.in_(conversation_ids)))
        )
        per_conversation: Counter[int] = Counter()
        for conversation_id, count in s.execute(
            select(Message.conversation_id, func.count())
            .where(
                Message.conversation_id.in_(conversation_ids),
                Message.direction == Direction.OUTBOUND.value,
            )
            .group_by(Message.conversation_id)
        ):
            per_conversation[conversation_id] = count
    return statuses, per_conversation


def _notices(kind: str) -> Counter[int]:
    with get_sessionmaker(write=False)() as s:
        rows = s.scalars(select(Notification.data).where(Notification.kind == kind)).all()
    return Counter(int(d["commitment_id"]) for d in rows)


def _no_duplicates(per_conversation: Counter[int]) -> None:
    assert all(n == 1 for n in per_conversation.values()), {
        c: n for c, n in per_conversation.items() if n != 1
    }


def test_a_killed_worker_loses_nothing_and_sends_nothing_twice(env: Env) -> None:
    with get_sessionmaker()() as session:
        conversation_ids, reminded, overdue = _setup(session)
    total = len(conversation_ids)

    # 1. Deterministic: kill the worker right after it claimed a follow-up, inside the
    #    claiming transaction (the hook pauses there).
    worker = Worker(env, BOOTSTRAP, DURABILITY_PAUSE="5.0")
    try:
        wait_for(
            lambda: sum(_state(conversation_ids)[0].values()) == total,
            timeout=60,
            what="the worker to schedule the resolutions' follow-ups",
            env=env,
        )
        _enqueue_rounds()
        wait_for(env.marks, timeout=60, what="a claim", env=env)
        worker.kill()
    finally:
        worker.kill()
    claimed = env.marks()[0]
    with get_sessionmaker(write=False)() as s:
        follow_up = s.get_one(FollowUp, claimed)
        assert follow_up.status == FollowUpStatus.SCHEDULED.value  # rolled back: not lost
        assert follow_up.message_id is None
        queued = s.scalar(
            select(func.count())
            .select_from(Message)
            .where(
                Message.conversation_id == follow_up.conversation_id,
                Message.direction == Direction.OUTBOUND.value,
            )
        )
        assert queued == 0  # and its message was never queued

    # 2. Kill at random moments while the worker is busy (each claim pauses briefly, so the
    #    work takes a few seconds and the kills land in the middle of it).
    seed = int(os.environ.get("DURABILITY_SEED", str(time.time_ns() % 100_000)))
    rng = random.Random(seed)
    kills_mid_run = 0
    for _ in range(KILL_ROUNDS):
        worker = Worker(env, BOOTSTRAP, DURABILITY_PAUSE="0.03")
        try:
            wait_for(worker.ready, timeout=60, what="the worker to start", env=env)
            claims_before = len(env.marks())
            _enqueue_rounds()
            time.sleep(rng.uniform(0.3, 4.0))
            statuses, per_conversation = _state(conversation_ids)
            busy = len(env.marks()) > claims_before and worker.alive()
            if busy and statuses[FollowUpStatus.SCHEDULED.value] > 0:
                kills_mid_run += 1  # it was working through them, and had more to do
        finally:
            worker.kill()
        _no_duplicates(per_conversation)
    statuses, per_conversation = _state(conversation_ids)
    _no_duplicates(per_conversation)
    assert kills_mid_run >= 1, f"no kill landed mid-run (seed {seed})"
    with get_sessionmaker(write=False)() as s:
        stuck = Counter(
            s.scalars(
                select(Message.delivery_state).where(
                    Message.conversation_id.in_(conversation_ids),
                    Message.direction == Direction.OUTBOUND.value,
                )
            )
        )
    print(  # shown with -s: what the kills left behind
        f"seed {seed}: {kills_mid_run}/{KILL_ROUNDS} kills mid-run, {len(env.marks())} claims, "
        f"follow-ups {dict(statuses)}, messages {dict(stuck)}"
    )

    # 3. A clean run finishes everything. Work a kill interrupted after its commit (a message
    #    left "sending", a delivery job lost right after the commit) is recovered by the
    #    outbound and follow-up recovery passes, which wait 10 and 5 minutes: run them as if
    #    that time had passed.
    with use_clock(FrozenClock(_now() + timedelta(minutes=11))), get_sessionmaker()() as s:
        outbound_service.recover_stale_sends(s)
        followups_service.reconcile_deliveries(s)
        s.commit()
    worker = Worker(env, BOOTSTRAP)
    last_round = [0.0]
    try:
        wait_for(worker.ready, timeout=60, what="the worker to start", env=env)

        def finished() -> bool:
            statuses, per_conversation = _state(conversation_ids)
            if time.monotonic() - last_round[0] > 3:
                _enqueue_rounds()  # as the next minute's tick would, but sooner
                last_round[0] = time.monotonic()
            if statuses[FollowUpStatus.SENT.value] != total or len(per_conversation) != total:
                return False
            with get_sessionmaker(write=False)() as s:
                undelivered = s.scalar(
                    select(func.count())
                    .select_from(Message)
                    .where(
                        Message.conversation_id.in_(conversation_ids),
                        Message.direction == Direction.OUTBOUND.value,
                        Message.delivery_state != DeliveryState.SENT.value,
                    )
                )
            return undelivered == 0 and len(_notices(commitments_service.KIND_OVERDUE)) == OVERDUE

        wait_for(finished, timeout=120, what="every follow-up to be sent and delivered", env=env)
    finally:
        worker.kill()

    statuses, per_conversation = _state(conversation_ids)
    assert statuses == Counter({FollowUpStatus.SENT.value: total}), (seed, statuses)
    assert per_conversation == Counter(dict.fromkeys(conversation_ids, 1)), seed
    with get_sessionmaker(write=False)() as s:
        rows = s.execute(
            select(FollowUp.message_id, Message.text, Message.delivery_state)
            .join(Message, Message.id == FollowUp.message_id)
            .where(FollowUp.conversation_id.in_(conversation_ids))
        ).all()
    assert len(rows) == total
    assert {state for _, _, state in rows} == {DeliveryState.SENT.value}
    assert all(text.startswith("Hi ") for _, text, _ in rows)
    # Reminders and overdue notices: exactly one each.
    assert _notices(commitments_service.KIND_REMINDER) == Counter(dict.fromkeys(reminded, 1))
    assert _notices(commitments_service.KIND_OVERDUE) == Counter(dict.fromkeys(overdue, 1))
    assert len(env.marks()) >= total  # some claims were rolled back by kills and made again
