from __future__ import annotations

import socket
from pathlib import Path

import pytest

from socialdesk.common.errors import NotFound
from socialdesk.config import Settings
from socialdesk.jobs import registry
from socialdesk.jobs.queue import build_queue, execute
from socialdesk.jobs.registry import Later, Retry

CALLS: list[dict[str, object]] = []


@registry.job("tests.record", max_attempts=3, backoff_seconds=1)
def _record(payload: registry.Payload) -> None:
    CALLS.append(payload)


GAVE_UP: list[str] = []


@registry.job(
    "tests.flaky", max_attempts=2, backoff_seconds=1, on_give_up=lambda p, r: GAVE_UP.append(r)
)
def _flaky(payload: registry.Payload) -> None:
    raise Retry("provider said 503")


BROKEN: list[int] = []


@registry.job(
    "tests.broken", max_attempts=2, backoff_seconds=1, on_give_up=lambda p, r: GAVE_UP.append(r)
)
def _broken(payload: registry.Payload) -> None:
    BROKEN.append(1)
    if payload.get("gone"):
        raise NotFound("conversation 7 does not exist")
    raise RuntimeError("deadlock detected")


WAITED: list[int] = []


@registry.job(
    "tests.paced", max_attempts=2, backoff_seconds=1, on_give_up=lambda p, r: GAVE_UP.append(r)
)
def _paced(payload: registry.Payload) -> None:
    WAITED.append(1)
    if len(WAITED) <= 3:
        raise Later("the network's rate is used up", after_seconds=30)


def test_sqlite_jobs_survive_a_restart(tmp_path: Path) -> None:
    CALLS.clear()
    settings = Settings(var_dir=tmp_path, jobs_backend="sqlite")
    first = build_queue(settings)
    first.enqueue("tests.record", {"n": 1})
    del first  # the process that enqueued is gone
    second = build_queue(settings)
    assert second.pending_count() == 1
    assert second.run_pending() == 1
    assert CALLS == [{"n": 1}]


def test_unknown_job_fails_at_enqueue(tmp_path: Path) -> None:
    queue = build_queue(Settings(var_dir=tmp_path, jobs_backend="memory"))
    with pytest.raises(KeyError, match=r"no job named 'tests\.nope'"):
        queue.enqueue("tests.nope", {})


def test_retry_backs_off_then_gives_up_with_reason(tmp_path: Path) -> None:
    GAVE_UP.clear()
    queue = build_queue(Settings(var_dir=tmp_path, jobs_backend="memory"))
    execute("tests.flaky", {}, 1, queue=queue)
    queue.run_pending()
    assert GAVE_UP == []  # attempt 2 waits for its backoff
    assert queue.huey.scheduled_count() == 1
    queue.run_pending(include_scheduled=True)
    assert GAVE_UP == ["provider said 503"]
    assert queue.pending_count() == 0


def test_an_unexpected_error_is_retried_like_retry_then_given_up(tmp_path: Path) -> None:
    """A deadlock or a database restart must not drop the job: it runs again with backoff."""
    GAVE_UP.clear()
    BROKEN.clear()
    queue = build_queue(Settings(var_dir=tmp_path, jobs_backend="memory"))
    execute("tests.broken", {}, 1, queue=queue)
    queue.run_pending()
    assert GAVE_UP == []  # attempt 2 waits for its backoff
    assert queue.huey.scheduled_count() == 1
    queue.run_pending(include_scheduled=True)
    assert len(BROKEN) == 2
    assert GAVE_UP == ["RuntimeError: deadlock detected"]
    assert queue.pending_count() == 0


def test_a_domain_error_gives_up_at_once(tmp_path: Path) -> None:
    GAVE_UP.clear()
    BROKEN.clear()
    queue = build_queue(Settings(var_dir=tmp_path, jobs_backend="memory"))
    execute("tests.broken", {"gone": True}, 1, queue=queue)
    assert len(BROKEN) == 1
    assert GAVE_UP == ["conversation 7 does not exist"]
    assert queue.pending_count() == 0


def test_a_job_told_to_wait_runs_later_and_the_waits_are_not_attempts(tmp_path: Path) -> None:
    GAVE_UP.clear()
    WAITED.clear()
    queue = build_queue(Settings(var_dir=tmp_path, jobs_backend="memory"))
    execute("tests.paced", {}, 1, queue=queue)
    queue.run_pending()
    assert len(WAITED) == 1  # not run again at once: it waits its 30 seconds
    assert queue.huey.scheduled_count() == 1
    for _ in range(3):  # three waits, more than the job's two attempts
        queue.run_pending(include_scheduled=True)
    assert len(WAITED) == 4
    assert GAVE_UP == []
    assert queue.pending_count() == 0
    assert queue.huey.scheduled_count() == 0


def test_backoff_grows_and_honours_hints() -> None:
    spec = registry.get("tests.record")
    assert [registry.backoff_delay(spec, n, None) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]
    assert registry.backoff_delay(spec, 1, 30) == 30


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.redis
@pytest.mark.skipif(not _redis_up(), reason="Redis is not running at 127.0.0.1:6379")
def test_redis_backend_shares_jobs_between_processes() -> None:
    CALLS.clear()
    settings = Settings(jobs_backend="redis", redis_url="redis://127.0.0.1:6379/15")
    producer = build_queue(settings)
    producer.flush()
    producer.enqueue("tests.record", {"n": 7})
    consumer = build_queue(settings)  # another process or machine, same Redis
    assert consumer.run_pending() == 1
    assert CALLS == [{"n": 7}]
    consumer.flush()


@registry.periodic("tests.periodic_lock", every_minutes=1)
def _periodic() -> None:
    pass


def test_a_starting_worker_clears_locks_a_killed_worker_left(tmp_path: Path) -> None:
    settings = Settings(var_dir=tmp_path, jobs_backend="sqlite")
    killed = build_queue(settings)
    lock = killed.huey.lock_task("periodic.tests.periodic_lock")
    lock.__enter__()  # the worker died inside the task: the lock is never released
    del killed
    restarted = build_queue(settings)
    assert restarted.huey.is_locked("periodic.tests.periodic_lock")
    assert "periodic.tests.periodic_lock" in restarted.clear_periodic_locks()
    assert not restarted.huey.is_locked("periodic.tests.periodic_lock")


def _key_backends() -> list[object]:
    redis = pytest.param(
        "redis",
        marks=[
            pytest.mark.redis,
            pytest.mark.skipif(not _redis_up(), reason="Redis is not running at 127.0.0.1:6379"),
        ],
    )
    return ["memory", "sqlite", redis]


@pytest.mark.parametrize("backend", _key_backends())
def test_shared_keys_are_seen_by_every_process(tmp_path: Path, backend: str) -> None:
    settings = Settings(
        var_dir=tmp_path, jobs_backend=backend, redis_url="redis://127.0.0.1:6379/15"
    )
    first = build_queue(settings)
    first.flush()
    # The memory backend lives in one process: the "other process" is the same queue there.
    other = first if backend == "memory" else build_queue(settings)
    assert other.get_key("chain") is None
    assert first.add_key("chain", "a")
    assert not other.add_key("chain", "b")  # taken: the first value stays
    assert other.get_key("chain") == "a"
    first.put_key("chain", "c")  # put overwrites
    assert other.pop_key("chain") == "c"
    assert first.pop_key("chain") is None  # popped once
    assert first.get_key("chain") is None
    assert other.add_key("chain", "d")
    # Apart from huey's task locks of the same name.
    assert not first.huey.is_locked("chain")
    first.flush()
    assert other.get_key("chain") is None
