"""Small pure helpers the parsers share to turn a provider's media entries into
:class:`~socialdesk.connectors.base.Attachment` records.

A provider's media entry is untrusted input: every helper here answers None for a value it
cannot use instead of raising, so one malformed entry is skipped and the message still parses.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from socialdesk.connectors.base import AttachmentKind

# The longest address kept (the desk's column); a longer one is not a media address.
MAX_URL = 2000


def https_url(value: object) -> str | None:
    """``value`` when it is an absolute ``https://`` address with a host, else None.

    The desk shows and links these addresses; ``http:``, ``data:``, relative and other
    schemes, and addresses with spaces or control characters, are dropped rather than passed
    on. The desk checks again what it stores (``conversations.attachments``)."""
    if not isinstance(value, str):
        return None
    url = value.strip()
    if len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() != "https" or not parts.hostname:
        return None
    return url


def alt_text(value: object) -> str | None:
    """Alt text, trimmed; None when there is none."""
    if not isinstance(value, str):
        return None
    return value.strip() or None


def kind_of_mime(mime_type: str | None) -> AttachmentKind:
    """The attachment kind a MIME type stands for (``image/png`` -> image)."""
    major = (mime_type or "").split("/", 1)[0].strip().lower()
    return {
        "image": AttachmentKind.IMAGE,
        "video": AttachmentKind.VIDEO,
        "audio": AttachmentKind.AUDIO,
    }.get(major, AttachmentKind.FILE)
