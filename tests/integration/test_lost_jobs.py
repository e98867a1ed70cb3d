"""A job lost with a killed worker is queued again from its intent and done, once.

A real ``socialdesk worker`` (the SQLite job queue under a temporary VAR_DIR, a SQLite
database) takes the jobs that customers' messages queued. Its bootstrap makes the SLA reconcile
job hang after noting its conversation, so the test can kill the worker with SIGKILL inside it:
the queue had handed that job over, so it is gone from the queue. A second worker then runs
the intent recovery (with the wait shortened from ten minutes to one second in the worker,
and started at once by a job here instead of every five minutes by the scheduler) and every
conversation ends with its SLA clocks, every intent settled.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest
from tests.integration.worker_process import RUN_WORKER, Env, Worker, wait_for

from socialdesk.db.session import get_sessionmaker
from socialdesk.jobs.models import JobIntent
from socialdesk.jobs.registry import Payload, job
from socialdesk.sla import service as sla_service
from socialdesk.sla.jobs import RECONCILE_JOB
from socialdesk.sla.models import SlaClock
from socialdesk.sla.schemas import SlaPolicyCreate

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CONVERSATIONS = 12
RECOVER_JOB = "lostjobs.recover"


@job(RECOVER_JOB, max_attempts=1)
def _recover(_payload: Payload) -> None:
    raise AssertionError("runs in the worker only")


BOOTSTRAP = (
    f"""
import os, sys, time
from datetime import timedelta
from socialdesk.jobs import intents
from socialdesk.jobs import queue as jobs_queue
from socialdesk.jobs.registry import job
from socialdesk.sla import tracking

intents.RECOVER_AFTER = timedelta(seconds=1)
job({RECOVER_JOB!r}, max_attempts=1)(lambda payload: jobs_queue.recover_lost())
marker = os.environ["WORKER_MARKER"]
hang = os.environ.get("LOST_JOBS_HANG") == "1"
reconcile = tracking.reconcile

def hanging(session, *, conversation_id, now=None):
    if hang:
        with open(marker, "a") as out:
            out.write(f"{{conversation_id}}\\n")
            out.flush()
            os.fsync(out.fileno())
        time.sleep(600)  # the worker is killed in here
    return reconcile(session, conversation_id=conversation_id, now=now)

tracking.reconcile = hanging
"""
    + RUN_WORKER
)


def _setup(session: Session) -> list[int]:
    org = accounts.organization(session, name="Lost and Found")
    account = channels.brand_account(session, org, kind="web")
    sla_service.create(
        session,
        organization_id=org.id,
        data=SlaPolicyCreate(
            name="Care", first_response_minutes=60, next_response_minutes=30, resolution_minutes=480
        ),
    )
    session.commit()
    ids = []
    for i in range(CONVERSATIONS):
        result = ingest(
            session,
            account,
            inbound(author=f"c{i}", text="My order never came", thread_key=f"visitor:c{i}"),
        )
        session.commit()  # each message queues its jobs, recorded with it
        ids.append(result.conversation.id)
    return ids


def _first_response_clocks(conversation_ids: list[int]) -> dict[int, int]:
    with get_sessionmaker(write=False)() as s:
        rows = s.execute(
            select(SlaClock.conversation_id, func.count())
            .where(
                SlaClock.conversation_id.in_(conversation_ids),
                SlaClock.target == "first_response",
            )
            .group_by(SlaClock.conversation_id)
        ).all()
    return {int(row[0]): int(row[1]) for row in rows}


def _owed(name: str | None = None) -> int:
    with get_sessionmaker(write=False)() as s:
        query = select(func.count()).select_from(JobIntent)
        if name:
            query = query.where(JobIntent.name == name)
        return int(s.scalar(query) or 0)


def test_a_job_lost_with_a_killed_worker_is_done_by_the_next(env: Env) -> None:
    with get_sessionmaker()() as session:
        conversation_ids = _setup(session)
    assert _owed(RECONCILE_JOB) >= CONVERSATIONS

    worker = Worker(env, BOOTSTRAP, LOST_JOBS_HANG="1")
    try:
        wait_for(env.marks, timeout=60, what="a reconcile job to start", env=env)
    finally:
        worker.kill()
    lost = env.marks()
    clocks = _first_response_clocks(conversation_ids)
    assert not any(clocks.get(conversation_id) for conversation_id in lost)
    assert _owed(RECONCILE_JOB) >= len(lost)  # still owed: the worker died inside the job

    from socialdesk.jobs.queue import get_queue

    worker = Worker(env, BOOTSTRAP)
    try:
        wait_for(worker.ready, timeout=60, what="the worker to start", env=env)

        def done() -> bool:
            get_queue().enqueue(RECOVER_JOB, {})  # as the five-minute task would, but sooner
            clocks = _first_response_clocks(conversation_ids)
            return len(clocks) == CONVERSATIONS and _owed() == 0

        wait_for(done, timeout=90, what="every clock to start and every job to settle", env=env)
    finally:
        worker.kill()
    assert _first_response_clocks(conversation_ids) == dict.fromkeys(conversation_ids, 1)
    assert "lost jobs again" in env.log.read_text()
