from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import reset_caches
from tests.integration.worker_process import Env


@pytest.fixture
def env(tmp_path: Path, sqlite_template: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """A SQLite database and job queue that this test and a real worker process share."""
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    database = var_dir / "socialdesk.db"
    shutil.copy(sqlite_template, database)
    url = f"sqlite:///{database}"
    monkeypatch.setenv("SOCIALDESK_DATABASE_URL", url)
    monkeypatch.setenv("SOCIALDESK_VAR_DIR", str(var_dir))
    monkeypatch.setenv("SOCIALDESK_JOBS_BACKEND", "sqlite")
    reset_caches()
    yield Env(tmp_path, var_dir, url, tmp_path / "marks.txt", tmp_path / "worker.log")
    reset_caches()
