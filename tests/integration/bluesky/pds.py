"""A real AT Protocol network on this machine for the Bluesky integration tests.

Bluesky's notifications (mentions, replies) and threads are served by the AppView, not by the
Personal Data Server alone, so a PDS by itself cannot show a mention arriving. The reference
implementation's ``@atproto/dev-env`` package wires a PLC directory (in memory), a PDS and an
AppView (indexing into PostgreSQL, with Redis) together; ``network.js`` starts them on loopback.

Install: ``npm ci`` of ``node/package-lock.json`` into a cache folder outside the repo
(``$SOCIALDESK_ATPROTO_DIR``, default ``~/.cache/socialdesk-atproto/<version>``), with
``better-sqlite3`` built from source against this machine's Node headers (prebuilt binaries
cannot be downloaded here). About five minutes the first time; then nothing.

As a script::

    python tests/integration/bluesky/pds.py install     # install (or check) the servers
    python tests/integration/bluesky/pds.py start       # run a network until Ctrl-C
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from queue import Empty, Queue
from typing import IO

HERE = Path(__file__).resolve().parent
PACKAGE_DIR = HERE / "node"
NETWORK_SCRIPT = HERE / "network.js"
DEV_ENV_VERSION: str = json.loads((PACKAGE_DIR / "package.json").read_text())["dependencies"][
    "@atproto/dev-env"
]
INSTALL_TIMEOUT = 1200.0
START_TIMEOUT = 180.0
SYNC_TIMEOUT = 30.0
_MARKER = ".socialdesk-installed"


class Unavailable(Exception):
    """The network cannot run here; the message says why (tests skip with it)."""


def cache_dir() -> Path:
    configured = os.environ.get("SOCIALDESK_ATPROTO_DIR")
    if configured:
        return Path(configured)
    return Path.home() / ".cache" / "socialdesk-atproto" / DEV_ENV_VERSION


def node_tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise Unavailable("node and npm are needed to run the AT Protocol reference servers")
    return node, npm


def _installed(target: Path) -> bool:
    marker = target / _MARKER
    lock = (PACKAGE_DIR / "package-lock.json").read_bytes()
    return (
        marker.is_file()
        and marker.read_bytes() == lock
        and any((target / "node_modules" / "better-sqlite3" / "build").rglob("*.node"))
    )


def install(target: Path | None = None, *, log: IO[str] | None = None) -> tuple[Path, float]:
    """Install the pinned servers into ``target`` unless they are there already. Returns the
    ``node_modules`` folder and the seconds the install took (0 when it was there)."""
    _, npm = node_tools()
    target = target or cache_dir()
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".lock", "w") as lock_file:
        # One install at a time, even across test processes.
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        if _installed(target):
            return target / "node_modules", 0.0
        for name in ("package.json", "package-lock.json"):
            shutil.copyfile(PACKAGE_DIR / name, target / name)
        env = dict(os.environ, npm_config_build_from_source="true")
        started = time.monotonic()
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=target,
                env=env,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise Unavailable(f"npm ci did not finish within {INSTALL_TIMEOUT:.0f} s") from exc
        took = time.monotonic() - started
        if log is not None:
            log.write(done.stdout + done.stderr)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip()[-1500:]
            raise Unavailable(f"npm ci of @atproto/dev-env {DEV_ENV_VERSION} failed: {tail}")
        (target / _MARKER).write_bytes((PACKAGE_DIR / "package-lock.json").read_bytes())
        if not _installed(target):
            raise Unavailable("better-sqlite3 was not built; is a C++ compiler installed?")
        return target / "node_modules", took


@dataclass(frozen=True)
class Endpoints:
    pds: str
    appview: str
    plc: str


class Network:
    """A running network; ``sync()`` waits until the AppView has indexed every write."""

    def __init__(
        self,
        *,
        modules: Path,
        postgres_url: str,
        schema: str,
        redis_host: str,
        data_dir: Path,
    ) -> None:
        node, _ = node_tools()
        env = dict(
            os.environ,
            ATPROTO_MODULES=str(modules),
            DB_POSTGRES_URL=postgres_url,
            DB_POSTGRES_SCHEMA=schema,
            REDIS_HOST=redis_host,
            TMPDIR=str(data_dir),
            NODE_ENV="test",
            LOG_ENABLED="false",
        )
        self._stderr = open(data_dir / "network.log", "w")  # noqa: SIM115 - closed in stop()
        self.log_path = data_dir / "network.log"
        self._process = subprocess.Popen(
            [node, str(NETWORK_SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )
        self._lines: Queue[str | None] = Queue()
        threading.Thread(target=self._read, daemon=True).start()
        first = self._next_line(START_TIMEOUT, "start")
        try:
            urls = json.loads(first)
        except ValueError as exc:
            self.stop()
            raise Unavailable(f"the network printed {first!r} instead of its addresses") from exc
        self.endpoints = Endpoints(pds=urls["pds"], appview=urls["appview"], plc=urls["plc"])

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def _next_line(self, timeout: float, what: str) -> str:
        try:
            line = self._lines.get(timeout=timeout)
        except Empty:
            self.stop()
            raise Unavailable(
                f"the network did not {what} within {timeout:.0f} s; see {self.log_path}"
            ) from None
        if line is None:
            self.stop()
            log = self.log_path.read_text(errors="replace")[-2000:]
            raise Unavailable(f"the network stopped during {what}: {log}")
        return line

    def sync(self) -> None:
        """Return once the AppView has indexed everything the PDS has written."""
        assert self._process.stdin is not None
        self._process.stdin.write("sync\n")
        self._process.stdin.flush()
        answer = self._next_line(SYNC_TIMEOUT, "sync")
        if answer != "synced":
            raise RuntimeError(f"network sync failed: {answer}")

    def stop(self) -> None:
        if self._process.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                assert self._process.stdin is not None
                self._process.stdin.close()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.terminate()
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
        self._stderr.close()


def postgres_database_url(admin_sqlalchemy_url: str, database: str) -> str:
    """A ``postgresql://`` URL (for node's pg) of ``database`` on the server of the SQLAlchemy
    admin URL, with the user spelled out (pg has no default user without $USER)."""
    from sqlalchemy.engine import make_url

    url = make_url(admin_sqlalchemy_url)
    user = url.username or getpass.getuser()
    password = f":{url.password}" if url.password else ""
    host = url.host or "127.0.0.1"
    port = url.port or 5432
    return f"postgresql://{user}{password}@{host}:{port}/{database}"


@contextlib.contextmanager
def running_network(
    *, admin_sqlalchemy_url: str, redis_host: str = "127.0.0.1:6379"
) -> Iterator[Network]:
    """Install if needed, create a PostgreSQL database for the AppView, start the network; stop
    it and drop the database afterwards."""
    from sqlalchemy import create_engine, text

    modules, _ = install()
    name = f"socialdesk_atproto_{os.getpid()}"
    admin = create_engine(admin_sqlalchemy_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        raise Unavailable(f"cannot create the AppView's PostgreSQL database: {exc}") from exc
    data_dir = Path(tempfile.mkdtemp(prefix="socialdesk-atproto-"))
    network: Network | None = None
    try:
        network = Network(
            modules=modules,
            postgres_url=postgres_database_url(admin_sqlalchemy_url, name),
            schema="socialdesk",
            redis_host=redis_host,
            data_dir=data_dir,
        )
        yield network
    finally:
        if network is not None:
            network.stop()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        shutil.rmtree(data_dir, ignore_errors=True)


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "install"
    if command == "install":
        modules, took = install(log=sys.stderr)
        print(json.dumps({"modules": str(modules), "install_seconds": round(took, 1)}))
        return 0
    if command == "start":
        admin = os.environ.get(
            "SOCIALDESK_TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test"
        )
        with running_network(admin_sqlalchemy_url=admin) as network:
            print(json.dumps(network.endpoints.__dict__), flush=True)
            with contextlib.suppress(KeyboardInterrupt):
                while True:
                    time.sleep(3600)
        return 0
    print(f"usage: {argv[0]} install|start", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.path.insert(0, str(HERE.parents[2] / "src"))
    raise SystemExit(main(sys.argv))
