"""Sending replies by SMTP through an injected transport: headers, threading, error mapping."""

from __future__ import annotations

import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import pytest

from socialdesk.connectors.base import (
    AccountContext,
    AuthError,
    Identity,
    OutboundRequest,
    SendError,
    Visibility,
)
from socialdesk.connectors.email import EmailConnector
from socialdesk.connectors.email.check import check_smtp
from socialdesk.connectors.email.config import EmailAccount, ServerConfig
from socialdesk.connectors.email.send import SmtplibTransport, message_id_for, reply_subject
from socialdesk.connectors.email.smtp import Unreachable

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
CUSTOMER = Identity("comma.name@example.com", "comma.name@example.com", "LastßlName, FirstName")


def account(**settings: object) -> AccountContext:
    return AccountContext(
        brand_account_id=3,
        handle="help@shop.example",
        settings={
            "address": "help@shop.example",
            "display_name": "Shop Help",
            "smtp_host": "smtp.shop.example",
            **settings,
        },
        credentials={"username": "help@shop.example", "password": "app-password"},
    )


def request(**overrides: object) -> OutboundRequest:
    fields: dict[str, object] = {
        "idempotency_key": "socialdesk-77",
        "text": "Your parcel left our warehouse today.\n\nKind regards,\nShop Help",
        "visibility": Visibility.DIRECT,
        "recipient": CUSTOMER,
        "reply_to_native_id": "second@example.com",
        "thread_key": "root@example.com",
        "subject": "Test for Comma and Name Bugs",
    }
    fields.update(overrides)
    return OutboundRequest(**fields)  # type: ignore[arg-type]  # fields checked by the dataclass


class Recorder:
    """A transport that keeps what it was given, or raises what it was told to."""

    def __init__(self, *failures: Exception) -> None:
        self.sent: list[EmailMessage] = []
        self.failures = list(failures)
        self.configs: list[EmailAccount] = []

    def factory(self, config: EmailAccount) -> Recorder:
        self.configs.append(config)
        return self

    def send(self, message: EmailMessage) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)


def connector(recorder: Recorder) -> EmailConnector:
    return EmailConnector(smtp=recorder.factory, now=lambda: NOW)


def test_reply_headers_are_exact() -> None:
    recorder = Recorder()
    result = connector(recorder).send(account(), request())

    [message] = recorder.sent
    expected_id = message_id_for(
        "socialdesk-77", address="help@shop.example", domain="shop.example"
    )
    assert message["From"] == "Shop Help <help@shop.example>"
    assert message["To"] == '"LastßlName, FirstName" <comma.name@example.com>'
    assert message["Subject"] == "Re: Test for Comma and Name Bugs"
    assert message["Date"] == "Mon, 02 Mar 2026 09:30:00 +0000"
    assert message["Message-ID"] == f"<{expected_id}>"
    assert message["In-Reply-To"] == "<second@example.com>"
    assert message["References"] == "<root@example.com> <second@example.com>"
    assert message.get_content_type() == "text/plain"
    assert message.get_content().rstrip("\n") == request().text
    assert result.native_id == expected_id
    assert result.sent_at == NOW
    assert result.raw["in_reply_to"] == "second@example.com"


def test_retry_carries_the_same_message_id() -> None:
    recorder = Recorder()
    conn = connector(recorder)
    conn.send(account(), request())
    conn.send(account(), request())
    conn.send(account(), request(idempotency_key="socialdesk-78"))
    ids = [m["Message-ID"] for m in recorder.sent]
    assert ids[0] == ids[1]
    assert ids[2] != ids[0]


def test_first_message_of_a_thread_has_no_reply_headers() -> None:
    recorder = Recorder()
    connector(recorder).send(
        account(), request(reply_to_native_id=None, thread_key=None, subject="Your order")
    )
    [message] = recorder.sent
    assert message["In-Reply-To"] is None
    assert message["References"] is None
    assert message["Subject"] == "Your order"


def test_reply_to_the_thread_root_lists_it_once() -> None:
    recorder = Recorder()
    connector(recorder).send(
        account(), request(reply_to_native_id="root@example.com", thread_key="root@example.com")
    )
    assert recorder.sent[0]["References"] == "<root@example.com>"


@pytest.mark.parametrize(
    ("subject", "replying", "expected"),
    [
        ("Order 12", True, "Re: Order 12"),
        ("Re: Order 12", True, "Re: Order 12"),
        ("RE: Order 12", True, "RE: Order 12"),
        ("AW: Bestellung", True, "AW: Bestellung"),
        (None, True, "Re: your message"),
        ("Order 12", False, "Order 12"),
    ],
)
def test_reply_subject(subject: str | None, replying: bool, expected: str) -> None:
    assert reply_subject(subject, replying=replying) == expected


def test_message_id_domain_setting() -> None:
    recorder = Recorder()
    connector(recorder).send(account(message_id_domain="mail.shop.example"), request())
    assert str(recorder.sent[0]["Message-ID"]).endswith("@mail.shop.example>")


def test_recipient_without_address_is_refused() -> None:
    recorder = Recorder()
    with pytest.raises(SendError, match="no email address") as caught:
        connector(recorder).send(account(), request(recipient=Identity("visitor-1")))
    assert caught.value.retryable is False
    assert recorder.sent == []


def test_note_is_never_sent() -> None:
    with pytest.raises(SendError, match="never sent"):
        connector(Recorder()).send(account(), request(visibility=Visibility.NOTE))


@pytest.mark.parametrize(
    ("failure", "error", "retryable", "match"),
    [
        (
            smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication failed"),
            AuthError,
            None,
            "refused the login.*535",
        ),
        (
            smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."),
            AuthError,
            None,
            "smtp_security",
        ),
        (ssl.SSLCertVerificationError("certificate verify failed"), AuthError, None, "TLS"),
        (
            smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"5.1.1 No such user")}),
            SendError,
            False,
            "x@example.com: 550 5.1.1 No such user",
        ),
        (
            smtplib.SMTPRecipientsRefused({"x@example.com": (450, b"4.2.0 Greylisted")}),
            SendError,
            True,
            "Greylisted",
        ),
        (
            smtplib.SMTPSenderRefused(553, b"5.7.1 Sender not allowed", "help@shop.example"),
            SendError,
            False,
            "553",
        ),
        (smtplib.SMTPDataError(451, b"4.3.0 Try again later"), SendError, True, "451"),
        (
            smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
            SendError,
            True,
            "stopped answering .*; will try again$",
        ),
        (
            Unreachable(ConnectionRefusedError(111, "Connection refused")),
            SendError,
            True,
            r"could not be reached \(ConnectionRefusedError: .*; will try again$",
        ),
        (ConnectionRefusedError(111, "Connection refused"), SendError, True, "will try again"),
        (TimeoutError("timed out"), SendError, True, "TimeoutError"),
        (
            smtplib.SMTPException("No suitable authentication method found."),
            SendError,
            True,
            "session with .*No suitable authentication method",
        ),
    ],
)
def test_smtp_failures_are_mapped(
    failure: Exception, error: type[Exception], retryable: bool | None, match: str
) -> None:
    with pytest.raises(error, match=match) as caught:
        connector(Recorder(failure)).send(account(), request())
    if retryable is not None:
        assert isinstance(caught.value, SendError)
        assert caught.value.retryable is retryable


def test_missing_smtp_host_is_an_auth_error() -> None:
    settings = {"address": "help@shop.example"}
    ctx = AccountContext(3, "help@shop.example", settings, {})
    with pytest.raises(AuthError, match="no smtp_host"):
        EmailConnector(now=lambda: NOW).send(ctx, request())


def test_server_settings_are_read() -> None:
    recorder = Recorder()
    connector(recorder).send(
        account(smtp_port=465, smtp_security="ssl", timeout_seconds=12), request()
    )
    [config] = recorder.configs
    assert config.smtp == ServerConfig(
        "smtp.shop.example", 465, "ssl", "help@shop.example", "app-password"
    )
    assert config.timeout == 12.0


class FakeSMTP:
    """Stands in for smtplib.SMTP / SMTP_SSL and records the conversation; ``failures`` names
    the steps that raise, and what."""

    calls: list[tuple[str, Any]] = []
    failures: dict[str, OSError] = {}

    def __init__(self, host: str, port: int, **kwargs: Any) -> None:
        self._step("connect", (host, port, sorted(kwargs)))

    def _step(self, name: str, detail: Any = None) -> None:
        FakeSMTP.calls.append((name, detail))
        if name in FakeSMTP.failures:
            raise FakeSMTP.failures[name]

    def ehlo(self) -> None:
        self._step("ehlo")

    def starttls(self, *, context: ssl.SSLContext) -> None:
        self._step("starttls", context.verify_mode == ssl.CERT_REQUIRED)

    def login(self, user: str, password: str) -> None:
        self._step("login", user)

    def send_message(self, message: EmailMessage) -> None:
        self._step("send_message", message["Message-ID"])

    def quit(self) -> None:
        self._step("quit")

    def close(self) -> None:
        self._step("close")


@pytest.fixture
def fake_smtp(monkeypatch: pytest.MonkeyPatch) -> type[FakeSMTP]:
    FakeSMTP.calls = []
    FakeSMTP.failures = {}
    monkeypatch.setattr(smtplib, "SMTP", FakeSMTP)
    monkeypatch.setattr(smtplib, "SMTP_SSL", FakeSMTP)
    return FakeSMTP


def _message() -> EmailMessage:
    message = EmailMessage()
    message["Message-ID"] = "<m@shop.example>"
    return message


CONVERSATIONS = [
    ("starttls", ["connect", "ehlo", "starttls", "ehlo", "login", "send_message", "quit"]),
    ("ssl", ["connect", "ehlo", "login", "send_message", "quit"]),
    ("none", ["connect", "ehlo", "login", "send_message", "quit"]),
]


@pytest.mark.parametrize(("security", "expected"), CONVERSATIONS)
def test_smtplib_conversation(
    monkeypatch: pytest.MonkeyPatch, security: str, expected: list[str]
) -> None:
    FakeSMTP.calls = []
    FakeSMTP.failures = {}
    klass = "SMTP_SSL" if security == "ssl" else "SMTP"
    monkeypatch.setattr(smtplib, klass, FakeSMTP)
    server = ServerConfig("smtp.shop.example", 587, security, "user", "pw")
    SmtplibTransport(server, timeout=7).send(_message())
    assert [name for name, _ in FakeSMTP.calls] == expected
    connect = FakeSMTP.calls[0][1]
    assert "timeout" in connect[2], "every SMTP connection has a timeout"
    if security == "starttls":
        assert ("starttls", True) in FakeSMTP.calls, "certificates are verified"


@pytest.mark.parametrize(("security", "expected"), CONVERSATIONS)
def test_the_check_opens_the_session_a_send_opens(
    fake_smtp: type[FakeSMTP], security: str, expected: list[str]
) -> None:
    server = ServerConfig("smtp.shop.example", 587, security, "user", "pw")
    check_smtp(server, 7)
    checked = list(fake_smtp.calls)
    fake_smtp.calls = []
    SmtplibTransport(server, timeout=7).send(_message())
    assert fake_smtp.calls == [*checked[:-1], ("send_message", "<m@shop.example>"), checked[-1]]
    assert [name for name, _ in checked] == [name for name in expected if name != "send_message"]


def test_no_login_without_a_username(fake_smtp: type[FakeSMTP]) -> None:
    check_smtp(ServerConfig("localhost", 25, "none", "", ""), 7)
    assert [name for name, _ in fake_smtp.calls] == ["connect", "ehlo", "quit"]


def test_the_socket_is_closed_when_quit_fails(fake_smtp: type[FakeSMTP]) -> None:
    fake_smtp.failures = {"quit": smtplib.SMTPServerDisconnected("Connection unexpectedly closed")}
    server = ServerConfig("smtp.shop.example", 587, "starttls", "user", "pw")
    SmtplibTransport(server, timeout=7).send(_message())  # the mail went: QUIT does not matter
    assert [name for name, _ in fake_smtp.calls][-3:] == ["send_message", "quit", "close"]


WHERE = "SMTP server smtp.shop.example:587"


@pytest.mark.parametrize(
    ("step", "failure", "error", "retryable", "reason"),
    [
        (
            "connect",
            ConnectionRefusedError(111, "Connection refused"),
            SendError,
            True,
            f"{WHERE} could not be reached (ConnectionRefusedError: [Errno 111] Connection "
            "refused)",
        ),
        (
            "connect",
            TimeoutError("timed out"),
            SendError,
            True,
            f"{WHERE} could not be reached (TimeoutError: timed out)",
        ),
        (
            "connect",
            smtplib.SMTPConnectError(554, b"5.7.1 Service unavailable"),
            SendError,
            False,
            f"{WHERE} answered 554 5.7.1 Service unavailable",
        ),
        (
            "starttls",
            smtplib.SMTPNotSupportedError("STARTTLS extension not supported by server."),
            AuthError,
            None,
            f"{WHERE} does not support what the settings ask for (STARTTLS extension not "
            "supported by server.); check smtp_security and smtp_port (465 is ssl, 587 is "
            "starttls)",
        ),
        (
            "starttls",
            ssl.SSLCertVerificationError(
                1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed"
            ),
            AuthError,
            None,
            f"TLS with {WHERE} failed ([SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
            "failed: self-signed); check smtp_security and the server's certificate",
        ),
        (
            "login",
            smtplib.SMTPAuthenticationError(535, b"5.7.8 Authentication failed"),
            AuthError,
            None,
            f"{WHERE} refused the login (535 5.7.8 Authentication failed); check the username "
            "and password (or app password)",
        ),
        (
            "ehlo",
            smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
            SendError,
            True,
            f"{WHERE} stopped answering (SMTPServerDisconnected: Connection unexpectedly closed)",
        ),
        (
            "login",
            TimeoutError("timed out"),
            SendError,
            True,
            f"{WHERE} stopped answering (TimeoutError: timed out)",
        ),
        (  # the server offers only mechanisms smtplib does not know (XOAUTH2, say)
            "login",
            smtplib.SMTPException("No suitable authentication method found."),
            AuthError,
            None,
            f"{WHERE} does not support what the settings ask for (no login method in common "
            "with the server: No suitable authentication method found.); check smtp_security "
            "and smtp_port (465 is ssl, 587 is starttls)",
        ),
    ],
)
def test_a_check_and_a_send_name_a_failed_step_alike(
    fake_smtp: type[FakeSMTP],
    step: str,
    failure: OSError,
    error: type[Exception],
    retryable: bool | None,
    reason: str,
) -> None:
    """The same failure reads the same to the admin who connects the mailbox and on the reply
    it stopped; only the reply adds that the job will try again. Either way the session ends."""
    fake_smtp.failures = {step: failure}
    settings = {"smtp_port": 587, "smtp_security": "starttls"}
    config = EmailAccount.from_context(account(**settings))
    assert config.smtp is not None
    with pytest.raises(error) as checked:
        check_smtp(config.smtp, 7)
    assert isinstance(checked.value, AuthError | SendError)
    assert checked.value.reason == reason
    check_ended = [name for name, _ in fake_smtp.calls][-1]
    fake_smtp.calls = []
    with pytest.raises(error) as sent:
        EmailConnector(now=lambda: NOW).send(account(**settings), request())
    assert isinstance(sent.value, AuthError | SendError)
    assert sent.value.reason == (f"{reason}; will try again" if retryable else reason)
    if retryable is not None:
        assert isinstance(checked.value, SendError)
        assert isinstance(sent.value, SendError)
        assert checked.value.retryable is sent.value.retryable is retryable
    if step != "connect":  # a session that was opened is ended, whatever failed in it
        assert check_ended == "quit"
        assert [name for name, _ in fake_smtp.calls][-1] == "quit"
