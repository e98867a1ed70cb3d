"""Files attached to a reply: checked before anything is stored, kept with the message in the
same transaction, and read again by the delivery job at each attempt."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories.connectors import RecordingConnector, transient
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts.models import Member, Organization, Role
from socialdesk.common.errors import ValidationFailed
from socialdesk.config import get_settings
from socialdesk.connectors import registry
from socialdesk.connectors.base import (
    Attachment,
    AttachmentKind,
    Capabilities,
    ChannelKind,
    LengthCounting,
)
from socialdesk.conversations import attachments
from socialdesk.conversations.models import Conversation, DeliveryState, Message, MessageAttachment
from socialdesk.outbound import service as outbound
from socialdesk.policy import service as policy_service

PDF = b"%PDF-1.4 refund form"
MAP = b"\x89PNG\r\n\x1a\n network map"


@dataclass
class RecordingChat(RecordingConnector):
    """Stands in for the website chat connector (which may send files); remembers each send."""

    kind: ClassVar[ChannelKind] = ChannelKind.WEB
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_length=5000, length_counting=LengthCounting.CHARACTERS, files=True
    )


@pytest.fixture
def chat() -> Iterator[RecordingChat]:
    connector = RecordingChat()
    with registry.override(connector):
        yield connector


def _file(
    name: str = "refund-form.pdf", content: bytes = PDF, mime: str = "application/pdf"
) -> Attachment:
    return Attachment(kind=AttachmentKind.FILE, name=name, mime_type=mime, content=content)


def _setup(session: Session, *, kind: str = "web") -> tuple[Conversation, Member]:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind=kind)
    conversation = ingest(
        session, account, inbound(native_id="v1", author="visitor-1", text="Internet is down")
    ).conversation
    agent = accounts.member(session, org)
    session.commit()
    return conversation, agent


def _outbound_files(session: Session) -> list[MessageAttachment]:
    return list(
        session.scalars(
            select(MessageAttachment)
            .join(Message, Message.id == MessageAttachment.message_id)
            .where(Message.direction == "outbound")
            .order_by(MessageAttachment.position)
        )
    )


def test_files_are_stored_with_the_reply_and_sent_by_the_job(
    session: Session, jobs: JobRunner, chat: RecordingChat
) -> None:
    conversation, agent = _setup(session)
    reply = outbound.queue_reply(
        session,
        conversation=conversation,
        author=agent,
        text="Here is the form and the map",
        files=[_file(), _file("network map.png", MAP, "image/png")],
    )
    session.commit()
    kept = _outbound_files(session)
    assert [(f.message_id, f.name, f.kind, f.mime_type, f.size) for f in kept] == [
        (reply.id, "refund-form.pdf", "file", "application/pdf", len(PDF)),
        (reply.id, "network map.png", "image", "image/png", len(MAP)),
    ]
    shown = attachments.of_messages(session, [reply.id])[reply.id]
    assert [f.kept for f in shown] == [True, True]
    assert chat.sent == []
    jobs.run_pending()
    [request] = chat.sent
    assert [(a.name, a.mime_type, a.content) for a in request.attachments] == [
        ("refund-form.pdf", "application/pdf", PDF),
        ("network map.png", "image/png", MAP),
    ]


def test_the_job_reads_the_files_at_each_attempt_and_a_retry_sends_once(
    session: Session, jobs: JobRunner, chat: RecordingChat
) -> None:
    conversation, agent = _setup(session)
    chat.failures = [transient()]
    reply = outbound.queue_reply(
        session, conversation=conversation, author=agent, text="The form", files=[_file()]
    )
    session.commit()
    jobs.run_pending()  # fails for now; queued again
    jobs.run_pending(include_scheduled=True)
    session.expire_all()
    sent = session.get_one(Message, reply.id)
    assert sent.delivery_state == DeliveryState.SENT.value
    assert sent.delivery_attempts == 2
    [request] = chat.sent  # one message out, with its file
    assert [a.content for a in request.attachments] == [PDF]
    assert request.idempotency_key.endswith(f"-{reply.id}")
    jobs.run_pending(include_scheduled=True)
    assert len(chat.sent) == 1


def test_a_reply_refused_by_the_code_of_conduct_stores_no_file(
    session: Session, chat: RecordingChat
) -> None:
    conversation, agent = _setup(session)
    org = session.get_one(Organization, conversation.organization_id)
    admin = accounts.member(session, org, role=Role.ADMIN)
    policy_service.save(
        session,
        organization_id=org.id,
        yaml_text="rules:\n  - id: no-beer\n    explain: No drinks.\n    action: block\n"
        "    terms: [beer]\n",
        author=admin,
        comment="v1",
    )
    session.commit()
    with pytest.raises(outbound.Blocked):
        outbound.queue_reply(
            session, conversation=conversation, author=agent, text="Beer?", files=[_file()]
        )
    session.rollback()
    assert _outbound_files(session) == []


def test_a_reply_over_the_channels_length_stores_no_file(
    session: Session, chat: RecordingChat
) -> None:
    conversation, agent = _setup(session)
    with pytest.raises(outbound.Blocked):
        outbound.queue_reply(
            session, conversation=conversation, author=agent, text="x" * 5001, files=[_file()]
        )
    session.rollback()
    assert _outbound_files(session) == []
    assert session.scalars(select(Message).where(Message.direction == "outbound")).all() == []


def test_a_channel_that_cannot_send_files_refuses_them_by_name(session: Session) -> None:
    conversation, agent = _setup(session, kind="x")  # the real X connector: files=False
    with pytest.raises(ValidationFailed, match=r"^X replies cannot carry files") as refused:
        outbound.queue_reply(
            session, conversation=conversation, author=agent, text="See", files=[_file()]
        )
    assert refused.value.field == "files"
    assert session.scalars(select(Message).where(Message.direction == "outbound")).all() == []


def test_too_many_files_are_refused_with_the_count(session: Session, chat: RecordingChat) -> None:
    conversation, agent = _setup(session)
    many = [_file(f"page-{i}.pdf") for i in range(outbound.MAX_REPLY_FILES + 1)]
    with pytest.raises(ValidationFailed, match="at most 10 files; this one has 11") as refused:
        outbound.queue_reply(
            session, conversation=conversation, author=agent, text="Hi", files=many
        )
    assert refused.value.field == "files"


@dataclass
class FewFilesChat(RecordingChat):
    """A channel whose posts carry at most two files (as a Mastodon instance says its own)."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        max_length=5000, length_counting=LengthCounting.CHARACTERS, files=True, max_files=2
    )


def test_the_channels_own_file_limit_is_refused_before_anything_is_stored(
    session: Session,
) -> None:
    conversation, agent = _setup(session)
    with registry.override(FewFilesChat()):
        with pytest.raises(ValidationFailed, match="at most 2 files; this one has 3") as refused:
            outbound.queue_reply(
                session,
                conversation=conversation,
                author=agent,
                text="Hi",
                files=[_file(f"page-{i}.pdf") for i in range(3)],
            )
        assert refused.value.field == "files"
        session.rollback()
        assert session.scalars(select(MessageAttachment)).all() == []
        two = outbound.queue_reply(
            session, conversation=conversation, author=agent, text="Hi", files=[_file(), _file()]
        )
        stored = session.scalars(
            select(MessageAttachment).where(MessageAttachment.message_id == two.id)
        ).all()
        assert len(stored) == 2


@dataclass
class PicturesChat(RecordingChat):
    """A channel whose posts carry images only, each up to 1,000 bytes (as Bluesky's)."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        max_length=5000,
        length_counting=LengthCounting.CHARACTERS,
        files=True,
        file_types=("image/", "application/pdf"),
        max_file_bytes=1000,
    )


def test_the_channels_file_types_and_sizes_are_refused_before_anything_is_stored(
    session: Session,
) -> None:
    conversation, agent = _setup(session)
    with registry.override(PicturesChat()):
        for files, says in (
            (
                [_file("notes.txt", b"hello", "text/plain")],
                "notes.txt (text/plain) cannot go on Website, which takes images, application/pdf",
            ),
            ([_file("raw.bin", b"x", "")], "raw.bin (of no known type) cannot go"),
            ([_file("big.png", b"x" * 1001, "image/png")], "1,001 bytes; a file is at most 1,000"),
        ):
            with pytest.raises(ValidationFailed, match=re.escape(says)) as refused:
                outbound.queue_reply(
                    session, conversation=conversation, author=agent, text="Hi", files=files
                )
            assert refused.value.field == "files"
            session.rollback()
        assert session.scalars(select(MessageAttachment)).all() == []
        fine = [_file("map.png", MAP, "image/png"), _file()]
        sent = outbound.queue_reply(
            session, conversation=conversation, author=agent, text="Hi", files=fine
        )
        assert sent.id is not None


def test_a_file_over_the_size_limit_is_refused_by_name(
    session: Session, chat: RecordingChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation, agent = _setup(session)
    monkeypatch.setenv("SOCIALDESK_ATTACHMENT_MAX_BYTES", "10")
    get_settings.cache_clear()  # the fixtures clear it again after the test
    with pytest.raises(ValidationFailed, match=r"big\.pdf is 11 bytes; a file is at most 10") as e:
        outbound.queue_reply(
            session,
            conversation=conversation,
            author=agent,
            text="Hi",
            files=[_file("big.pdf", b"x" * 11)],
        )
    assert e.value.field == "files"
    with pytest.raises(ValidationFailed, match=r"empty\.pdf is empty"):
        outbound.queue_reply(
            session,
            conversation=conversation,
            author=agent,
            text="Hi",
            files=[_file("empty.pdf", b"")],
        )
    assert _outbound_files(session) == []


@pytest.mark.parametrize(
    ("kind", "files"),
    [
        ("email", True),
        ("web", True),
        ("x", False),
        ("mastodon", True),
        ("bluesky", True),
        ("facebook", False),
    ],
)
def test_which_channels_send_files(kind: str, files: bool) -> None:
    # The networks' media uploads are a later step (docs/attachments.md).
    assert registry.get(kind).capabilities.files is files
