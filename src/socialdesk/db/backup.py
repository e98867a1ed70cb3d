"""Consistent copies of the embedded SQLite files while the desk keeps running.

The database runs in WAL mode, so copying ``socialdesk.db`` alone can miss recent commits or
tear a page; SQLite's online backup copies a consistent snapshot instead. Each copy is written
under a temporary name, checked with ``PRAGMA integrity_check`` and only then given its final
name, so a backup that exists is a whole one. PostgreSQL has its own tool (``pg_dump``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from socialdesk.common import clock
from socialdesk.config import Settings


class BackupError(Exception):
    """Why no backup was made; nothing half-written is left behind."""


@dataclass(frozen=True)
class Copied:
    source: Path
    target: Path
    size: int


def sqlite_files(settings: Settings) -> list[tuple[str, Path]]:
    """What to copy, by name: the desk's database and, with the embedded job queue, its file."""
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            f"the database is {url.get_backend_name()}, not SQLite: back it up with its own "
            "tool (pg_dump for PostgreSQL; see docs/operations.md, Backups)"
        )
    if not url.database or url.database == ":memory:":
        raise BackupError("the database lives in memory: there is no file to back up")
    files = [("socialdesk", Path(url.database))]
    if settings.jobs_backend == "sqlite":
        files.append(("jobs", settings.var_dir / "jobs.db"))
    return files


def backup(settings: Settings, into: Path, *, now: datetime | None = None) -> list[Copied]:
    """Copy each SQLite file to ``into/NAME-YYYYMMDDTHHMMSSZ.db``. Raises BackupError, naming
    what was wrong, when a file is missing, a copy exists already or a check fails."""
    stamp = (now or clock.now()).strftime("%Y%m%dT%H%M%SZ")
    files = sqlite_files(settings)
    for name, source in files:
        if name == "socialdesk" and not source.is_file():
            raise BackupError(f"{source} does not exist: is the desk set up here?")
    # The job queue's file appears with the first job queued here; none yet is nothing to keep.
    files = [(name, source) for name, source in files if source.is_file()]
    if into.exists() and not into.is_dir():
        raise BackupError(f"{into} is a file, not a folder")
    into.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, source in files:
        target = into / f"{name}-{stamp}.db"
        if target.exists():
            raise BackupError(f"{target} exists already: nothing was overwritten")
        copied.append(_copy(source, target))
    return copied


def _copy(source: Path, target: Path) -> Copied:
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        # mode=rw: a missing file is an error, never created. Reading a WAL database takes
        # its shared-memory file, so the connection is not read-only; it writes nothing.
        src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=rw", uri=True, timeout=30)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)
                # One self-contained file: the desk turns WAL on again when it opens it.
                dst.execute("PRAGMA journal_mode=DELETE")
                verdict = dst.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                dst.close()
        finally:
            src.close()
        if verdict != "ok":
            raise BackupError(f"the copy of {source} failed its integrity check: {verdict}")
        partial.rename(target)
    except sqlite3.Error as exc:
        raise BackupError(f"could not copy {source}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return Copied(source=source, target=target, size=target.stat().st_size)
