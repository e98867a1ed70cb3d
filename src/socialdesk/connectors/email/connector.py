"""The email connector: IMAP in (polled by UID), SMTP out, threads from the mail's own ids."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import ClassVar

from socialdesk.common import clock
from socialdesk.connectors.base import (
    AccountContext,
    AuthError,
    Capabilities,
    ChannelKind,
    Identity,
    InboundMessage,
    LengthCounting,
    OutboundRequest,
    PollResult,
    RawEvent,
    SendError,
    SendResult,
    config_problem,
    current_patience,
)
from socialdesk.connectors.email.check import check_imap, check_smtp
from socialdesk.connectors.email.config import EmailAccount, ServerConfig
from socialdesk.connectors.email.parse import IGNORED_EVENTS, SUPPORTED_EVENTS, parse_event
from socialdesk.connectors.email.poll import (
    IMAP_ERROR,
    MailboxFactory,
    open_imap,
    poll_mailbox,
)
from socialdesk.connectors.email.send import SmtplibTransport, SmtpTransport, send_message

SmtpFactory = Callable[[EmailAccount], SmtpTransport]


def smtp_server(account: EmailAccount) -> ServerConfig:
    """The SMTP server replies go out through; refused when the account has none."""
    if account.smtp is None:
        raise AuthError(f"email account {account.address} has no smtp_host setting")
    return account.smtp


def smtp_for(account: EmailAccount) -> SmtpTransport:
    return SmtplibTransport(smtp_server(account), timeout=account.timeout)


def _sending_config(account: AccountContext) -> ServerConfig:
    """What a reply is sent with, refused as a send would refuse it."""
    return smtp_server(EmailAccount.from_context(account))


class EmailConnector:
    kind: ClassVar[ChannelKind] = ChannelKind.EMAIL
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_length=None,
        length_counting=LengthCounting.NONE,
        threading=True,
        direct_messages=True,
        public_replies=False,
        # SMTP has no idempotency key; the Message-ID derived from the key lets the recipient's
        # client recognise a repeat, but a second copy is still delivered.
        idempotent_sends=False,
        # Sent as MIME attachments (send.build_message).
        files=True,
    )
    supported_events: ClassVar[frozenset[str]] = SUPPORTED_EVENTS
    ignored_events: ClassVar[frozenset[str]] = IGNORED_EVENTS

    def __init__(
        self,
        *,
        smtp: SmtpFactory = smtp_for,
        mailbox: MailboxFactory = open_imap,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._smtp = smtp
        self._mailbox = mailbox
        self._now = now or clock.now

    def parse(self, event: RawEvent) -> list[InboundMessage]:
        return parse_event(event)

    def not_ready(self, account: AccountContext) -> str | None:
        return config_problem(_sending_config, account)

    def send(self, account: AccountContext, request: OutboundRequest) -> SendResult:
        config = EmailAccount.from_context(account)
        return send_message(self._smtp(config), account=config, request=request, now=self._now)

    def verify_credentials(self, account: AccountContext) -> Identity:
        """Log in to both servers (IMAP, with the mailbox selected, and SMTP), reading and
        sending nothing. Raises AuthError naming the server that refused, SendError when one
        cannot be reached. The identity is the brand's address."""
        config = EmailAccount.from_context(account)
        patience = current_patience()
        if patience is not None and patience.timeout < config.timeout:
            config = replace(config, timeout=patience.timeout)
        check_imap(config)
        check_smtp(smtp_server(config), config.timeout)
        return Identity(
            native_id=config.address, handle=config.address, display_name=config.display_name
        )

    def poll(self, account: AccountContext, cursor: str | None) -> PollResult:
        config = EmailAccount.from_context(account)
        mailbox = self._mailbox(config)
        try:
            now = self._now()
            return poll_mailbox(
                mailbox, cursor=cursor, account=config, today=now.date(), received_at=now
            )
        except (IMAP_ERROR, OSError) as exc:
            # The connection dropped or the server failed a command mid-poll; nothing was
            # handed over, so the next poll starts from the same cursor.
            raise SendError(
                f"IMAP poll of {config.address} failed ({type(exc).__name__}: {exc}); "
                "will try again",
                retryable=True,
            ) from exc
        finally:
            mailbox.close()
