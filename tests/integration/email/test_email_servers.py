"""The email connector against real mail servers on this machine (see servers.py).

A customer sends mail to the brand's support address through a real SMTP server; Dovecot stores
it; the desk polls the mailbox over IMAP and threads it into a conversation. An agent's reply
goes through the send gateway and the SMTP server into the customer's own mailbox, threaded to
the customer's mail. The customer answers, and the answer joins the same conversation. An
out-of-office reply and a bounce are kept as events but never become messages to answer, and
polling again adds nothing.
"""

from __future__ import annotations

import email
import email.utils
import imaplib
import re
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.conftest import JobRunner
from tests.factories import accounts
from tests.integration.email.servers import MailServers, MailUser

from socialdesk.accounts.models import Member
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount, EventStatus, Health, InboundEvent
from socialdesk.common.clock import Clock, FrozenClock, use_clock
from socialdesk.connectors import registry
from socialdesk.connectors.base import Attachment, AttachmentKind
from socialdesk.connectors.email.connector import EmailConnector
from socialdesk.contacts.models import ContactIdentity
from socialdesk.conversations import jobs as conversation_jobs
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import (
    Conversation,
    DeliveryState,
    Direction,
    Message,
    Status,
)
from socialdesk.outbound import service as outbound

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SUBJECT = "Order 1042 arrived damaged"
FIRST_BODY = """Hello,

the mug in order 1042 arrived in pieces. Can you send a new one?

Thanks,
Ana

--
Ana Costa
Sent from my phone
"""
REPLY_TEXT = (
    "Hello Ana,\n\nsorry about the mug! A new one leaves our warehouse today. "
    "Is the delivery address still the same?\n\nKestrel Support"
)


@dataclass
class Desk:
    servers: MailServers
    support: MailUser
    customer: MailUser
    account_id: int
    agent: Member


@pytest.fixture
def desk(session: Session, clock: FrozenClock, mail_servers: MailServers) -> Iterator[Desk]:
    """An organization with an email brand account on fresh mailboxes of the local servers.
    (``clock`` is named so the wall clock below is set inside the frozen one, and undone first.)"""
    assert isinstance(registry.get("email"), EmailConnector), "the email connector is installed"
    support = mail_servers.mailbox("support", "desk.test")
    customer = mail_servers.mailbox("ana", "example.test")
    org = accounts.organization(session)
    agent = accounts.member(session, org, name="Jo Agent")
    account = channels_service.create(
        session,
        organization_id=org.id,
        kind="email",
        handle=support.address,
        display_name="Kestrel Support",
        settings={
            "address": support.address,
            "display_name": "Kestrel Support",
            "imap_host": mail_servers.host,
            "imap_port": mail_servers.imap_port,
            "imap_security": "none",
            "imap_mailbox": "INBOX",
            "smtp_host": mail_servers.host,
            "smtp_port": mail_servers.smtp_port,
            "smtp_security": "none",
            "timeout_seconds": 10,
        },
        credentials={"username": support.address, "password": support.password},
    )
    session.commit()
    # Real servers stamp real dates on mail, and the first poll reads the mail of the last
    # days: the desk runs on the wall clock here, not the tests' frozen one.
    with use_clock(Clock()):
        yield Desk(mail_servers, support, customer, account.id, agent)


# What people do with their mail clients.


def submit(
    servers: MailServers,
    message: EmailMessage,
    *,
    login: MailUser | None,
    envelope_from: str | None = None,
) -> None:
    """Hand a mail to the SMTP server, as a mail client (with a login) or another server
    (without) would."""
    with smtplib.SMTP(servers.host, servers.smtp_port, timeout=10) as smtp:
        if login is not None:
            smtp.login(login.address, login.password)
        sender = envelope_from if envelope_from is not None else str(message["From"])
        smtp.send_message(message, from_addr=sender)


def new_mail(*, sender: str, to: str, subject: str, body: str, domain: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(domain=domain)
    message.set_content(body)
    return message


@dataclass(frozen=True)
class Stored:
    uid: int
    flags: str
    message: EmailMessage


def mailbox_contents(servers: MailServers, user: MailUser) -> tuple[int, list[Stored]]:
    """UIDVALIDITY and every mail in the user's INBOX, read without changing any flag."""
    imap = imaplib.IMAP4(servers.host, servers.imap_port, timeout=10)
    try:
        imap.login(user.address, user.password)
        typ, _ = imap.select("INBOX", readonly=True)
        assert typ == "OK"
        _, status = imap.status("INBOX", "(UIDVALIDITY)")
        found = re.search(rb"UIDVALIDITY (\d+)", status[0] if isinstance(status[0], bytes) else b"")
        assert found is not None, status
        _, data = imap.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
        mails = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            head = item[0].decode()
            uid = re.search(r"UID (\d+)", head)
            flags = re.search(r"FLAGS \(([^)]*)\)", head)
            assert uid is not None
            parsed = email.message_from_bytes(item[1], policy=policy.default)
            assert isinstance(parsed, EmailMessage)
            mails.append(Stored(int(uid.group(1)), flags.group(1) if flags else "", parsed))
        imap.close()
        return int(found.group(1)), sorted(mails, key=lambda m: m.uid)
    finally:
        imap.logout()


def bare_id(value: object) -> str:
    return str(value).strip().strip("<>")


# What the desk does.


def poll(session: Session, desk: Desk) -> str:
    """One run of the shared polling job; returns the cursor it left."""
    session.commit()
    conversation_jobs.poll_account({"brand_account_id": desk.account_id})
    session.expire_all()
    account = session.get_one(BrandAccount, desk.account_id)
    assert account.health == Health.OK.value, account.health_reason
    assert account.poll_cursor is not None
    return account.poll_cursor


def cursor_parts(cursor: str) -> tuple[int, int]:
    validity, _, uid = cursor.partition(":")
    return int(validity), int(uid)


def count(session: Session, model: type[InboundEvent] | type[Message] | type[Conversation]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def conversation_messages(session: Session, conversation: Conversation) -> list[Message]:
    return list(
        session.scalars(
            select(Message).where(Message.conversation_id == conversation.id).order_by(Message.id)
        )
    )


def test_a_customer_mail_is_answered_in_its_thread(
    session: Session, jobs: JobRunner, desk: Desk
) -> None:
    servers, support, customer = desk.servers, desk.support, desk.customer
    cursors: list[str] = []

    # a) The customer writes to the support address from their mail client.
    first = new_mail(
        sender=email.utils.formataddr(("Ana Costa", customer.address)),
        to=support.address,
        subject=SUBJECT,
        body=FIRST_BODY,
        domain="example.test",
    )
    first_id = bare_id(first["Message-ID"])
    submit(servers, first, login=customer)

    # b) The desk polls the mailbox and processes what it stored.
    cursors.append(poll(session, desk))
    jobs.run_pending()
    validity, in_support = mailbox_contents(servers, support)
    assert [bare_id(m.message["Message-ID"]) for m in in_support] == [first_id]
    assert cursors[-1] == f"{validity}:{in_support[-1].uid}"
    assert "\\Seen" not in in_support[0].flags, "polling must not mark mail as read"

    conversation = session.scalars(select(Conversation)).one()
    assert conversation.brand_account_id == desk.account_id
    assert conversation.subject == SUBJECT
    assert conversation.thread_key == first_id
    identity = session.scalars(
        select(ContactIdentity).where(ContactIdentity.contact_id == conversation.contact_id)
    ).one()
    assert (identity.channel, identity.native_id) == ("email", customer.address)
    assert identity.display_name == "Ana Costa"
    [inbound] = conversation_messages(session, conversation)
    assert inbound.direction == Direction.INBOUND.value
    assert inbound.native_id == first_id
    assert inbound.author_contact_id == conversation.contact_id
    assert inbound.text == (
        "Hello,\n\nthe mug in order 1042 arrived in pieces. Can you send a new one?\n\nThanks,\nAna"
    )
    assert inbound.raw is not None
    assert "Sent from my phone" in inbound.raw["full_text"]  # stripped from the text only
    assert (inbound.raw["uid"], inbound.raw["uidvalidity"]) == (in_support[0].uid, validity)

    # c) An agent replies; the send gateway delivers it by SMTP.
    reply = outbound.queue_reply(
        session, conversation=conversation, author=desk.agent, text=REPLY_TEXT
    )
    jobs.run_pending()
    session.expire_all()
    reply = session.get_one(Message, reply.id)
    assert reply.delivery_state == DeliveryState.SENT.value, reply.delivery_error
    assert reply.native_id
    reply_id = reply.native_id
    submitted = [d for d in servers.deliveries if customer.address in d.recipients]
    assert [d.authenticated_as for d in submitted] == [support.address]
    assert submitted[0].mail_from == support.address

    # d) The reply is in the customer's own mailbox, threaded to their mail.
    _, in_customer = mailbox_contents(servers, customer)
    [received] = [m.message for m in in_customer]
    assert bare_id(received["Message-ID"]) == reply_id
    assert bare_id(received["In-Reply-To"]) == first_id
    assert first_id in [bare_id(r) for r in str(received["References"]).split()]
    assert email.utils.parseaddr(str(received["From"])) == ("Kestrel Support", support.address)
    assert email.utils.parseaddr(str(received["To"]))[1] == customer.address
    assert str(received["Subject"]) == f"Re: {SUBJECT}"
    assert received.get_content().replace("\r\n", "\n").strip() == REPLY_TEXT

    # e) The customer answers the reply; it joins the same conversation.
    answer = new_mail(
        sender=email.utils.formataddr(("Ana Costa", customer.address)),
        to=email.utils.formataddr(("Kestrel Support", support.address)),
        subject=str(received["Subject"]),
        body=(
            "Yes, same address. Thank you!\n\n"
            f"On {received['Date']}, Kestrel Support <{support.address}> wrote:\n"
            + "".join(f"> {line}\n" for line in REPLY_TEXT.splitlines())
        ),
        domain="example.test",
    )
    answer["In-Reply-To"] = f"<{reply_id}>"
    answer["References"] = f"<{first_id}> <{reply_id}>"
    answer_id = bare_id(answer["Message-ID"])
    submit(servers, answer, login=customer)
    cursors.append(poll(session, desk))
    jobs.run_pending()
    session.expire_all()
    assert count(session, Conversation) == 1
    thread = conversation_messages(session, conversation)
    assert [m.native_id for m in thread] == [first_id, reply_id, answer_id]
    assert thread[-1].direction == Direction.INBOUND.value
    assert thread[-1].text == "Yes, same address. Thank you!"
    assert thread[-1].native_reply_to_id == reply_id

    # f) An out-of-office reply and a bounce are stored, never offered for an answer, and do not
    #    reopen the resolved conversation they refer to.
    conversation = session.get_one(Conversation, conversation.id)
    conversations_service.set_status(
        session, conversation=conversation, status=Status.RESOLVED, actor=desk.agent
    )
    session.commit()
    messages_before = count(session, Message)
    away = new_mail(
        sender=email.utils.formataddr(("Ana Costa", customer.address)),
        to=support.address,
        subject=f"Automatic reply: {received['Subject']}",
        body="I am away until Monday and will read your mail then.",
        domain="example.test",
    )
    away["Auto-Submitted"] = "auto-replied"
    away["In-Reply-To"] = f"<{reply_id}>"
    away["References"] = f"<{first_id}> <{reply_id}>"
    submit(servers, away, login=customer)
    bounce = delivery_report(to=support.address, failed=received, recipient=customer.address)
    submit(servers, bounce, login=None, envelope_from="")  # bounces have a null sender
    cursors.append(poll(session, desk))
    jobs.run_pending()
    session.expire_all()
    machine_mail = {
        bare_id(away["Message-ID"]): "auto_reply",
        bare_id(bounce["Message-ID"]): "bounce",
    }
    events = session.scalars(
        select(InboundEvent).where(InboundEvent.native_id.in_(list(machine_mail)))
    ).all()
    assert {e.native_id: e.kind for e in events} == machine_mail
    assert {e.status for e in events} == {EventStatus.IGNORED.value}
    assert count(session, Message) == messages_before
    assert count(session, Conversation) == 1
    assert session.get_one(Conversation, conversation.id).status == Status.RESOLVED.value

    # g) Polling again adds nothing; neither does reading the same mail again after the cursor
    #    was lost (storage is keyed by Message-ID). The cursor never moves back.
    events_before = count(session, InboundEvent)
    cursors.append(poll(session, desk))
    assert cursors[-1] == cursors[-2]
    account = session.get_one(BrandAccount, desk.account_id)
    account.poll_cursor = cursors[0]  # as if the later polls' commits had been lost
    rewound = poll(session, desk)
    assert rewound == cursors[-1]
    jobs.run_pending()
    # Three messages: the customer's mail, the reply and the customer's answer.
    assert (count(session, InboundEvent), count(session, Message)) == (events_before, 3)
    validity, in_support = mailbox_contents(servers, support)
    assert len(in_support) == 4
    assert cursors[-1] == f"{validity}:{in_support[-1].uid}"
    parts = [cursor_parts(c) for c in cursors]
    assert {v for v, _ in parts} == {validity}
    assert [u for _, u in parts] == sorted(u for _, u in parts)
    assert not any("\\Seen" in m.flags for m in in_support)


def delivery_report(*, to: str, failed: EmailMessage, recipient: str) -> EmailMessage:
    """A bounce as a mail server writes it (RFC 3464): a multipart/report from MAILER-DAEMON
    with a human part, the machine-readable status, and the headers of the failed mail."""
    date = email.utils.formatdate(localtime=False)
    message_id = email.utils.make_msgid(domain="mx.example.test")
    failed_headers = "".join(
        f"{name}: {failed[name]}\r\n"
        for name in ("From", "To", "Subject", "Date", "Message-ID", "In-Reply-To")
    )
    raw = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.test>\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Date: {date}\r\n"
        f"Message-ID: {message_id}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b0unce"\r\n'
        "\r\n"
        "This is a MIME-encapsulated message.\r\n"
        "\r\n"
        "--b0unce\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "Your message could not be delivered to one or more recipients.\r\n"
        "\r\n"
        f"<{recipient}>: mailbox full\r\n"
        "\r\n"
        "--b0unce\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.test\r\n"
        f"Arrival-Date: {date}\r\n"
        "\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\n"
        "Status: 5.2.2\r\n"
        "Diagnostic-Code: smtp; 552 5.2.2 mailbox full\r\n"
        "\r\n"
        "--b0unce\r\n"
        "Content-Description: Undelivered Message Headers\r\n"
        "Content-Type: text/rfc822-headers\r\n"
        "\r\n"
        f"{failed_headers}"
        "\r\n"
        "--b0unce--\r\n"
    )
    parsed = email.message_from_bytes(raw.encode(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_a_refused_password_marks_the_account_unhealthy(
    session: Session, jobs: JobRunner, desk: Desk
) -> None:
    servers, support, customer = desk.servers, desk.support, desk.customer
    mail = new_mail(
        sender=customer.address,
        to=support.address,
        subject="Where is my refund?",
        body="I returned the parcel two weeks ago.",
        domain="example.test",
    )
    submit(servers, mail, login=customer)
    cursor = poll(session, desk)
    jobs.run_pending()
    conversation = session.scalars(select(Conversation)).one()

    # The mailbox's password was changed on the server, not in the desk.
    account = session.get_one(BrandAccount, desk.account_id)
    channels_service.set_credentials(
        account, {"username": support.address, "password": "changed-elsewhere"}
    )
    reply = outbound.queue_reply(
        session, conversation=conversation, author=desk.agent, text="It is on its way."
    )
    jobs.run_pending()
    session.expire_all()
    reply = session.get_one(Message, reply.id)
    assert reply.delivery_state == DeliveryState.FAILED.value
    assert reply.delivery_error is not None
    assert "refused the login (535" in reply.delivery_error
    assert not [d for d in servers.deliveries if customer.address in d.recipients]

    session.commit()
    conversation_jobs.poll_account({"brand_account_id": desk.account_id})
    session.expire_all()
    account = session.get_one(BrandAccount, desk.account_id)
    assert account.health == Health.UNHEALTHY.value
    assert account.health_reason is not None
    assert f"IMAP server {servers.host}:{servers.imap_port} refused the login" in (
        account.health_reason
    )
    assert account.poll_cursor == cursor


def test_a_reply_with_a_file_reaches_the_customer_as_an_attachment(
    session: Session, jobs: JobRunner, desk: Desk
) -> None:
    servers, support, customer = desk.servers, desk.support, desk.customer
    first = new_mail(
        sender=email.utils.formataddr(("Ana Costa", customer.address)),
        to=support.address,
        subject="Refund form?",
        body="Where do I find the refund form?",
        domain="example.test",
    )
    submit(servers, first, login=customer)
    poll(session, desk)
    jobs.run_pending()
    conversation = session.scalars(select(Conversation)).one()
    form = b"%PDF-1.4\n\x00\xff refund form\n%%EOF\n"
    reply = outbound.queue_reply(
        session,
        conversation=conversation,
        author=desk.agent,
        text="Here it is.",
        files=[
            Attachment(
                AttachmentKind.FILE,
                name="Rückerstattung.pdf",
                mime_type="application/pdf",
                content=form,
            )
        ],
    )
    jobs.run_pending()
    session.expire_all()
    assert session.get_one(Message, reply.id).delivery_state == DeliveryState.SENT.value
    _, in_customer = mailbox_contents(servers, customer)
    [received] = [m.message for m in in_customer]
    body = received.get_body(preferencelist=("plain",))
    assert body is not None
    assert body.get_content().strip() == "Here it is."
    [attached] = list(received.iter_attachments())
    assert attached.get_filename() == "Rückerstattung.pdf"
    assert attached.get_content_type() == "application/pdf"
    assert attached.get_payload(decode=True) == form
