"""One SMTP session, as both the credential check and a send open it, and the words for what
went wrong in one. The check and the send share both, so a refusal reads the same whether an
admin connected the mailbox or an agent's reply met it."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager

from socialdesk.connectors.base import AuthError, ConnectorError, SendError
from socialdesk.connectors.email.config import ServerConfig


class Unreachable(OSError):
    """The connection to the SMTP server could not be opened: refused, no such host, or no
    greeting within the timeout. Told apart from a connection lost later; the error met is
    the ``__cause__``."""

    def __init__(self, error: OSError) -> None:
        super().__init__(f"{type(error).__name__}: {error}")


@contextmanager
def smtp_session(server: ServerConfig, *, timeout: float) -> Iterator[smtplib.SMTP]:
    """A session with ``server``, ready to take mail: connected with implicit TLS (security
    ``ssl``) or plain, greeted with EHLO, secured with STARTTLS (``starttls``) and greeted
    again, logged in when a username is set. Every socket operation has ``timeout``, and the
    session always ends with QUIT, or with the socket closed when QUIT fails.

    Raises the ``smtplib``, ``ssl`` or socket error it met, except that a connection that could
    not be opened raises :class:`Unreachable`; :func:`smtp_error` words them all."""
    context = ssl.create_default_context()
    client: smtplib.SMTP
    try:
        if server.security == "ssl":
            client = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, context=context)
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=timeout)
    except (ssl.SSLError, smtplib.SMTPResponseException):
        raise  # the server was reached: the handshake failed, or the greeting refused us
    except OSError as exc:
        raise Unreachable(exc) from exc
    try:
        client.ehlo()
        if server.security == "starttls":
            client.starttls(context=context)
            # What the server offered before TLS no longer holds (RFC 3207, 4.2): AUTH is
            # often offered only now.
            client.ehlo()
        if server.username:
            try:
                client.login(server.username, server.password)
            except smtplib.SMTPException as exc:
                if type(exc) is not smtplib.SMTPException:
                    raise
                # smtplib knows none of the mechanisms the server offers: a setting to change,
                # not a line to try again.
                raise smtplib.SMTPNotSupportedError(
                    f"no login method in common with the server: {exc}"
                ) from exc
        yield client
    finally:
        try:
            client.quit()
        except OSError:  # smtplib's errors are OSErrors too
            client.close()


def smtp_error(
    exc: OSError, server: ServerConfig | None, *, retrying: bool = False
) -> ConnectorError:
    """The connector error for ``exc``, met in a session with ``server``: AuthError when the
    settings or credentials must change, SendError otherwise, retryable when trying again
    later can succeed. ``retrying``: the caller is a job that tries a lost connection again,
    and the reason says so."""
    where = f"SMTP server {server.host}:{server.port}" if server is not None else "the SMTP server"
    match exc:
        case smtplib.SMTPAuthenticationError():
            return AuthError(
                f"{where} refused the login ({exc.smtp_code} {_text(exc.smtp_error)}); check "
                "the username and password (or app password)"
            )
        case smtplib.SMTPNotSupportedError():  # no STARTTLS, no AUTH, or no SMTPUTF8
            return AuthError(
                f"{where} does not support what the settings ask for ({exc}); check "
                "smtp_security and smtp_port (465 is ssl, 587 is starttls)"
            )
        case ssl.SSLError():
            return AuthError(
                f"TLS with {where} failed ({exc}); check smtp_security and the server's certificate"
            )
        case smtplib.SMTPRecipientsRefused():
            refusals = "; ".join(
                f"{rcpt}: {code} {_text(text)}" for rcpt, (code, text) in exc.recipients.items()
            )
            temporary = all(400 <= code < 500 for code, _ in exc.recipients.values())
            return SendError(f"{where} refused the recipient ({refusals})", retryable=temporary)
        case smtplib.SMTPResponseException():
            # A refused greeting, sender or data, or another coded answer: 4xx is temporary,
            # 5xx final.
            return SendError(
                f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)}",
                retryable=400 <= exc.smtp_code < 500,
            )
        # What is left is a failed connection: retryable whatever the step. A send cut off
        # after its data may have reached the server; its retry carries the same Message-ID,
        # so the recipient's client recognises a copy that did get through as the same one.
        case Unreachable():
            reason = f"{where} could not be reached ({exc})"
        case smtplib.SMTPException() if not isinstance(exc, smtplib.SMTPServerDisconnected):
            # smtplib gave up on its own
            reason = f"the session with {where} failed ({type(exc).__name__}: {exc})"
        case _:  # a timeout, or a connection reset or closed
            reason = f"{where} stopped answering ({type(exc).__name__}: {exc})"
    return SendError(reason + ("; will try again" if retrying else ""), retryable=True)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
