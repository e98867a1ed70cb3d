"""Test setup: every database test runs on SQLite and on PostgreSQL.

Each test gets a freshly migrated database with real commits (listeners and jobs run after
commit exactly as in production): SQLite copies a migrated template file, PostgreSQL uses a
database created for this run and truncated between tests. PostgreSQL tests are skipped with
the reason when no server answers; CI always has one.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from socialdesk.common.clock import FrozenClock, use_clock

if TYPE_CHECKING:
    from socialdesk.jobs.queue import JobQueue

ADMIN_PG_URL = os.environ.get(
    "SOCIALDESK_TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test"
)
SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# Settings for the whole run, before any socialdesk module reads them.
os.environ["SOCIALDESK_ENV"] = "test"
os.environ["SOCIALDESK_JOBS_BACKEND"] = "memory"
os.environ.setdefault("SOCIALDESK_SECRET_KEY", "test-secret-key-that-is-long-enough-000")
os.environ.setdefault("SOCIALDESK_ENCRYPTION_KEYS", "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktMDAwMDA=")


def reset_caches() -> None:
    from socialdesk.config import get_settings
    from socialdesk.db import session as db_session
    from socialdesk.jobs import queue

    if db_session.get_engine.cache_info().currsize:
        db_session.get_engine().dispose()
    get_settings.cache_clear()
    db_session.get_engine.cache_clear()
    db_session.get_sessionmaker.cache_clear()
    queue.get_queue.cache_clear()


def _postgres_available() -> str | None:
    try:
        engine = create_engine(ADMIN_PG_URL, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:
        return f"PostgreSQL not reachable at {ADMIN_PG_URL}: {type(exc).__name__}"
    return None


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from socialdesk.db.migrate import upgrade
    from socialdesk.db.session import make_engine

    path = tmp_path_factory.mktemp("template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    reason = _postgres_available()
    if reason:
        pytest.skip(reason)
    from socialdesk.db.migrate import upgrade
    from socialdesk.db.session import make_engine

    name = f"socialdesk_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(ADMIN_PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(ADMIN_PG_URL).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(url: str) -> None:
    from socialdesk.db.models import Base

    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A migrated, empty database; the app and jobs in this test use it."""
    if request.param == "sqlite":
        path = tmp_path / "socialdesk.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
        _truncate_all(url)
    monkeypatch.setenv("SOCIALDESK_DATABASE_URL", url)
    monkeypatch.setenv("SOCIALDESK_VAR_DIR", str(tmp_path / "var"))
    reset_caches()
    yield url
    reset_caches()


@pytest.fixture(autouse=True)
def _connector_registry_restored() -> Iterator[None]:
    """A test that installs a stand-in connector leaves the registry as it found it. One left
    behind changes what every later test gets for that channel, far from the test that left
    it (monkeypatch's undo runs after the test's own fixtures' undo)."""
    from socialdesk.connectors import registry

    before = dict(registry._extra)
    yield
    after = dict(registry._extra)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) is not after.get(k))
    assert not changed, f"stand-in connectors left in (or taken from) the registry: {changed}"


@pytest.fixture
def clock() -> Iterator[FrozenClock]:
    with use_clock(FrozenClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))) as frozen:
        assert isinstance(frozen, FrozenClock)
        yield frozen


@pytest.fixture
def session(database_url: str, clock: FrozenClock) -> Iterator[Session]:
    """A session on the test database. Tests commit as a request would."""
    from socialdesk.db.session import get_sessionmaker

    s = get_sessionmaker()()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


class JobRunner:
    """The in-memory job queue of a test. ``run_pending`` first commits the test's session,
    as the request that enqueued the jobs would have: a job runs in its own transaction and
    must not wait for the test's (SQLite has one writer at a time)."""

    def __init__(self, queue: JobQueue, session: Session) -> None:
        self.queue = queue
        self.huey = queue.huey
        self._session = session

    def run_pending(self, *, include_scheduled: bool = False) -> int:
        self._session.commit()
        return int(self.queue.run_pending(include_scheduled=include_scheduled))

    def flush(self) -> None:
        self.queue.flush()


@pytest.fixture
def jobs(session: Session) -> JobRunner:
    from socialdesk.jobs.queue import get_queue

    queue = get_queue()
    queue.flush()
    return JobRunner(queue, session)


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"the shared material is not beside the repo ({SHARED})")
    return SHARED
