"""Connecting a mailbox through the admin page against real servers on this machine: Dovecot
for IMAP and an SMTP server with AUTH (tests/integration/email/servers.py). Both logins are
really made before anything is saved."""

from __future__ import annotations

import contextlib
import dataclasses
import smtplib
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from socialdesk.channels.models import BrandAccount, Health
from socialdesk.common.crypto import decrypt_json
from socialdesk.connectors.base import (
    AccountContext,
    AuthError,
    ConnectorError,
    Identity,
    OutboundRequest,
    SendError,
    Visibility,
)
from socialdesk.connectors.email import EmailConnector
from socialdesk.connectors.email import check as email_check
from socialdesk.connectors.email.config import ServerConfig
from socialdesk.connectors.email.smtp import smtp_session
from socialdesk.db.session import get_sessionmaker
from tests.integration.email.servers import (
    MailServers,
    Unavailable,
    free_port,
    running_mail_servers,
)
from tests.web.conftest import Desk, login

pytestmark = pytest.mark.integration

PREFIX = "/admin/accounts/connect"


@pytest.fixture(scope="module")
def mail_servers() -> Iterator[MailServers]:
    stack = contextlib.ExitStack()
    try:
        servers = stack.enter_context(running_mail_servers())
    except Unavailable as exc:
        pytest.skip(str(exc))
    with stack:
        yield servers


def _form(servers: MailServers, address: str, password: str, **extra: str) -> dict[str, str]:
    return {
        "address": address,
        "display_name": "Kestrel Support",
        "imap_host": servers.host,
        "imap_port": str(servers.imap_port),
        "imap_security": "none",
        "imap_mailbox": "INBOX",
        "smtp_host": servers.host,
        "smtp_port": str(servers.smtp_port),
        "smtp_security": "none",
        "password": password,
        **extra,
    }


def _mail_accounts() -> list[BrandAccount]:
    with get_sessionmaker(write=False)() as reader:
        found = list(reader.scalars(select(BrandAccount).where(BrandAccount.kind == "email")))
        for account in found:
            reader.expunge(account)
        return found


def test_a_real_mailbox_is_tested_and_saved(
    client: TestClient, desk: Desk, mail_servers: MailServers
) -> None:
    box = mail_servers.mailbox("support", "desk.test")
    csrf = login(client, desk.owner)
    done = client.post(
        f"{PREFIX}/email",
        data={**_form(mail_servers, box.address, box.password), "csrf_token": csrf},
    )
    assert done.status_code == 303, done.text
    [account] = _mail_accounts()
    assert account.handle == box.address
    assert account.health == Health.OK.value
    assert account.credentials_encrypted is not None
    assert decrypt_json(account.credentials_encrypted) == {
        "username": box.address,
        "password": box.password,
    }
    assert mail_servers.deliveries == []  # testing SMTP sends nothing


def test_a_wrong_imap_password_is_named(
    client: TestClient, desk: Desk, mail_servers: MailServers
) -> None:
    box = mail_servers.mailbox("support", "desk.test")
    csrf = login(client, desk.owner)
    refused = client.post(
        f"{PREFIX}/email", data={**_form(mail_servers, box.address, "wrong"), "csrf_token": csrf}
    )
    assert refused.status_code == 422
    assert f"IMAP server {mail_servers.host}:{mail_servers.imap_port} refused the login" in (
        refused.text
    )
    assert _mail_accounts() == []


def test_a_wrong_smtp_password_is_named(
    client: TestClient, desk: Desk, mail_servers: MailServers
) -> None:
    box = mail_servers.mailbox("support", "desk.test")
    csrf = login(client, desk.owner)
    form = _form(
        mail_servers,
        box.address,
        box.password,
        smtp_username=box.address,
        smtp_password="not-the-password",
    )
    refused = client.post(f"{PREFIX}/email", data={**form, "csrf_token": csrf})
    assert refused.status_code == 422
    where = f"SMTP server {mail_servers.host}:{mail_servers.smtp_port}"
    assert f"{where} refused the login (535 " in refused.text
    assert refused.text.count(where) == 1  # named once, by the reason itself
    assert _mail_accounts() == []


def test_check_smtp_against_the_real_server(mail_servers: MailServers) -> None:
    box = mail_servers.mailbox("relay", "desk.test")
    good = ServerConfig(
        mail_servers.host, mail_servers.smtp_port, "none", box.address, box.password
    )
    email_check.check_smtp(good, 5.0)
    bad = ServerConfig(mail_servers.host, mail_servers.smtp_port, "none", box.address, "nope")
    with pytest.raises(AuthError, match=r"refused the login \(535"):
        email_check.check_smtp(bad, 5.0)
    # The server offers no STARTTLS on loopback: asking for it is refused, not ignored.
    starttls = ServerConfig(mail_servers.host, mail_servers.smtp_port, "starttls", "", "")
    with pytest.raises(AuthError, match="STARTTLS"):
        email_check.check_smtp(starttls, 5.0)


def test_the_smtp_session_logs_in_and_always_ends(mail_servers: MailServers) -> None:
    box = mail_servers.mailbox("relay", "desk.test")
    server = ServerConfig(
        mail_servers.host, mail_servers.smtp_port, "none", box.address, box.password
    )
    with smtp_session(server, timeout=5.0) as client:
        assert client.noop()[0] == 250
    assert client.sock is None  # QUIT was sent and the connection closed
    with pytest.raises(LookupError), smtp_session(server, timeout=5.0) as client:
        raise LookupError("a failure while the session is open")
    assert client.sock is None
    # The login is really made, and its refusal raised as smtplib raised it.
    wrong = dataclasses.replace(server, password="nope")
    with pytest.raises(smtplib.SMTPAuthenticationError), smtp_session(wrong, timeout=5.0):
        pass


def _send_failure(server: ServerConfig) -> ConnectorError:
    """What a reply sent through ``server`` (as the job sends it) fails with."""
    account = AccountContext(
        brand_account_id=1,
        handle="support@desk.test",
        settings={
            "address": "support@desk.test",
            "smtp_host": server.host,
            "smtp_port": server.port,
            "smtp_security": server.security,
            "timeout_seconds": 5,
        },
        credentials={"username": server.username, "password": server.password},
    )
    request = OutboundRequest(
        idempotency_key="socialdesk-1",
        text="It is on its way.",
        visibility=Visibility.DIRECT,
        recipient=Identity("ana@example.test", "ana@example.test"),
    )
    with pytest.raises(ConnectorError) as caught:
        EmailConnector().send(account, request)
    return caught.value


def test_a_check_and_a_send_name_an_smtp_failure_alike(mail_servers: MailServers) -> None:
    """The admin connecting the mailbox reads what an agent's failed reply would say."""
    box = mail_servers.mailbox("relay", "desk.test")
    where = f"SMTP server {mail_servers.host}:{mail_servers.smtp_port}"
    wrong = ServerConfig(mail_servers.host, mail_servers.smtp_port, "none", box.address, "nope")
    with pytest.raises(AuthError) as checked:
        email_check.check_smtp(wrong, 5.0)
    sent = _send_failure(wrong)
    assert isinstance(sent, AuthError)
    assert sent.reason == checked.value.reason
    assert sent.reason.startswith(f"{where} refused the login (535 ")
    assert sent.reason.endswith("; check the username and password (or app password)")

    nobody = ServerConfig(mail_servers.host, free_port(), "none", box.address, box.password)
    with pytest.raises(SendError) as unreachable:
        email_check.check_smtp(nobody, 5.0)
    sent = _send_failure(nobody)
    assert isinstance(sent, SendError)
    assert unreachable.value.retryable
    assert sent.retryable
    assert sent.reason == f"{unreachable.value.reason}; will try again"  # a job retries it
    assert unreachable.value.reason.startswith(
        f"SMTP server {nobody.host}:{nobody.port} could not be reached (ConnectionRefusedError: "
    )


def test_check_now_logs_in_to_both_real_servers_and_names_a_refusal(
    client: TestClient, desk: Desk, mail_servers: MailServers
) -> None:
    """A connected mailbox checked later: both logins are made again with the stored
    credentials; a password changed since is named by the server that refused it."""
    box = mail_servers.mailbox("care", "desk.test")
    csrf = login(client, desk.owner)
    client.post(
        f"{PREFIX}/email",
        data={**_form(mail_servers, box.address, box.password), "csrf_token": csrf},
    )
    [account] = _mail_accounts()
    path = f"/admin/accounts/{account.id}"
    checked = client.post(f"{path}/check", data={"csrf_token": csrf})
    assert checked.status_code == 200, checked.text
    assert f"signed in as {box.address}" in checked.text
    assert 'id="health">ok<' in checked.text

    client.post(
        f"{path}/credentials",
        data={"cred_key_0": "password", "cred_value_0": "changed-since", "csrf_token": csrf},
    )
    refused = client.post(f"{path}/check", data={"csrf_token": csrf})
    result = refused.text.split('id="check-result"')[1].split("</p>")[0]
    assert "check-failed" in result
    assert f"IMAP server {mail_servers.host}:{mail_servers.imap_port} refused the login" in result
    [stored] = _mail_accounts()
    assert stored.health == Health.UNHEALTHY.value
    assert mail_servers.deliveries == []  # checking sends nothing
