"""The connector interface.

A connector turns a provider's raw events into :class:`InboundMessage` records (pure parsing,
no I/O), optionally polls the provider for new events, and sends one outbound message. The desk
does everything else: it stores raw events idempotently, threads messages into conversations,
runs the code-of-conduct check and tracks delivery. Connectors never touch the database.

See docs/connectors.md for how to write one; ``connectors/_template`` is a folder to copy.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol, runtime_checkable

JSON = dict[str, Any]


class ChannelKind(enum.StrEnum):
    WEB = "web"
    X = "x"
    MASTODON = "mastodon"
    BLUESKY = "bluesky"
    FACEBOOK = "facebook"
    EMAIL = "email"


class LengthCounting(enum.StrEnum):
    """How a network measures the length of a post."""

    CHARACTERS = "characters"  # Unicode code points
    GRAPHEMES = "graphemes"  # user-perceived characters (Bluesky)
    X_WEIGHTED = "x_weighted"  # X's weighted length: URLs 23, CJK and emoji 2
    MASTODON = "mastodon"  # graphemes, URLs 23, remote mentions count only the username
    NONE = "none"  # no limit worth counting (email)


class Visibility(enum.StrEnum):
    PUBLIC = "public"
    DIRECT = "direct"  # private or direct message
    NOTE = "note"  # internal note: never sent anywhere


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a channel can do; the desk adapts its UI and checks to this."""

    max_length: int | None
    length_counting: LengthCounting
    threading: bool = True
    direct_messages: bool = False
    public_replies: bool = True
    edits: bool = False
    deletes: bool = False
    # Sends allowed per window, used to pace delivery (None: no known limit).
    rate_limit: int | None = None
    rate_window_seconds: int = 900
    # The provider accepts a client key that makes a retried send a no-op.
    idempotent_sends: bool = False
    # Replies may carry files (``OutboundRequest.attachments``); the desk refuses a file for a
    # channel that cannot send one before anything is stored.
    files: bool = False
    # The most files one post carries on this channel or account (a Mastodon instance's
    # ``max_media_attachments``); None: only the desk's own limit.
    max_files: int | None = None
    # The media types a post may carry, as exact types or prefixes ending in "/" ("image/");
    # empty: any. And the largest file, in bytes; None: only the desk's own limit.
    file_types: tuple[str, ...] = ()
    max_file_bytes: int | None = None


@dataclass(frozen=True, slots=True)
class Identity:
    """Who wrote something, as the channel knows them."""

    native_id: str
    handle: str | None = None
    display_name: str | None = None


class AttachmentKind(enum.StrEnum):
    IMAGE = "image"
    VIDEO = "video"  # a video or an animated GIF
    AUDIO = "audio"
    FILE = "file"  # anything else: a PDF, a spreadsheet


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file that came with a message: a photo in a post, a PDF in an email.

    A network that serves its media gives ``url`` (and ``preview_url``, a small image of it);
    a message that carries its files (an email) gives ``content``, the file itself. The desk
    keeps ``content`` up to its size limit and only ``https`` addresses."""

    kind: AttachmentKind
    url: str | None = None
    preview_url: str | None = None
    name: str | None = None  # the file's name, where it has one
    mime_type: str | None = None
    size: int | None = None  # in bytes, where known
    description: str | None = None  # the text its author wrote for people who cannot see it
    content: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One event as the provider delivered it, before parsing."""

    native_id: str  # provider's id for the event; the idempotency key with the brand account
    kind: str  # the connector's name for the event type, one of its declared events
    payload: JSON
    received_at: datetime


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message normalised from a raw event."""

    native_id: str
    author: Identity
    text: str
    created_at: datetime
    visibility: Visibility = Visibility.PUBLIC
    reply_to_native_id: str | None = None
    # Groups messages that belong together without reply ids (a DM channel, an email thread,
    # a web chat session). None for public posts, which thread by reply ids alone.
    thread_key: str | None = None
    # True when the brand account itself wrote it (seen in a timeline or an import).
    from_brand: bool = False
    # True when the post it answers is the brand account's own (an announcement, a poll):
    # people answering one post to everyone are strangers, each with their own conversation.
    reply_to_brand: bool = False
    subject: str | None = None
    raw: JSON = field(default_factory=dict)
    # Photos, videos and files that came with it, in the order the author put them.
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class AccountContext:
    """What a connector may know about the brand account it acts for. Credentials are decrypted
    only for the duration of one call and never logged."""

    brand_account_id: int
    handle: str
    settings: Mapping[str, Any]
    credentials: Mapping[str, str]

    def __repr__(self) -> str:  # credentials must never reach logs or tracebacks
        return f"AccountContext(brand_account_id={self.brand_account_id}, handle={self.handle!r})"


@dataclass(frozen=True, slots=True)
class OutboundRequest:
    """One message to deliver."""

    idempotency_key: str  # stable per outbound message: a retry sends the same key
    text: str
    visibility: Visibility
    recipient: Identity | None  # the contact's identity on this channel
    reply_to_native_id: str | None = None
    thread_key: str | None = None
    subject: str | None = None
    # The files the author attached, with their ``content``, in the author's order. Only sent
    # to a connector whose capabilities say ``files``.
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True)
class SendResult:
    native_id: str
    sent_at: datetime
    raw: JSON = field(default_factory=dict)
    # New credentials to store (a refreshed OAuth token or session): the desk merges them into
    # the account's encrypted credentials in the same transaction that records the send.
    credentials_update: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class PollResult:
    events: list[RawEvent]
    # Saved by the desk only after every event above is stored, so a crash loses nothing.
    cursor: str | None
    credentials_update: Mapping[str, str] | None = None
    # Problems worth showing on the account's health view that did not stop the poll
    # (e.g. "your access tier does not include direct messages").
    warnings: list[str] = field(default_factory=list)


class ConnectorError(Exception):
    """Base of connector failures. ``reason`` is shown to people; keep it specific."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SendError(ConnectorError):
    """A send failed. ``retryable`` says whether trying again later can succeed."""

    def __init__(
        self, reason: str, *, retryable: bool, retry_after_seconds: float | None = None
    ) -> None:
        super().__init__(reason)
        self.retryable = retryable
        self.retry_after_seconds = retry_after_seconds


class AuthError(ConnectorError):
    """Credentials are missing, expired or revoked: the brand account becomes unhealthy."""


class UnsupportedEvent(ConnectorError):
    """An event type the connector did not declare. Recorded and ignored, never a crash."""


class MalformedEvent(ConnectorError):
    """A declared event type whose payload lacks what parsing needs. Recorded as failed with
    this reason; the raw event stays stored for a later fix and replay."""


@runtime_checkable
class Connector(Protocol):
    """Every connector provides parse and send, and declares what it understands."""

    kind: ClassVar[ChannelKind]
    capabilities: ClassVar[Capabilities]
    # Event kinds parse() turns into messages, and kinds it knowingly ignores (returns []).
    supported_events: ClassVar[frozenset[str]]
    ignored_events: ClassVar[frozenset[str]]

    def parse(self, event: RawEvent) -> list[InboundMessage]:
        """Normalise one raw event. Raises :class:`UnsupportedEvent` for undeclared kinds."""
        ...

    def send(self, account: AccountContext, request: OutboundRequest) -> SendResult:
        """Deliver one message. Raises :class:`SendError` or :class:`AuthError`."""
        ...


@runtime_checkable
class Poller(Protocol):
    """Optional: connectors whose provider is polled rather than pushing webhooks."""

    def poll(self, account: AccountContext, cursor: str | None) -> PollResult: ...


@runtime_checkable
class AccountCapabilities(Protocol):
    """Optional: connectors whose limits differ per account (a Mastodon instance's own
    character limit). The desk asks this before checking a draft."""

    def capabilities_for(self, account: AccountContext) -> Capabilities: ...


@runtime_checkable
class SendReadiness(Protocol):
    """Optional: connectors that send with an account's own credentials and settings. Says,
    with no network call, why a send would be refused now (no token yet, a setting that is not
    an address), or None. The reply box says so before anyone writes."""

    def not_ready(self, account: AccountContext) -> str | None: ...


@runtime_checkable
class CredentialCheck(Protocol):
    """Optional: connectors whose account signs in to its network. Makes one cheap
    authenticated call that sends and reads nothing, and returns the account as the network
    knows it. Raises :class:`AuthError` when the credentials are refused and another
    :class:`ConnectorError` when the network cannot be reached. An admin's "Check now" and
    the connect pages ask this."""

    def verify_credentials(self, account: AccountContext) -> Identity: ...


@runtime_checkable
class Withdrawer(Protocol):
    """Optional: connectors that can take a sent public post back off the network (a reply
    with a wrong amount, sent to the wrong customer). Declare ``capabilities.deletes`` with it.
    ``native_id`` is the id ``send`` returned. A post that is already gone (deleted on the
    network, or never found) counts as withdrawn: return normally. Raises :class:`SendError`
    (with ``retryable``) or :class:`AuthError`, as ``send`` does."""

    def withdraw(self, account: AccountContext, native_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class PollLimits:
    """What a network allows in a poll: how many choices, how long each may be, and the
    shortest and longest time it may stay open."""

    max_options: int
    max_option_length: int
    min_seconds: int
    max_seconds: int
    # The longest question, counted as the channel counts a post (None: the channel's limit).
    max_question_length: int | None = None
    # The unit of the time it stays open (X counts whole minutes).
    seconds_step: int = 1
    # Whether a voter may choose several answers.
    multiple: bool = True


@dataclass(frozen=True, slots=True)
class PollRequest:
    """A public poll to post from a brand account: a question and its choices."""

    idempotency_key: str  # stable per poll: a retry sends the same key
    question: str
    options: tuple[str, ...]
    seconds: int  # how long it stays open
    multiple: bool = False  # voters may choose several


@dataclass(frozen=True, slots=True)
class PollTally:
    """A poll as the network shows it now."""

    post_id: str  # the post that carries the poll; replies to it thread under this id
    poll_id: str  # the network's own id of the poll, for reading its counts
    closes_at: datetime | None
    closed: bool
    votes: tuple[int | None, ...]  # per choice, in the request's order; None: hidden
    votes_count: int | None
    voters_count: int | None  # people who voted (a multiple-choice vote counts once)
    url: str | None = None
    raw: JSON = field(default_factory=dict)


@runtime_checkable
class PollPublisher(Protocol):
    """Optional: connectors that post a public poll and read its counts back."""

    def poll_limits(self, account: AccountContext) -> PollLimits:
        """This account's limits (a Mastodon instance sets its own)."""
        ...

    def publish_poll(self, account: AccountContext, request: PollRequest) -> PollTally:
        """Post the poll. Raises :class:`SendError` or :class:`AuthError`, as ``send`` does."""
        ...

    def read_poll(self, account: AccountContext, poll_id: str) -> PollTally:
        """The poll's counts now. Raises :class:`ConnectorError` when they cannot be read."""
        ...


@dataclass(frozen=True, slots=True)
class Patience:
    """How long a caller can wait for one call to a network: how many attempts, the longest
    pause slept before a retry, and the timeout in seconds of connecting and of each read
    or write."""

    max_attempts: int
    max_wait: float
    timeout: float


# A person is waiting for the answer (an admin's "Check now"): one retry at most, no long
# pauses, and a network that does not answer is given up on within seconds. A job keeps its
# connector's patient defaults, and the queue retries it later.
WAITING_PERSON = Patience(max_attempts=2, max_wait=2.0, timeout=8.0)

_patience: ContextVar[Patience | None] = ContextVar("socialdesk_patience", default=None)


@contextmanager
def waiting_person(patience: Patience = WAITING_PERSON) -> Iterator[None]:
    """Calls to networks made in this block (in this thread or task) use ``patience`` where it
    is shorter than their connector's own. Connectors are shared by every caller, so the
    caller, not the connector, knows whether somebody waits."""
    token = _patience.set(patience)
    try:
        yield
    finally:
        _patience.reset(token)


def current_patience() -> Patience | None:
    """The patience of the enclosing ``waiting_person`` block, or None (a job's defaults)."""
    return _patience.get()


def config_problem(read: Callable[[AccountContext], object], account: AccountContext) -> str | None:
    """Why ``read`` (a connector's reader of its account settings and credentials) refuses
    ``account``, or None: for :class:`SendReadiness`."""
    try:
        read(account)
    except AuthError as exc:
        return exc.reason
    return None


@runtime_checkable
class WebhookVerifier(Protocol):
    """Optional: connectors that receive signed webhooks."""

    def verify_signature(self, *, headers: Mapping[str, str], body: bytes, secret: str) -> bool: ...
