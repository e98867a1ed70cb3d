"""A real desk for browser tests: a migrated SQLite database in a temporary folder, the app
served by uvicorn on a free loopback port, and a job worker, each in its own process, exactly
as `socialdesk serve` runs them (the durable SQLite job queue, live events through the
database)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from socialdesk.db.migrate import upgrade
from socialdesk.db.session import make_engine, make_sessionmaker

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveDesk:
    base_url: str
    database_url: str
    sessions: sessionmaker[Session]
    log_dir: Path

    def logs(self) -> str:
        """What the server and worker printed, for a failing test's message."""
        parts = []
        for name in ("server.log", "worker.log"):
            path = self.log_dir / name
            if path.exists():
                parts.append(f"--- {name} ---\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)


def _wait_until_up(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answered (a redirect to /login, say): it is up
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not answer at {url} within {timeout:.0f}s")


@contextmanager
def live_desk(tmp: Path) -> Iterator[LiveDesk]:
    database_url = f"sqlite:///{tmp / 'desk.db'}"
    engine = make_engine(database_url)
    upgrade(engine)
    port = free_port()
    env = {
        **os.environ,
        "SOCIALDESK_ENV": "test",
        "SOCIALDESK_DATABASE_URL": database_url,
        "SOCIALDESK_VAR_DIR": str(tmp / "var"),
        "SOCIALDESK_JOBS_BACKEND": "sqlite",
        "SOCIALDESK_REALTIME_POLL_SECONDS": "0.2",
        "SOCIALDESK_BASE_URL": f"http://127.0.0.1:{port}",
        "PYTHONPATH": str(REPO / "src"),
    }
    logs = tmp / "logs"
    logs.mkdir()
    server_log = (logs / "server.log").open("wb")
    worker_log = (logs / "worker.log").open("wb")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "socialdesk.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=tmp,
        stdout=server_log,
        stderr=subprocess.STDOUT,
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "socialdesk", "worker", "--workers", "1"],
        env=env,
        cwd=tmp,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
    )
    try:
        base_url = f"http://127.0.0.1:{port}"
        _wait_until_up(f"{base_url}/login", server)
        yield LiveDesk(
            base_url=base_url,
            database_url=database_url,
            sessions=make_sessionmaker(engine, write=True),
            log_dir=logs,
        )
    finally:
        for process in (server, worker):
            process.terminate()
        for process in (server, worker):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        server_log.close()
        worker_log.close()
        engine.dispose()
