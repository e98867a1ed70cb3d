"""A real ``socialdesk worker`` process, for tests that kill it and check nothing was lost.

``env`` (a fixture, in conftest.py) gives each test a SQLite database copied from the migrated
template and the SQLite job queue under a temporary VAR_DIR, shared by this process and the
worker. ``Worker`` starts the worker from a bootstrap script (which may register test jobs or
hooks before calling the real CLI) and kills it with SIGKILL; ``wait_for`` waits for what the
worker should have done, and shows the worker's log when it times out.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

# The end of every bootstrap: the real command line. Without the periodic tasks: a test starts
# the ones it needs when it needs them, and a task the scheduler starts at an unplanned moment
# (the follow-up tick claiming, with the test's pause, while the test still sets up) would
# hold SQLite's write lock against the jobs the test is waiting for.
RUN_WORKER = """
from socialdesk.cli import main
sys.argv = ["socialdesk", "worker", "--workers", "2", "--no-periodic"]
main()
"""


@dataclass
class Env:
    root: Path
    var_dir: Path
    database_url: str
    marker: Path  # a file the worker's hooks write to, one line per event
    log: Path

    def worker_env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOCIALDESK_")}
        env.update(
            {
                "SOCIALDESK_ENV": "test",
                "SOCIALDESK_JOBS_BACKEND": "sqlite",
                "SOCIALDESK_VAR_DIR": str(self.var_dir),
                "SOCIALDESK_DATABASE_URL": self.database_url,
                "SOCIALDESK_SECRET_KEY": os.environ["SOCIALDESK_SECRET_KEY"],
                "SOCIALDESK_ENCRYPTION_KEYS": os.environ["SOCIALDESK_ENCRYPTION_KEYS"],
                "WORKER_MARKER": str(self.marker),
                **extra,
            }
        )
        return env

    def marks(self) -> list[int]:
        """The numbers the worker's hooks wrote, in order."""
        if not self.marker.exists():
            return []
        return [int(line) for line in self.marker.read_text().split()]


class Worker:
    def __init__(self, env: Env, bootstrap: str, **extra_env: str) -> None:
        self.env = env
        self.offset = env.log.stat().st_size if env.log.exists() else 0
        with env.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", bootstrap],
                cwd=env.root,
                env=env.worker_env(**extra_env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def alive(self) -> bool:
        return self.process.poll() is None

    def ready(self) -> bool:
        """The consumer runs (imports done, threads started): jobs are being taken."""
        with self.env.log.open("rb") as log:
            log.seek(self.offset)
            return b"Huey consumer started" in log.read()


def wait_for(predicate: Callable[[], object], *, timeout: float, what: str, env: Env) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    log = env.log.read_text(errors="replace")[-4000:] if env.log.exists() else ""
    pytest.fail(f"timed out waiting for {what}; worker log:\n{log}")
