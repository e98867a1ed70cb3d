"""A Bluesky reply's files as the desk checks them before storing anything: the connector's
``max_files`` (a post carries at most 4 images) is asked with the desk's own limits."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member
from socialdesk.common.errors import ValidationFailed
from socialdesk.connectors.base import Attachment, AttachmentKind
from socialdesk.conversations.models import Conversation, Message, MessageAttachment
from socialdesk.outbound import service as outbound
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

PNG = b"\x89PNG\r\n\x1a\n a photo"


def _photos(count: int) -> list[Attachment]:
    return [
        Attachment(
            kind=AttachmentKind.IMAGE, name=f"photo-{i}.png", mime_type="image/png", content=PNG
        )
        for i in range(count)
    ]


def _conversation(session: Session) -> tuple[Conversation, Member]:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="bluesky")
    conversation = ingest(
        session, account, inbound(native_id="at://c/1", author="did:plc:c", text="Which light?")
    ).conversation
    agent = accounts.member(session, org)
    session.commit()
    return conversation, agent


def test_a_fifth_image_is_refused_before_anything_is_stored(session: Session) -> None:
    conversation, agent = _conversation(session)
    with pytest.raises(ValidationFailed, match="carries at most 4 files; this one has 5") as e:
        outbound.queue_reply(
            session, conversation=conversation, author=agent, text="These", files=_photos(5)
        )
    assert e.value.field == "files"
    session.rollback()
    assert session.scalars(select(Message).where(Message.direction == "outbound")).all() == []
    assert session.scalars(select(MessageAttachment)).all() == []


def test_four_images_are_stored_with_the_reply(session: Session) -> None:
    conversation, agent = _conversation(session)
    reply = outbound.queue_reply(
        session, conversation=conversation, author=agent, text="These", files=_photos(4)
    )
    session.commit()
    stored = session.scalars(
        select(MessageAttachment).where(MessageAttachment.message_id == reply.id)
    ).all()
    assert [f.name for f in stored] == [f"photo-{i}.png" for i in range(4)]
