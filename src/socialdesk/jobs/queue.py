"""The durable job queue. huey transports (name, payload, attempt, intent) tuples; the embedded
default stores them in SQLite under VAR_DIR (no server), ``redis`` serves many workers on many
machines. Jobs survive restarts because they live in that storage, not in process memory; a job
enqueued with a transaction is also recorded in the database (intents.py), so one that the
storage loses (a worker killed mid-job, Redis restarted empty) is queued again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from typing import Any

from huey import MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.exceptions import TaskLockedException
from sqlalchemy.orm import Session

from socialdesk.common import clock
from socialdesk.common.errors import DomainError
from socialdesk.config import Settings, get_settings
from socialdesk.db.hooks import on_commit
from socialdesk.db.session import session_scope
from socialdesk.jobs import intents, registry
from socialdesk.jobs.registry import Later, Payload, Retry, periodic

log = logging.getLogger(__name__)

# Apart from huey's own keys (task locks are "<name>.lock.<lock>").
_KEY_PREFIX = "socialdesk.key."
# The intent of the job this thread is running, for ``still_running``.
_running_intent: ContextVar[str | None] = ContextVar("running_intent", default=None)


class JobQueue:
    def __init__(self, huey: Any) -> None:
        self.huey = huey
        self._task = huey.task(name="socialdesk.run")(self._run)
        for spec in registry.all_periodic():
            self._add_periodic(spec)

    def _add_periodic(self, spec: registry.PeriodicSpec) -> None:
        minute = "*" if spec.every_minutes == 1 else f"*/{spec.every_minutes}"
        huey = self.huey

        def run_once() -> None:
            # Every worker process schedules periodic tasks; the lock (kept in the queue's
            # storage, shared by all workers) lets one run at a time and the others skip.
            try:
                with huey.lock_task(f"periodic.{spec.name}"):
                    spec.handler()
            except TaskLockedException:
                log.info("periodic %s is already running elsewhere; skipped", spec.name)

        huey.periodic_task(crontab(minute=minute), name=f"periodic.{spec.name}")(run_once)

    def clear_periodic_locks(self) -> list[str]:
        """Drop the run-once locks of periodic tasks. A worker killed mid-task leaves its lock
        behind and the queue's storage never expires it, so the task would be skipped for
        ever; a starting worker clears them. Periodic handlers claim their rows one by one,
        so a rare overlap with a task still running elsewhere does no harm."""
        names = [f"periodic.{spec.name}" for spec in registry.all_periodic()]
        return sorted(self.huey.flush_locks(*names))

    def enqueue(
        self,
        name: str,
        payload: Payload,
        *,
        eta: datetime | None = None,
        attempt: int = 1,
        intent: str | None = None,
    ) -> None:
        """Hand a job to the queue's storage. ``intent`` is its record in the database, if it
        has one (see the module-level ``enqueue``)."""
        registry.get(name)  # fail at enqueue time, not in a worker, on a misspelt name
        if eta is None:
            self._task(name, payload, attempt, intent)
        else:
            self._task.schedule(args=(name, payload, attempt, intent), eta=eta.astimezone(UTC))

    def _run(self, name: str, payload: Payload, attempt: int, intent: str | None = None) -> None:
        # Jobs queued before intents existed carry three arguments.
        execute(name, payload, attempt, queue=self, intent=intent)

    def run_pending(self, *, include_scheduled: bool = False) -> int:
        """Run everything queued in this process (tests, the demo). Returns how many ran."""
        ran = 0
        while True:
            if include_scheduled:
                for task in self.huey.read_schedule(_far_future()):
                    self.huey.enqueue(task)
            task = self.huey.dequeue()
            if task is None:
                return ran
            self.huey.execute(task, timestamp=_far_future() if include_scheduled else None)
            ran += 1

    # -- shared keys: small values in the queue's storage, so every worker process (and the
    # command that enqueues) sees the same ones. For coordination (one job chain at a time),
    # not for data: ``flush`` drops them with the jobs.

    def put_key(self, key: str, value: str) -> None:
        self.huey.put(_KEY_PREFIX + key, value)

    def add_key(self, key: str, value: str) -> bool:
        """Store ``value`` unless ``key`` holds one already, in one atomic step of the storage;
        whether it was stored."""
        return bool(self.huey.put_if_empty(_KEY_PREFIX + key, value))

    def get_key(self, key: str) -> str | None:
        value = self.huey.get(_KEY_PREFIX + key, peek=True)
        return None if value is None else str(value)

    def pop_key(self, key: str) -> str | None:
        """Read and delete ``key``; of two callers at once, one gets the value."""
        value = self.huey.get(_KEY_PREFIX + key, peek=False)
        return None if value is None else str(value)

    def pending_count(self) -> int:
        return int(self.huey.pending_count()) + int(self.huey.scheduled_count())

    def flush(self) -> None:
        self.huey.flush()


def _far_future() -> datetime:
    # huey compares naive UTC timestamps.
    return datetime.now(UTC).replace(tzinfo=None) + timedelta(days=3650)


def execute(
    name: str,
    payload: Payload,
    attempt: int,
    *,
    queue: JobQueue | None = None,
    intent: str | None = None,
) -> None:
    """Run one job. ``Retry``, and any other error but a ``DomainError``, runs it again later
    with backoff up to its attempt limit, then calls its give-up handler: a job the queue
    dropped on a deadlock or a database restart would lose work that was due to happen.
    Handlers are idempotent (they run in their own transaction, rolled back on error), so a
    second run is safe. A ``DomainError`` (a row that is gone, a refused value) gives up at
    once: running again would fail the same way. The job's intent, if it has one, is settled
    once it ran or gave up, and moved to the retry's time when it will run again. ``Later``
    runs it again after the wait it names, as the same attempt."""
    spec = registry.get(name)
    running = _running_intent.set(intent)
    try:
        spec.handler(payload)
        _settle(intent)
        return
    except Later as later:
        log.info("job %s waits %.0fs: %s", name, later.after_seconds, later.reason)
        _run_again(name, payload, attempt, later.after_seconds, queue=queue, intent=intent)
        return
    except Retry as retry:
        reason, hint = retry.reason, retry.after_seconds
    except DomainError as exc:
        log.warning("job %s gave up: %s", name, exc)
        if spec.on_give_up is not None:
            spec.on_give_up(payload, str(exc))
        _settle(intent)
        return
    except Exception as exc:
        log.exception("job %s attempt %d failed", name, attempt)
        reason, hint = f"{type(exc).__name__}: {exc}", None
    finally:
        _running_intent.reset(running)
    if attempt >= spec.max_attempts:
        log.warning("job %s gave up after %d attempts: %s", name, attempt, reason)
        if spec.on_give_up is not None:
            spec.on_give_up(payload, reason)
        _settle(intent)
        return
    delay = registry.backoff_delay(spec, attempt, hint)
    log.info("job %s attempt %d: %s; retrying in %.0fs", name, attempt, reason, delay)
    _run_again(name, payload, attempt + 1, delay, queue=queue, intent=intent)


def _run_again(
    name: str,
    payload: Payload,
    attempt: int,
    delay: float,
    *,
    queue: JobQueue | None,
    intent: str | None,
) -> None:
    # huey schedules by the real clock; the intent is read against the desk's clock.
    eta = datetime.now(UTC) + timedelta(seconds=delay)
    _postpone(intent, clock.now() + timedelta(seconds=delay))
    (queue or get_queue()).enqueue(name, payload, eta=eta, attempt=attempt, intent=intent)


def still_running() -> None:
    """Called now and then by a job that may run for longer than ``intents.RECOVER_AFTER``
    (one pass over a whole organization): its intent is due again only that long from now, so
    the recovery does not take the job for lost and queue it again beside itself. Outside a
    job, or for a job without an intent, it does nothing."""
    intent = _running_intent.get()
    if intent is not None:
        _postpone(intent, clock.now())


def _settle(intent: str | None) -> None:
    _update_intent(intent, intents.settle)


def _postpone(intent: str | None, due_at: datetime) -> None:
    _update_intent(intent, partial(intents.postpone, due_at=due_at))


def _update_intent(intent: str | None, change: Callable[[Session, str], None]) -> None:
    """Change the running job's intent in a transaction of its own. A failure is logged, not
    raised: the job's own work is done or queued, and an intent left as it was only means the
    job may run once more later (handlers are idempotent)."""
    if intent is None:
        return
    try:
        with session_scope() as session:
            change(session, intent)
    except Exception:
        log.exception("could not update job intent %s", intent)


def build_queue(settings: Settings) -> JobQueue:
    if settings.jobs_backend == "redis":
        huey: Any = RedisHuey("socialdesk", url=settings.redis_url, utc=True)
    elif settings.jobs_backend == "memory":
        huey = MemoryHuey("socialdesk", utc=True)
    else:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        huey = SqliteHuey(
            "socialdesk", filename=str((settings.var_dir / "jobs.db").resolve()), utc=True
        )
    # Results are not needed: job effects live in the database.
    huey.results = False
    return JobQueue(huey)


@lru_cache(maxsize=1)
def get_queue() -> JobQueue:
    _load_job_modules()
    return build_queue(get_settings())


def _load_job_modules() -> None:
    """Import the modules whose import registers jobs, so a bare worker knows them all."""
    from socialdesk.jobs import catalog  # noqa: F401 - imported for its registrations


def enqueue(
    session: Session,
    name: str,
    payload: Payload,
    *,
    eta: datetime | None = None,
    durable: bool = True,
) -> None:
    """Enqueue after the session commits, so the job sees the data that caused it; nothing is
    enqueued if the transaction rolls back. The job is also recorded in this transaction (an
    intent), so it is queued again if the queue loses it; ``durable=False`` skips that for a
    job whose own data already says what is owed (an inbound event still pending)."""
    registry.get(name)
    intent = intents.record(session, name, payload, due_at=eta or clock.now()) if durable else None
    on_commit(session, lambda: get_queue().enqueue(name, payload, eta=eta, intent=intent))


@periodic("jobs.recover", every_minutes=5)
def recover_lost() -> None:
    """Queue again the jobs whose intent outlived its due time by ``intents.RECOVER_AFTER``."""
    queue = get_queue()
    if queue.pending_count() > intents.BACKLOG_LIMIT:
        log.info("jobs.recover: the queue is behind; lost jobs are looked for later")
        return

    def again(name: str, payload: Payload, intent: str) -> None:
        queue.enqueue(name, payload, intent=intent)

    with session_scope() as session:
        intents.recover(session, again)
