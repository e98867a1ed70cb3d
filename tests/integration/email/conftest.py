"""The mail servers the email integration tests run against (see servers.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from tests.integration.email.servers import MailServers, Unavailable, running_mail_servers


def pytest_configure(config: pytest.Config) -> None:
    # Registered here too so the tests run before the project's settings list the marker.
    config.addinivalue_line(
        "markers", "integration: runs against real servers started on this machine"
    )


@pytest.fixture(scope="session")
def mail_servers() -> Iterator[MailServers]:
    """Dovecot (IMAP, LMTP) and an SMTP server on loopback, for the whole test session."""
    stack = contextlib.ExitStack()
    try:
        servers = stack.enter_context(running_mail_servers())
    except Unavailable as exc:
        pytest.skip(str(exc))
    with stack:
        yield servers
