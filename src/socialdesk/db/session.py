"""Engines and sessions. Services never commit: the request or the job that called them does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from socialdesk.config import get_settings

WRITE_OPTION = "socialdesk_write"


def folded_words(value: str | None) -> str | None:
    """``value`` case-folded with its spaces collapsed: how names are compared. SQLite's own
    ``lower()`` folds ASCII letters only; queries call this as ``sd_fold(...)``."""
    return " ".join(value.casefold().split()) if value is not None else None


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not pysqlite, decide where transactions begin (see _sqlite_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers work while one writer writes; busy_timeout waits instead of failing
    # when another process holds the write lock.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.execute("PRAGMA temp_store=MEMORY")
    cursor.close()
    dbapi_connection.create_function("sd_fold", 1, folded_words, deterministic=True)


def _sqlite_begin(conn: Connection) -> None:
    # A unit of work that will write takes the write lock up front (BEGIN IMMEDIATE): a deferred
    # transaction that reads and then writes fails with SQLITE_BUSY if another process wrote in
    # between, and busy_timeout cannot help with that. Read-only work stays concurrent.
    immediate = conn.get_execution_options().get(WRITE_OPTION, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 15},
            pool_size=10,
            max_overflow=20,
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20, **kwargs)


def make_sessionmaker(engine: Engine, *, write: bool) -> sessionmaker[Session]:
    bind = engine.execution_options(**{WRITE_OPTION: True}) if write else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    settings = get_settings()
    if not settings.database_url:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
    return make_engine(settings.effective_database_url)


@lru_cache(maxsize=2)
def get_sessionmaker(*, write: bool = True) -> sessionmaker[Session]:
    return make_sessionmaker(get_engine(), write=write)


@contextmanager
def session_scope(*, write: bool = True) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error."""
    session = get_sessionmaker(write=write)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
