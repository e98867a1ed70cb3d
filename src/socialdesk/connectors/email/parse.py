"""Raw RFC 822 mail to inbound messages, with the standard library's ``email`` package.

Payload of an email event (what the poller stores, what :func:`event_payload` builds)::

    {"raw_base64": "<the message bytes, base64>",      # or "raw": "<the message as text>"
     "uid": 42, "uidvalidity": 1700000000, "mailbox": "INBOX",   # where IMAP had it (optional)
     "_socialdesk": {"brand_address": "help@shop.example"}}      # added by the poller (optional)

Mail whose sender is the brand address (a copy of the brand's own reply, an agent writing from
their mail client with the brand address) is marked ``from_brand``.

Event kinds: ``message`` (mail from a person: becomes a message), and ``auto_reply``, ``bounce``
and ``bulk`` (machine-sent mail: recorded, never shown as something to answer). The poller files
each mail under the kind :func:`classify` gives; ``parse`` checks again, so automated mail filed
as ``message`` by another path is still never offered for an answer.

Threads: ``reply_to_native_id`` is the first id of ``In-Reply-To``; ``thread_key`` is the first
id of ``References`` (the thread's root), else the ``In-Reply-To`` id, else the message's own id.
Ids are kept without angle brackets.

Attachments: every MIME part that is a file (``Content-Disposition: attachment``, a part with a
file name, or a part that is neither text nor a container, such as the images of a
``multipart/related`` HTML mail) becomes an attachment carrying its decoded bytes, in the order
of the message. The part read as the message's text is never one of them.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.header
import email.utils
import hashlib
import logging
import mimetypes
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from typing import Any

from socialdesk.connectors.attachments import kind_of_mime
from socialdesk.connectors.base import (
    JSON,
    Attachment,
    ConnectorError,
    Identity,
    InboundMessage,
    RawEvent,
    UnsupportedEvent,
    Visibility,
)
from socialdesk.connectors.email.text import html_to_text, strip_quotes

log = logging.getLogger(__name__)

ANNOTATION = "_socialdesk"
MESSAGE = "message"
AUTO_REPLY = "auto_reply"
BOUNCE = "bounce"
BULK = "bulk"
SUPPORTED_EVENTS = frozenset({MESSAGE})
IGNORED_EVENTS = frozenset({AUTO_REPLY, BOUNCE, BULK})

# The magic number of an OLE2 compound file, which is what Outlook's .msg files are.
_OLE2_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")
_MSG_ID = re.compile(r"<([^<>\s]+)>")


class MalformedEventError(ConnectorError):
    """An email event whose payload holds no raw message."""


class NotAnEmailError(ConnectorError):
    """The payload is not an RFC 822 message (for example an Outlook .msg file)."""


@dataclass(frozen=True, slots=True)
class Classification:
    kind: str
    reason: str | None = None


def event_payload(raw: bytes, **where: Any) -> JSON:
    """The payload stored for one raw message (``where``: uid, uidvalidity, mailbox)."""
    return {"raw_base64": base64.b64encode(raw).decode("ascii"), **where}


def raw_bytes(payload: Mapping[str, Any]) -> bytes:
    if isinstance(payload.get("raw_base64"), str):
        try:
            return base64.b64decode(payload["raw_base64"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedEventError(f"email payload raw_base64 is not base64: {exc}") from exc
    if isinstance(payload.get("raw"), str):
        # Text that stood for bytes: surrogateescape gives back any undecodable bytes exactly.
        return str(payload["raw"]).encode("utf-8", "surrogateescape")
    raise MalformedEventError("email payload has neither raw_base64 nor raw")


def read_message(raw: bytes) -> EmailMessage:
    """Parse bytes as a mail. Parsing never raises on broken mail (problems are recorded as
    defects); bytes that are plainly something else raise :class:`NotAnEmailError`."""
    if raw.startswith(_OLE2_MAGIC):
        raise NotAnEmailError(
            "this is an Outlook .msg file (OLE2 compound document), not an RFC 822 message; "
            "save the mail as .eml to import it"
        )
    message = email.message_from_bytes(raw, policy=policy.default)
    if not isinstance(message, EmailMessage) or not list(message.raw_items()):
        raise NotAnEmailError("the payload has no mail headers: it is not an RFC 822 message")
    return message


def header(message: Message, name: str) -> str | None:
    """A header's decoded value, or its raw text when it is too broken to decode."""
    try:
        value = message.get(name)
    except Exception:  # header parsing in the stdlib can fail many ways on bad mail
        value = None
        for key, raw in message.raw_items():
            if key.lower() == name.lower():
                value = raw
                break
    if value is None:
        return None
    text = str(value)
    if "\ufffd" in text:
        text = _redecode(message, name) or text
    text = re.sub(r"\s+", " ", text).strip()
    return text or None


def _redecode(message: Message, name: str) -> str | None:
    """Decode a header's encoded words again with the superset charsets, for headers labelled
    gb2312 (and the like) that hold characters only the superset has."""
    for key, raw in message.raw_items():
        if key.lower() != name.lower():
            continue
        try:
            pieces = email.header.decode_header(str(raw))
        except (ValueError, LookupError):
            return None
        out = []
        for chunk, charset in pieces:
            if isinstance(chunk, str):
                out.append(chunk)
                continue
            label = (charset or "us-ascii").lower()
            codec = _SUPERSETS.get(label, label)
            out.append(chunk.decode(codec if _codec_exists(codec) else "utf-8", errors="replace"))
        return "".join(out)
    return None


def message_ids(value: str | None) -> list[str]:
    """The ids in a Message-ID, In-Reply-To or References header, without angle brackets."""
    if not value:
        return []
    found = _MSG_ID.findall(value)
    if found:
        return list(dict.fromkeys(found))
    # Some clients leave the brackets out; a lone token is still an id.
    bare = value.strip()
    return [bare] if bare and " " not in bare and "@" in bare else []


def native_message_id(message: Message, raw: bytes) -> str:
    """The Message-ID, or for mail without one an id derived from its bytes (stable, so the
    same mail fetched twice is still one event)."""
    ids = message_ids(header(message, "Message-ID"))
    return ids[0] if ids else _digest_id(raw)


def event_native_id(raw: bytes) -> str:
    """The id a raw mail is stored under: its Message-ID, else a digest of its bytes."""
    try:
        return native_message_id(read_message(raw), raw)
    except NotAnEmailError:
        return _digest_id(raw)


def _digest_id(raw: bytes) -> str:
    return f"{hashlib.sha256(raw).hexdigest()[:32]}@no-message-id.socialdesk.invalid"


def _report(message: Message) -> Classification | None:
    if message.get_content_type() != "multipart/report":
        return None
    report = str(message.get_param("report-type") or "").lower()
    if report == "disposition-notification":
        return Classification(AUTO_REPLY, "a read receipt (multipart/report)")
    return Classification(BOUNCE, f"a delivery report (multipart/report; {report or '?'})")


def _daemon_sender(message: Message) -> Classification | None:
    sender = (header(message, "From") or "").lower()
    local_part = email.utils.parseaddr(sender)[1].split("@")[0]
    if local_part in {"mailer-daemon", "postmaster"}:
        return Classification(BOUNCE, f"sent by {local_part}")
    return None


def _auto_submitted(message: Message) -> Classification | None:
    auto = (header(message, "Auto-Submitted") or "no").lower()
    if auto == "no":
        return None
    kind = AUTO_REPLY if auto.startswith("auto-replied") else BULK
    return Classification(kind, f"Auto-Submitted: {auto}")


def _autoreply_headers(message: Message) -> Classification | None:
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response"):
        value = header(message, name)
        if value is not None and value.lower() not in {"no", "false", "0"}:
            return Classification(AUTO_REPLY, f"{name}: {value}")
    return None


def _precedence(message: Message) -> Classification | None:
    precedence = (header(message, "Precedence") or "").lower()
    if precedence == "auto_reply":
        return Classification(AUTO_REPLY, "Precedence: auto_reply")
    if precedence in {"bulk", "junk"}:
        return Classification(BULK, f"Precedence: {precedence}")
    return None


def _null_return_path(message: Message) -> Classification | None:
    if (header(message, "Return-Path") or "").replace(" ", "") == "<>":
        return Classification(AUTO_REPLY, "sent with an empty return path (<>)")
    return None


_RULES: tuple[Callable[[Message], Classification | None], ...] = (
    _report,
    _daemon_sender,
    _auto_submitted,
    _autoreply_headers,
    _precedence,
    _null_return_path,
)


def classify(message: Message) -> Classification:
    """Is this mail from a person, or an auto-reply, a bounce or bulk mail (never answered)?

    Signals, after RFC 3834 (automatic responses) and RFC 3464 (delivery status reports), in
    order of certainty. ``Precedence: list`` alone is not enough: a support address run as a
    mailing list (a Google Group, for instance) stamps it on every customer's mail.
    """
    for rule in _RULES:
        found = rule(message)
        if found is not None:
            return found
    return Classification(MESSAGE)


def event_kind(raw: bytes) -> str:
    """The event kind the poller files a raw mail under."""
    try:
        return classify(read_message(raw)).kind
    except NotAnEmailError:
        return MESSAGE  # parse() then records why it is not a mail


def parse_event(event: RawEvent) -> list[InboundMessage]:
    if event.kind in IGNORED_EVENTS:
        return []
    handler = HANDLERS.get(event.kind)
    if handler is None:
        raise UnsupportedEvent(
            f"email event kind {event.kind!r} is not handled; supported: "
            f"{sorted(SUPPORTED_EVENTS)}, ignored: {sorted(IGNORED_EVENTS)}"
        )
    return handler(event)


def parse_mail(event: RawEvent) -> list[InboundMessage]:
    raw = raw_bytes(event.payload)
    message = read_message(raw)
    found = classify(message)
    if found.kind != MESSAGE:
        log.info(
            "email %s is %s (%s): not offered for an answer",
            event.native_id,
            found.kind,
            found.reason,
        )
        return []
    return [to_inbound(message, raw, received_at=event.received_at, where=event.payload)]


HANDLERS: dict[str, Callable[[RawEvent], list[InboundMessage]]] = {MESSAGE: parse_mail}


def to_inbound(
    message: EmailMessage,
    raw: bytes,
    *,
    received_at: datetime,
    where: Mapping[str, Any] | None = None,
) -> InboundMessage:
    native_id = native_message_id(message, raw)
    in_reply_to = message_ids(header(message, "In-Reply-To"))
    references = message_ids(header(message, "References"))
    content = mime_content(message)
    body = _body_part(content)
    full_text = body_text(content, body)
    parts = attachment_parts(content)
    raw_record: JSON = {
        "message_id": native_id,
        "from": header(message, "From"),
        "to": addresses(message, "To"),
        "cc": addresses(message, "Cc"),
        "reply_to": addresses(message, "Reply-To"),
        "subject": header(message, "Subject"),
        "date": header(message, "Date"),
        "in_reply_to": in_reply_to,
        "references": references,
        "content_type": message.get_content_type(),
        "attachments": attachments(parts),
        "full_text": full_text,
        "size": len(raw),
        "defects": sorted({type(d).__name__ for part in message.walk() for d in part.defects}),
    }
    if content is not message:
        raw_record["recovered_boundary"] = content.get_boundary()
    for key in ("uid", "uidvalidity", "mailbox"):
        if where is not None and key in where:
            raw_record[key] = where[key]
    author = sender_identity(message)
    annotation = (where or {}).get(ANNOTATION)
    brand = annotation.get("brand_address") if isinstance(annotation, dict) else None
    return InboundMessage(
        native_id=native_id,
        author=author,
        from_brand=isinstance(brand, str) and brand.lower() == author.native_id,
        text=strip_quotes(full_text),
        created_at=sent_at(message) or received_at,
        visibility=Visibility.DIRECT,
        reply_to_native_id=in_reply_to[0] if in_reply_to else None,
        thread_key=(references or in_reply_to or [native_id])[0],
        subject=header(message, "Subject"),
        raw=raw_record,
        attachments=attachment_files(content, body=body, parts=parts),
    )


def sender_identity(message: Message) -> Identity:
    name, address = _first_address(message, "From")
    if not address:
        name, address = _first_address(message, "Sender")
    if not address:
        raise NotAnEmailError("the mail has no sender address (From) to answer")
    return Identity(native_id=address.lower(), handle=address, display_name=name or None)


def addresses(message: Message, name: str) -> list[str]:
    try:
        found = message.get(name)
        parsed = [a.addr_spec for a in getattr(found, "addresses", ()) if a.addr_spec]
    except Exception:  # see header(): broken address lists must not stop parsing
        parsed = []
    if parsed:
        return parsed
    raw = header(message, name)
    return [a for _, a in email.utils.getaddresses([raw])] if raw else []


def _first_address(message: Message, name: str) -> tuple[str, str]:
    try:
        found = message.get(name)
        for address in getattr(found, "addresses", ()):
            if address.addr_spec and "@" in address.addr_spec:
                return str(address.display_name or ""), str(address.addr_spec)
    except Exception:  # noqa: S110 - fall back to the lenient parser below
        pass
    raw = header(message, name)
    if raw:
        display, address = email.utils.parseaddr(raw)
        if "@" in address:
            return display, address
    return "", ""


def sent_at(message: Message) -> datetime | None:
    value = header(message, "Date")
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        # RFC 5322 "-0000": the time is UTC with no statement about the local zone.
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


_BOUNDARY_LINE = re.compile(r"^--([^\s]{1,200})[ \t]*$", re.MULTILINE)


def mime_content(message: EmailMessage) -> EmailMessage:
    """The message's MIME tree, recovered when the declared boundary never occurs.

    Spam and broken mailers declare one multipart boundary and use another; the parser then
    sees the whole body as one opaque text. The first "--token" line of that text is the
    boundary actually used, and parsing the body again with it finds the parts.
    """
    payload = message.get_payload()
    if message.get_content_maintype() != "multipart" or not isinstance(payload, str):
        return message
    found = _BOUNDARY_LINE.search(payload)
    if found is None:
        return message
    boundary = found.group(1)
    head = f'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="{boundary}"\n\n'
    rebuilt = email.message_from_string(head + payload, policy=policy.default)
    if not isinstance(rebuilt, EmailMessage) or not rebuilt.is_multipart():
        return message
    return rebuilt


def _body_part(message: EmailMessage) -> Message | None:
    """The part read as the mail's text: its text/plain body, else its HTML body, else the
    first readable text part (malformed multiparts can hide the body from ``get_body``)."""
    part: Message | None
    try:
        part = message.get_body(preferencelist=("plain", "html"))
    except Exception:  # get_body walks a broken MIME tree
        part = None
    if part is None:
        candidates = [
            p
            for p in message.walk()
            if p.get_content_maintype() == "text" and not _is_attachment(p)
        ]
        plain = [p for p in candidates if p.get_content_subtype() == "plain"]
        chosen = plain or candidates
        part = chosen[0] if chosen else None
    return part


def body_text(message: EmailMessage, part: Message | None = None) -> str:
    """The mail's text: its text/plain body, else its HTML body as text, else the first
    readable text part (malformed multiparts can hide the body from ``get_body``). ``part`` is
    ``_body_part(message)`` when the caller has it already."""
    if part is None:
        part = _body_part(message)
    if part is None:
        return ""
    text = part_text(part)
    if part.get_content_subtype() == "html":
        text = html_to_text(text)
    elif not text.strip():
        # An empty text/plain beside an HTML body: the HTML is the message.
        html = _html_part(message)
        if html is not None:
            text = html_to_text(part_text(html))
    return text.replace("\r\n", "\n").strip()


def _html_part(message: EmailMessage) -> Message | None:
    for part in message.walk():
        if part.get_content_type() == "text/html" and not _is_attachment(part):
            return part
    return None


# Labels that mail software uses for what is really a larger encoding (the WHATWG Encoding
# Standard maps them the same way): decoding with the superset reads both.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "iso-8859-1": "cp1252",
    "latin1": "cp1252",
    "iso-8859-9": "cp1254",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "shift_jis": "cp932",
    "big5": "big5hkscs",
    "tis-620": "cp874",
}


def part_text(part: Message) -> str:
    """A text part decoded with its declared charset (or the superset it really means), else
    UTF-8; when neither decodes cleanly, the declared charset with the bad bytes replaced (so a
    few broken bytes do not turn a whole Cyrillic mail into Latin-1 noise), or Windows-1252 for
    mail that claims to be ASCII."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    declared = (part.get_content_charset() or "us-ascii").lower()
    known = [c for c in (_SUPERSETS.get(declared), declared) if c and _codec_exists(c)]
    for charset in [*known, "utf-8"]:
        try:
            return payload.decode(charset)
        except UnicodeDecodeError:
            continue
    # 8-bit text labelled ASCII (or not labelled) is most often Windows Latin-1.
    ascii_label = declared in {"us-ascii", "ascii", "646"}
    fallback = known[0] if known and not ascii_label else "cp1252"
    return payload.decode(fallback, errors="replace")


def _codec_exists(name: str) -> bool:
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True


def attachment_parts(message: Message) -> list[tuple[Message, bytes | None]]:
    """Every attached file and inline image, in the order of the message, with its decoded
    content (None when the part has none): walked and decoded once for the raw record and the
    files both."""
    found: list[tuple[Message, bytes | None]] = []
    for part in message.walk():
        if part.is_multipart() or not _is_attachment(part):
            continue
        payload = part.get_payload(decode=True)
        found.append((part, payload if isinstance(payload, bytes) else None))
    return found


def attachments(parts: list[tuple[Message, bytes | None]]) -> list[JSON]:
    """Name, type and size of every attached file (including inline images), for the raw
    record."""
    return [
        {
            "filename": _filename(part),
            "content_type": part.get_content_type(),
            "size": len(content) if content is not None else 0,
            "inline": (part.get_content_disposition() or "") == "inline",
            "content_id": next(iter(message_ids(header(part, "Content-ID"))), None),
        }
        for part, content in parts
    ]


# Only the types Python itself knows (no system mime.types), so a guess is the same everywhere.
_KNOWN_TYPES = mimetypes.MimeTypes(filenames=())
_UNSPECIFIC_TYPES = frozenset({"application/octet-stream", "application/x-download"})


def attachment_files(
    message: Message,
    *,
    body: Message | None = None,
    parts: list[tuple[Message, bytes | None]] | None = None,
) -> tuple[Attachment, ...]:
    """Every attached file and inline image, in the order of the message, with its decoded
    bytes. ``body`` is the part read as the text, never an attachment itself; a part with
    nothing to decode is skipped. ``parts`` is ``attachment_parts(message)`` when the caller
    has it already."""
    out = []
    for part, content in attachment_parts(message) if parts is None else parts:
        if part is body or content is None:
            continue
        name = _filename(part)
        mime_type = _attachment_type(part, name)
        out.append(
            Attachment(
                kind=kind_of_mime(mime_type),
                name=name,
                mime_type=mime_type,
                size=len(content),
                content=content,
            )
        )
    return tuple(out)


def _attachment_type(part: Message, name: str | None) -> str:
    """The declared type; for a generic one (``application/octet-stream``, which some mail
    programs send for every file) the type its file name says, when it says one."""
    declared = part.get_content_type()
    if declared in _UNSPECIFIC_TYPES and name:
        guessed, _ = _KNOWN_TYPES.guess_type(name, strict=False)
        if guessed:
            return guessed
    return declared


def _is_attachment(part: Message) -> bool:
    if part.is_multipart():
        return False
    if part.get_content_disposition() == "attachment" or _filename(part):
        return True
    # Parts that are not text and not a nested message (images, archives) are files too.
    return part.get_content_maintype() not in {"text", "message", "multipart"}


def _filename(part: Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:  # RFC 2231 parameters in broken mail
        name = None
    return re.sub(r"\s+", " ", name).strip() if name else None
