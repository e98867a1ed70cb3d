"""`socialdesk db backup`: a consistent, checked copy of the embedded SQLite files while the
desk keeps writing (commits still in the WAL file included), never overwriting a copy or
leaving a half-written one, and a clear refusal for PostgreSQL."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from socialdesk.cli import main
from socialdesk.config import Settings
from socialdesk.db.backup import BackupError, backup


def _desk_files(var: Path) -> sqlite3.Connection:
    """A desk database in WAL mode whose last commits are still in the WAL file (the open
    connection keeps them from being checkpointed), and a job queue file."""
    var.mkdir()
    desk = sqlite3.connect(var / "socialdesk.db", isolation_level=None)
    desk.execute("PRAGMA journal_mode=WAL")
    desk.execute("PRAGMA wal_autocheckpoint=0")
    desk.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, text TEXT)")
    desk.executemany("INSERT INTO messages (text) VALUES (?)", [(f"m{i}",) for i in range(500)])
    jobs = sqlite3.connect(var / "jobs.db")
    jobs.execute("CREATE TABLE task (id INTEGER PRIMARY KEY)")
    jobs.execute("INSERT INTO task DEFAULT VALUES")
    jobs.commit()
    jobs.close()
    assert (var / "socialdesk.db-wal").stat().st_size > 0
    return desk


def _settings(var: Path, database_url: str = "") -> Settings:
    # Given in full: the test run's own environment must not choose the files.
    return Settings(var_dir=var, database_url=database_url, jobs_backend="sqlite")


def test_a_backup_holds_what_is_still_in_the_wal(tmp_path: Path) -> None:
    var = tmp_path / "var"
    desk = _desk_files(var)
    at = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    copied = backup(_settings(var), tmp_path / "backups", now=at)
    assert [c.target.name for c in copied] == [
        "socialdesk-20260105T093000Z.db",
        "jobs-20260105T093000Z.db",
    ]
    with closing(sqlite3.connect(copied[0].target)) as copy:
        assert copy.execute("SELECT count(*) FROM messages").fetchone() == (500,)
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one file
    with closing(sqlite3.connect(copied[1].target)) as copy:
        assert copy.execute("SELECT count(*) FROM task").fetchone() == (1,)
    assert sorted(p.name for p in (tmp_path / "backups").iterdir()) == sorted(
        c.target.name for c in copied
    ), "no partial files are left behind"

    # The desk goes on writing; the same second again overwrites nothing.
    desk.execute("INSERT INTO messages (text) VALUES ('after')")
    with pytest.raises(BackupError, match="exists already: nothing was overwritten"):
        backup(_settings(var), tmp_path / "backups", now=at)
    desk.close()


def test_what_cannot_be_backed_up_is_named(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="does not exist: is the desk set up here"):
        backup(_settings(tmp_path / "nothing"), tmp_path / "backups")
    postgres = _settings(tmp_path, database_url="postgresql+psycopg://desk@db/desk")
    with pytest.raises(BackupError, match=r"the database is postgresql, not SQLite: .*pg_dump"):
        backup(postgres, tmp_path / "backups")
    var = tmp_path / "var"
    _desk_files(var).close()
    (tmp_path / "a-file").write_text("")
    # No job queued here yet: only the database is copied.
    (var / "jobs.db").unlink()
    only = backup(_settings(var), tmp_path / "only")
    assert [c.target.name.split("-")[0] for c in only] == ["socialdesk"]
    with pytest.raises(BackupError, match="is a file, not a folder"):
        backup(_settings(var), tmp_path / "a-file")


def test_the_command_prints_each_copy_and_reminds_of_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from socialdesk.config import get_settings

    var = tmp_path / "var"
    _desk_files(var).close()
    monkeypatch.setenv("SOCIALDESK_VAR_DIR", str(var))
    monkeypatch.delenv("SOCIALDESK_DATABASE_URL", raising=False)
    monkeypatch.setenv("SOCIALDESK_ENCRYPTION_KEYS", "")
    monkeypatch.setenv("SOCIALDESK_JOBS_BACKEND", "sqlite")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(main, ["db", "backup", str(tmp_path / "out")])
        assert result.exit_code == 0, result.output
        assert "socialdesk-" in result.output
        assert "integrity ok" in result.output
        assert "keep" in result.output
        assert "encryption.key" in result.output
        monkeypatch.setenv("SOCIALDESK_DATABASE_URL", "postgresql+psycopg://desk@db/desk")
        get_settings.cache_clear()
        refused = CliRunner().invoke(main, ["db", "backup", str(tmp_path / "out")])
        assert refused.exit_code == 1
        assert "Error: the database is postgresql, not SQLite" in refused.output
    finally:
        get_settings.cache_clear()
