"""The AT Protocol network the Bluesky integration tests run against (see pds.py)."""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from tests.integration.bluesky.pds import Network, Unavailable, node_tools, running_network

ADMIN_PG_URL = os.environ.get(
    "SOCIALDESK_TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test"
)
REDIS_HOST = os.environ.get("SOCIALDESK_TEST_REDIS_HOST", "127.0.0.1:6379")


def pytest_configure(config: pytest.Config) -> None:
    # Registered here too so the tests run before the project's settings list the marker.
    config.addinivalue_line(
        "markers", "integration: runs against real servers started on this machine"
    )


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def atproto_network() -> Iterator[Network]:
    """A PLC directory, PDS and AppView on loopback, for the whole test session."""
    try:
        node_tools()
    except Unavailable as exc:
        pytest.skip(str(exc))
    try:
        engine = create_engine(ADMIN_PG_URL, connect_args={"connect_timeout": 2})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:
        pytest.skip(f"the AppView needs PostgreSQL at {ADMIN_PG_URL}: {type(exc).__name__}")
    redis_host, _, redis_port = REDIS_HOST.partition(":")
    if not _reachable(redis_host, int(redis_port or 6379)):
        pytest.skip(f"the AppView needs Redis at {REDIS_HOST}")
    stack = contextlib.ExitStack()
    try:
        network = stack.enter_context(
            running_network(admin_sqlalchemy_url=ADMIN_PG_URL, redis_host=REDIS_HOST)
        )
    except Unavailable as exc:
        pytest.skip(f"the AT Protocol network could not start here: {exc}")
    with stack:
        yield network
