"""The worker's IMAP IDLE watchers, against the real Dovecot of the integration tests: a
customer's mail wakes the account's poll at once and arrives in the desk within seconds; one
process per account holds the lease; watchers follow settings changes and stop cleanly."""

from __future__ import annotations

import contextlib
import email.utils
import smtplib
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.conftest import JobRunner
from tests.factories import accounts
from tests.integration.email.servers import (
    MailServers,
    MailUser,
    Unavailable,
    running_mail_servers,
)

from socialdesk.channels import jobs as channels_jobs
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations.models import Conversation
from socialdesk.db.session import get_sessionmaker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def mail_servers() -> Iterator[MailServers]:
    stack = contextlib.ExitStack()
    try:
        servers = stack.enter_context(running_mail_servers())
    except Unavailable as exc:
        pytest.skip(str(exc))
    with stack:
        yield servers


@pytest.fixture(autouse=True)
def no_watchers_left(database_url: str) -> Iterator[None]:
    yield  # stopped while the test's database is still there (leases are released in it)
    channels_jobs.stop_idle_watchers()


def wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def email_account(
    session: Session, servers: MailServers, box: MailUser, **settings: object
) -> BrandAccount:
    org = accounts.organization(session)
    account = channels_service.create(
        session,
        organization_id=org.id,
        kind="email",
        handle=box.address,
        settings={
            "address": box.address,
            "imap_host": servers.host,
            "imap_port": servers.imap_port,
            "imap_security": "none",
            "smtp_host": servers.host,
            "smtp_port": servers.smtp_port,
            "smtp_security": "none",
            "timeout_seconds": 5,
            **settings,
        },
        credentials={"username": box.address, "password": box.password},
    )
    session.commit()
    return account


def send_mail(servers: MailServers, to: MailUser, subject: str) -> None:
    message = EmailMessage()
    message["From"] = "Ana Costa <ana@example.test>"
    message["To"] = to.address
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate()
    message["Message-ID"] = email.utils.make_msgid(domain="example.test")
    message.set_content("The mug in order 1042 arrived in pieces.")
    with smtplib.SMTP(servers.host, servers.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)


def lease_of(account_id: int) -> object:
    with get_sessionmaker(write=False)() as reader:
        account = reader.get_one(BrandAccount, account_id)
        return account.settings.get(channels_service.IDLE_LEASE_SETTING)


def subjects(account_id: int) -> list[str | None]:
    with get_sessionmaker(write=False)() as reader:
        return list(
            reader.scalars(
                select(Conversation.subject).where(Conversation.brand_account_id == account_id)
            )
        )


def test_new_mail_reaches_the_desk_within_seconds(
    session: Session, jobs: JobRunner, mail_servers: MailServers
) -> None:
    box = mail_servers.mailbox("support", "desk.test")
    account = email_account(session, mail_servers, box)
    states = channels_jobs.ensure_idle_watchers()
    state = states[account.id]
    assert wait_for(lambda: state.connected)
    lease = lease_of(account.id)
    assert isinstance(lease, dict)
    assert lease["owner"] == channels_jobs.PROCESS_TOKEN
    # Connecting polls once (mail may have come while nobody was idling).
    assert wait_for(lambda: jobs.queue.pending_count() == 1)
    jobs.run_pending()

    sent_at = time.monotonic()
    send_mail(mail_servers, box, "Order 1042 arrived damaged")
    assert wait_for(lambda: jobs.queue.pending_count() >= 1), state
    jobs.run_pending()
    latency = time.monotonic() - sent_at
    assert subjects(account.id) == ["Order 1042 arrived damaged"]
    assert latency < 10, f"mail took {latency:.1f}s to reach the desk"

    # The next minute's run keeps the same watcher (and renews its lease).
    assert channels_jobs.ensure_idle_watchers()[account.id] is state


def test_another_processes_lease_is_respected(
    session: Session, clock: FrozenClock, mail_servers: MailServers
) -> None:
    box = mail_servers.mailbox("support", "desk.test")
    until = (clock.now() + timedelta(minutes=2)).isoformat()
    account = email_account(
        session,
        mail_servers,
        box,
        **{channels_service.IDLE_LEASE_SETTING: {"owner": "another-worker", "until": until}},
    )
    assert account.id not in channels_jobs.ensure_idle_watchers()
    # That process died: its lease lapses and this one takes over.
    clock.advance(timedelta(minutes=3))
    assert account.id in channels_jobs.ensure_idle_watchers()
    lease = lease_of(account.id)
    assert isinstance(lease, dict)
    assert lease["owner"] == channels_jobs.PROCESS_TOKEN


def test_watchers_follow_settings_and_stop_cleanly(
    session: Session, mail_servers: MailServers
) -> None:
    box = mail_servers.mailbox("support", "desk.test")
    account = email_account(session, mail_servers, box)
    first = channels_jobs.ensure_idle_watchers()[account.id]
    assert wait_for(lambda: first.connected)

    # New credentials (a changed password): the watcher starts again with them.
    channels_service.update_credentials(account, {"password": box.password, "note": "changed"})
    session.commit()
    second = channels_jobs.ensure_idle_watchers()[account.id]
    assert second is not first
    assert wait_for(lambda: second.connected and not first.connected)

    # IDLE switched off for the account: watcher stopped, lease given back; polling goes on.
    account.settings = {**account.settings, "imap_idle": False}
    session.commit()
    assert account.id not in channels_jobs.ensure_idle_watchers()
    assert wait_for(lambda: not second.connected)
    assert lease_of(account.id) is None

    account.settings = {**account.settings, "imap_idle": True}
    session.commit()
    third = channels_jobs.ensure_idle_watchers()[account.id]
    assert wait_for(lambda: third.connected)
    started = time.monotonic()
    channels_jobs.stop_idle_watchers()
    assert time.monotonic() - started < 5
    assert not third.connected
    assert lease_of(account.id) is None
