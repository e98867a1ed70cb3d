"""The photos, videos and files that came with messages.

Connectors give them as :class:`~socialdesk.connectors.base.Attachment` (pure data from the
network's payload); this module decides what the desk keeps, and reads them back:

- a network's media is kept as its address, and only an ``https`` one: a page of the desk
  never loads anything from ``http:``, ``data:`` or ``javascript:``;
- a file the message carried itself (an email's attachment) is kept up to
  ``attachment_max_bytes``; a larger one is listed with its name and size only;
- names, types and alt texts are trimmed to their columns, and a type that is not a MIME type
  is dropped rather than trusted.

Attachments hang on their message by a foreign key, so erasing a customer or a retention pass
removes them with it (``contacts.privacy.delete_rows``). Lists never load the content, which
only :func:`download` reads.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from socialdesk.common.errors import NotFound
from socialdesk.common.files import INLINE_IMAGES
from socialdesk.config import get_settings
from socialdesk.connectors.attachments import https_url, kind_of_mime
from socialdesk.connectors.base import Attachment, AttachmentKind
from socialdesk.conversations.models import MessageAttachment

MAX_NAME = 255
MAX_DESCRIPTION = 1500
# type/subtype with the characters RFC 6838 allows, and nothing after it (no parameters).
_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_KINDS = frozenset(k.value for k in AttachmentKind)


@dataclass(frozen=True, slots=True)
class Shown:
    """One attachment as a page or the API shows it: never its content."""

    id: int
    message_id: int
    kind: str
    url: str | None
    preview_url: str | None
    name: str | None
    mime_type: str | None
    size: int | None
    description: str | None
    kept: bool  # the desk holds the file itself (download it from the desk)

    @property
    def inline_image(self) -> bool:
        """A kept image the desk may show in the page."""
        return self.kept and self.mime_type in INLINE_IMAGES

    @property
    def missing(self) -> str | None:
        """Why the desk can show nothing of it, or None when it can."""
        if self.kept or self.url or self.preview_url:
            return None
        limit = get_settings().attachment_max_bytes
        if self.size is not None and self.size > limit:
            return "not kept: larger than the desk keeps"
        return "not kept: the network gave no address for it"

    @property
    def label(self) -> str:
        """What a link to it says: its name, else its kind."""
        return self.name or {
            "image": "Photo",
            "video": "Video",
            "audio": "Audio",
        }.get(self.kind, "File")


@dataclass(frozen=True, slots=True)
class Download:
    name: str | None
    mime_type: str | None
    content: bytes


def _mime(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip().lower()
    return value if _MIME.match(value) else None


def _trimmed(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    value = " ".join(value.split())
    return value[:limit] or None


def rows(
    attachments: Sequence[Attachment],
    *,
    organization_id: int,
    message_id: int,
    max_bytes: int | None = None,
) -> list[dict[str, Any]]:
    """The rows to insert for one message's attachments, in the author's order."""
    limit = get_settings().attachment_max_bytes if max_bytes is None else max_bytes
    out: list[dict[str, Any]] = []
    for position, item in enumerate(attachments):
        content = item.content
        size = len(content) if content is not None else item.size
        if content is not None and (len(content) > limit or not content):
            content = None
        kind = AttachmentKind(item.kind).value if item.kind in _KINDS else AttachmentKind.FILE.value
        out.append(
            {
                "organization_id": organization_id,
                "message_id": message_id,
                "position": position,
                "kind": kind,
                "url": https_url(item.url),
                "preview_url": https_url(item.preview_url),
                "name": _trimmed(item.name, MAX_NAME),
                "mime_type": _mime(item.mime_type),
                "size": size if size is not None and size >= 0 else None,
                "description": _trimmed(item.description, MAX_DESCRIPTION),
                "content": content,
            }
        )
    return out


def posted(
    name: str, content: bytes, *, mime_type: str | None, description: str | None = None
) -> Attachment:
    """A file a person attached to a reply (the reply box, the API), as they sent it: its type
    as given, else guessed from its name. Its kind is decided when it is kept (``outgoing``)."""
    return Attachment(
        kind=AttachmentKind.FILE,
        name=name,
        mime_type=mime_type or mimetypes.guess_type(name)[0],
        size=len(content),
        content=content,
        description=description,
    )


def outgoing(item: Attachment) -> Attachment:
    """A file an agent attached to a reply, as the desk keeps it: its kind from its type, and
    no address (the desk holds the file itself)."""
    mime_type = _mime(item.mime_type)
    return Attachment(
        kind=kind_of_mime(mime_type),
        name=_trimmed(item.name, MAX_NAME),
        mime_type=mime_type,
        size=len(item.content) if item.content is not None else None,
        content=item.content,
        description=_trimmed(item.description, MAX_DESCRIPTION),
    )


def to_send(session: Session, *, message_id: int) -> tuple[Attachment, ...]:
    """The files kept with an outgoing message, with their content, in the author's order:
    what its delivery hands to the connector."""
    found = session.execute(
        select(
            MessageAttachment.name,
            MessageAttachment.mime_type,
            MessageAttachment.content,
            MessageAttachment.description,
        )
        .where(
            MessageAttachment.message_id == message_id,
            MessageAttachment.content.isnot(None),
        )
        .order_by(MessageAttachment.position)
    )
    return tuple(
        Attachment(
            kind=kind_of_mime(row.mime_type),
            name=row.name,
            mime_type=row.mime_type,
            size=len(row.content),
            content=bytes(row.content),
            description=row.description,
        )
        for row in found
    )


def keep(
    session: Session,
    *,
    organization_id: int,
    message_id: int,
    attachments: Sequence[Attachment],
) -> int:
    """Store one message's attachments; returns how many."""
    return keep_many(
        session,
        rows(attachments, organization_id=organization_id, message_id=message_id),
    )


def keep_many(session: Session, prepared: Sequence[dict[str, Any]]) -> int:
    """Store rows made by :func:`rows`, for any number of messages, in one statement."""
    if prepared:
        session.execute(insert(MessageAttachment), list(prepared))
    return len(prepared)


def of_messages(session: Session, message_ids: Iterable[int]) -> dict[int, list[Shown]]:
    """Each message's attachments, in order, in one query (without their content)."""
    ids = sorted(set(message_ids))
    found: dict[int, list[Shown]] = {}
    if not ids:
        return found
    kept = MessageAttachment.content.isnot(None).label("kept")
    query = (
        select(
            MessageAttachment.id,
            MessageAttachment.message_id,
            MessageAttachment.kind,
            MessageAttachment.url,
            MessageAttachment.preview_url,
            MessageAttachment.name,
            MessageAttachment.mime_type,
            MessageAttachment.size,
            MessageAttachment.description,
            kept,
        )
        .where(MessageAttachment.message_id.in_(ids))
        .order_by(MessageAttachment.message_id, MessageAttachment.position)
    )
    for row in session.execute(query):
        found.setdefault(row.message_id, []).append(
            Shown(
                id=row.id,
                message_id=row.message_id,
                kind=row.kind,
                url=row.url,
                preview_url=row.preview_url,
                name=row.name,
                mime_type=row.mime_type,
                size=row.size,
                description=row.description,
                kept=bool(row.kept),
            )
        )
    return found


def download(
    session: Session,
    *,
    organization_id: int,
    attachment_id: int,
    message_ids: Collection[int] | None = None,
) -> Download:
    """A kept file, for a member of its organization, or (``message_ids``) for someone who may
    read only those messages (a chat visitor). Anything else (another organization's, another
    message's, one kept only as an address, one that does not exist) is not found."""
    query = select(
        MessageAttachment.name, MessageAttachment.mime_type, MessageAttachment.content
    ).where(
        MessageAttachment.id == attachment_id,
        MessageAttachment.organization_id == organization_id,
        MessageAttachment.content.isnot(None),
    )
    if message_ids is not None:
        query = query.where(MessageAttachment.message_id.in_(sorted(set(message_ids))))
    row = session.execute(query).one_or_none()
    if row is None:
        raise NotFound(f"attachment {attachment_id} does not exist or is not kept in the desk")
    return Download(name=row.name, mime_type=row.mime_type, content=bytes(row.content))
