"""The batch ingest path: thousands of messages at a time, threaded exactly like
:func:`socialdesk.conversations.flows.ingest_message`.

Same semantics as the one-message flow:

- idempotent on (brand account, native id): a message already stored is skipped, and a message
  that appears twice in one batch is stored once (the first copy wins, as a replay would);
- a thread is a connected component of the reply graph, per brand account: a message joins its
  parent, its children and its siblings (replies to the same parent, even when that parent was
  never seen) and every message with the same thread key; components merge with conversations
  already in the database, and conversations that turn out to be one thread are merged into the
  oldest one (through ``conversations.service.merge``, so merging is defined in one place);
- contacts are found or created by identity (organization, channel, native user id);
- messages written by the brand become outbound replies with delivery state ``sent``;
- the conversation aggregates (message_count, first_inbound_at, first_response_at,
  last_customer_message_at, last_activity_at, last_preview and whether it is the brand's) come
  out as ``conversations.service.refresh_aggregates`` computes them.

What differs, on purpose, because a batch is history being loaded rather than a live message:

- no conversation is reopened, woken or split after the quiet period. A conversation created by
  this ingest run is ``resolved`` (``resolved_at`` = that message's time) when its latest message
  was written by the brand, ``open`` otherwise; the rule is applied again whenever a later batch
  of the run adds to it, so the outcome does not depend on where batch boundaries fall.
  Conversations that existed before the run keep their status (a merge follows
  ``service.merge``: an open one stays open);
- a new conversation's subject is the first line of its earliest message, not of whichever
  message happened to arrive first;
- instead of one ``conversation.created`` and one ``message.created`` event per row, each batch
  emits ONE summary event, ``messages.imported`` (:class:`MessagesImported`), with the counts.
  Listeners that react to live messages (triage, SLA timers) are therefore not triggered by
  history, which is what an import wants; live views refresh their lists on it.

Speed comes from doing per batch what the flow does per message: one lookup query per batch
for stored relatives (same id, parent, children, siblings, thread key), one per channel for
known identities, an in-memory union-find over the batch, and one bulk insert per table. No ORM
object is made per message, and an importer that reads millions of rows hands over
:class:`BulkMessage` records (plain slotted objects) rather than frozen ``InboundMessage``
values. Each IN list is bound as ONE parameter (a JSON array read by ``json_each`` on SQLite, an
array with ``= ANY`` on PostgreSQL): compiling thousands of separate bound parameters cost more
than the queries themselves.

On SQLite, rows are built in the form the columns store (the text a ``UTCDateTime`` writes, JSON
text) and go in through the driver's ``executemany``. The FTS5 index of message text is normally
kept by a trigger, row by row; FTS5 is far faster fed many rows by one statement, so a batch
pauses that trigger inside its own transaction (a row in ``messages_fts_paused``, which no other
connection can see), inserts its messages, indexes them with one ``INSERT ... SELECT`` over
their (contiguous, reserved) ids and lifts the pause again before anything else runs. Measured
on the twcs corpus: the trigger row by row costs about 60 us per message, the trigger under one
big statement 15 us, the batch fill 4 us. PostgreSQL takes Core ``executemany`` (batched by
SQLAlchemy's insertmanyvalues) and needs none of this: its text index is an expression index.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    Select,
    String,
    Subquery,
    Table,
    and_,
    bindparam,
    func,
    insert,
    literal_column,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute, Session

from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.connectors.base import Attachment, InboundMessage, Visibility
from socialdesk.contacts.models import Contact, ContactIdentity
from socialdesk.conversations import attachments, erased
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import (
    Conversation,
    DeliveryState,
    Direction,
    Message,
    Priority,
    Status,
)
from socialdesk.db.types import UTCDateTime
from socialdesk.events import bus
from socialdesk.events.types import DomainEvent

# Enum attribute access is slow in a loop over thousands of rows; look the values up once.
_NOTE = Visibility.NOTE.value
_PUBLIC = Visibility.PUBLIC.value
_INBOUND = Direction.INBOUND.value
_OUTBOUND = Direction.OUTBOUND.value
_SENT = DeliveryState.SENT.value
_RESOLVED = Status.RESOLVED.value
_OPEN = Status.OPEN.value
_NORMAL = Priority.NORMAL.value

_messages = cast(Table, Message.__table__)
_conversations = cast(Table, Conversation.__table__)
_contacts = cast(Table, Contact.__table__)
_identities = cast(Table, ContactIdentity.__table__)

_MESSAGE_COLUMNS = (
    "id",
    "conversation_id",
    "brand_account_id",
    "direction",
    "visibility",
    "author_contact_id",
    "text",
    "native_id",
    "native_reply_to_id",
    "thread_key",
    "raw",
    "created_at",
    "delivery_state",
    "sent_at",
    "organization_id",
    "received_at",
    "author_member_id",
    "delivery_attempts",
)
_CONVERSATION_COLUMNS = (
    "id",
    "brand_account_id",
    "contact_id",
    "status",
    "resolved_at",
    "subject",
    "thread_key",
    "message_count",
    "first_inbound_at",
    "first_response_at",
    "last_customer_message_at",
    "last_activity_at",
    "last_preview",
    "last_preview_outbound",
    "organization_id",
    "priority",
    "created_at",
)


@dataclass(frozen=True, kw_only=True)
class MessagesImported(DomainEvent):
    """One batch of messages was ingested in bulk (an import). Live views refresh their lists;
    per-message reactions (triage, SLA) deliberately do not run for history."""

    kind: ClassVar[str] = "messages.imported"
    messages: int
    conversations_created: int
    conversations_changed: int
    brand_account_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BulkItem:
    """One message for one brand account."""

    brand_account_id: int
    message: InboundMessage


@dataclass(slots=True)
class BulkMessage:
    """One message of a batch, flat: what a :class:`BulkItem` says, in the form the batch path
    reads. Importers that read millions of rows build these directly (a frozen
    ``InboundMessage`` and ``Identity`` per row cost more than storing the row)."""

    brand_account_id: int
    native_id: str
    author_id: str  # the author's native user id on the channel
    text: str
    created_at: datetime
    reply_to_native_id: str | None = None
    thread_key: str | None = None
    from_brand: bool = False
    visibility: str = _PUBLIC  # a Visibility value
    author_handle: str | None = None
    author_name: str | None = None
    subject: str | None = None
    raw: str = "null"  # the raw payload as JSON text, as the column stores it
    attachments: tuple[Attachment, ...] = ()

    @classmethod
    def of(cls, item: BulkItem) -> BulkMessage:
        m = item.message
        author = m.author
        return cls(
            item.brand_account_id,
            m.native_id,
            author.native_id,
            m.text,
            m.created_at,
            m.reply_to_native_id,
            m.thread_key,
            m.from_brand,
            m.visibility.value,
            author.handle,
            author.display_name,
            m.subject,
            # What the JSON column stores (an empty payload is stored as no payload).
            json.dumps(m.raw or None),
            m.attachments,
        )


@dataclass(slots=True)
class BatchResult:
    received: int = 0
    created: int = 0  # messages stored
    duplicates: int = 0  # already stored, or repeated within the batch
    conversations_created: int = 0
    conversations_changed: int = 0  # conversations that existed and got messages
    conversations_merged: int = 0  # stored conversations folded into another
    contacts_created: int = 0
    erased: int = 0  # erased with their customer before: not stored again (erased.py)

    def add(self, other: BatchResult) -> None:
        self.received += other.received
        self.created += other.created
        self.duplicates += other.duplicates
        self.conversations_created += other.conversations_created
        self.conversations_changed += other.conversations_changed
        self.conversations_merged += other.conversations_merged
        self.contacts_created += other.contacts_created
        self.erased += other.erased


# -- bulk SQL -----------------------------------------------------------------------------


def any_of(
    column: InstrumentedAttribute[Any] | ColumnElement[Any],
    values: Sequence[str] | Sequence[int],
    *,
    dialect: str,
) -> ColumnElement[bool]:
    """``column IN (values)`` with the whole list bound as one parameter."""
    as_ints = bool(values) and isinstance(values[0], int)
    if dialect == "postgresql":
        array = ARRAY(BigInteger() if as_ints else String())
        return column == func.any(bindparam(None, list(values), type_=array))
    listed: Select[Any] = select(literal_column("value")).select_from(
        func.json_each(bindparam(None, json.dumps(list(values)), type_=String()))
    )
    return column.in_(listed)


def _pairs_table(pairs: list[tuple[int, str]], *, dialect: str) -> Subquery:
    """A derived table (a, v) of (account id, value) pairs, bound as one or two parameters."""
    if dialect == "postgresql":
        accounts = bindparam(None, [a for a, _ in pairs], type_=ARRAY(BigInteger()))
        values = bindparam(None, [v for _, v in pairs], type_=ARRAY(String()))
        return select(func.unnest(accounts).label("a"), func.unnest(values).label("v")).subquery()
    return (
        select(literal_column("value ->> 0").label("a"), literal_column("value ->> 1").label("v"))
        .select_from(func.json_each(bindparam(None, json.dumps(pairs), type_=String())))
        .subquery()
    )


@functools.lru_cache(maxsize=1 << 16)
def sqlite_utc(value: datetime | None) -> str | None:
    """What :class:`~socialdesk.db.types.UTCDateTime` stores on SQLite (naive UTC text with
    microseconds), three times faster than going through the type: rows carry several times
    each (and the same instant recurs in a conversation's timestamps: hence the cache). A test
    holds it equal to the type's own conversion."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        if value.utcoffset() is None:
            raise ValueError(f"refusing to store a naive datetime: {value.isoformat()}")
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _same(value: Any) -> Any:
    return value


def _json_value(value: str) -> Any:
    return json.loads(value)


class _Writer:
    """Bulk writes in the form each database takes best (see the module docstring)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.dialect = session.get_bind().dialect
        self.sqlite = self.dialect.name == "sqlite"
        # Values of the hot rows are built in the stored form on SQLite (executemany on the
        # driver); on PostgreSQL they stay Python values for Core and its column types.
        self.time: Callable[[datetime | None], Any] = sqlite_utc if self.sqlite else _same
        self.json: Callable[[str], Any] = _same if self.sqlite else _json_value

    def reserve_ids(self, table: Table, n: int) -> list[int]:
        """``n`` fresh primary keys, so rows can be inserted with ids known in advance."""
        if n == 0:
            return []
        if self.sqlite:
            # The transaction holds SQLite's write lock (BEGIN IMMEDIATE): no one else inserts
            # until it ends, so the ids above the current maximum are ours.
            top = self.session.scalar(select(func.max(table.c.id))) or 0
            return list(range(top + 1, top + 1 + n))
        return list(
            self.session.scalars(
                text(
                    "SELECT nextval(pg_get_serial_sequence(:t, 'id')) FROM generate_series(1, :n)"
                ),
                {"t": table.name, "n": n},
            )
        )

    def _processor(self, table: Table, column: str) -> Callable[[Any], Any] | None:
        kind = table.c[column].type
        if isinstance(kind, UTCDateTime):
            return sqlite_utc
        if isinstance(kind, JSON):
            # What the JSON type does (json.dumps), without its per-call set-up.
            return json.dumps
        return kind.dialect_impl(self.dialect).bind_processor(self.dialect)

    def insert(
        self,
        table: Table,
        columns: Sequence[str],
        rows: list[tuple[Any, ...]],
        constants: dict[str, Any] | None = None,
        *,
        prepared: bool = False,
    ) -> None:
        """Insert ``rows`` (values in ``columns`` order); ``constants`` are the same for all.
        ``prepared``: the rows hold every column already in the stored form (SQLite) or as
        Python values (PostgreSQL), as :attr:`time` and :attr:`json` make them."""
        if not rows:
            return
        constants = constants or {}
        if not self.sqlite:
            keys = list(columns)
            self.session.execute(
                insert(table), [{**constants, **dict(zip(keys, row, strict=True))} for row in rows]
            )
            return
        payload: list[Any] = rows
        if not prepared:
            processors = [
                (i, p) for i, name in enumerate(columns) if (p := self._processor(table, name))
            ]
            fixed = []
            for name, value in constants.items():
                convert = self._processor(table, name)
                fixed.append(convert(value) if convert else value)
            converted = []
            for row in rows:
                values = list(row)
                for i, process in processors:
                    values[i] = process(values[i])
                converted.append((*values, *fixed))
            payload = converted
        names = ", ".join([*columns, *constants])
        marks = ", ".join("?" * (len(columns) + len(constants)))
        self.session.connection().exec_driver_sql(
            f"INSERT INTO {table.name} ({names}) VALUES ({marks})",  # noqa: S608 - our columns
            payload,
        )

    def insert_messages(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert prepared message rows (ids ascending and contiguous, as reserved) and index
        their text (see the module docstring for the FTS5 pause on SQLite)."""
        if not rows or not self.sqlite:
            self.insert(_messages, _MESSAGE_COLUMNS, rows, prepared=True)
            return
        connection = self.session.connection()
        connection.exec_driver_sql("INSERT INTO messages_fts_paused (id) VALUES (1)")
        try:
            self.insert(_messages, _MESSAGE_COLUMNS, rows, prepared=True)
        finally:
            connection.exec_driver_sql("DELETE FROM messages_fts_paused")
        connection.exec_driver_sql(
            "INSERT INTO messages_fts (rowid, text) SELECT id, text FROM messages "
            "WHERE id BETWEEN ? AND ?",
            (rows[0][0], rows[-1][0]),
        )


# -- threading ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Account:
    id: int
    organization_id: int
    kind: str


class _UnionFind:
    """Disjoint sets over hashable keys, with path halving. One per brand account: its keys
    are native ids (str), stored conversation ids (int) and ("key", thread key) pairs."""

    __slots__ = ("parent",)

    def __init__(self) -> None:
        self.parent: dict[object, object] = {}

    def find(self, key: object) -> object:
        parent = self.parent
        up = parent.get(key)
        if up is None:
            parent[key] = key
            return key
        while up != key:
            grand = parent[up]
            parent[key] = grand
            key = grand
            up = parent[key]
        return key

    def union(self, a: object, b: object) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb


class _Thread:
    """The new messages of one component, and the stored conversations it touches. (A plain
    class: an import makes one per message or so, and a dataclass with default factories
    costs twice as much to make.)"""

    __slots__ = ("account", "conversation_id", "conversation_ids", "messages")

    def __init__(self, account: _Account) -> None:
        self.account = account
        self.messages: list[BulkMessage] = []
        self.conversation_ids: set[int] = set()
        self.conversation_id = 0


@dataclass(frozen=True, slots=True)
class _Aggregates:
    message_count: int
    first_inbound_at: datetime | None
    first_response_at: datetime | None
    last_customer_message_at: datetime | None
    last_message_at: datetime | None
    last_preview: str
    last_from_brand: bool
    last_public_at: datetime | None


def _aggregate(messages: Iterable[BulkMessage]) -> _Aggregates:
    """What refresh_aggregates computes, from messages in storage order (a later one wins a tie
    on time, as a higher id does in the database)."""
    count = 0
    first_in: datetime | None = None
    last_in: datetime | None = None
    last_any: datetime | None = None
    latest: BulkMessage | None = None
    outbound: list[datetime] = []
    for m in messages:
        at = m.created_at
        if last_any is None or at > last_any:
            last_any = at
        if m.visibility == _NOTE:
            continue
        count += 1
        if latest is None or at >= latest.created_at:
            latest = m
        if m.from_brand:
            outbound.append(at)
        else:
            first_in = at if first_in is None or at < first_in else first_in
            last_in = at if last_in is None or at > last_in else last_in
    first_reply = None
    if first_in is not None:
        first_reply = min((at for at in outbound if at >= first_in), default=None)
    return _Aggregates(
        message_count=count,
        first_inbound_at=first_in,
        first_response_at=first_reply,
        last_customer_message_at=last_in,
        last_message_at=last_any,
        last_preview=(latest.text if latest else "")[:200],
        last_from_brand=bool(latest and latest.from_brand),
        last_public_at=latest.created_at if latest else None,
    )


def _subject(messages: Sequence[BulkMessage]) -> str:
    earliest = min(messages, key=lambda m: m.created_at)  # min keeps the first of equals
    subject = earliest.subject or earliest.text.strip().split("\n", 1)[0]
    return subject[:300]


def _aware(value: datetime | str | None) -> datetime | None:
    # Aggregates over SQLite may come back without the column type: naive, or even text.
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _status(from_brand: bool, at: datetime | None) -> tuple[str, datetime | None]:
    """Imported history: resolved when the brand had the last word, open otherwise."""
    if from_brand:
        return _RESOLVED, at
    return _OPEN, None


@dataclass(slots=True)
class _Stored:
    """What the batch learns about a stored conversation before refreshing it."""

    contact_id: int | None
    last_activity_at: datetime
    count: int = 0
    first_in: datetime | None = None
    last_in: datetime | None = None
    last_any: datetime | None = None
    first_reply: datetime | None = None
    latest: tuple[str, str, datetime | None] = ("", "", None)


class BulkIngest:
    """One ingest run (an import) for one organization. Call :meth:`ingest` (or
    :meth:`ingest_messages`) once per batch and commit after each. The run remembers the ids of
    the conversations it created, so their status is derived again when a later batch adds to
    them: one integer per conversation is the only state that grows with the run."""

    def __init__(
        self,
        *,
        organization_id: int,
        now: Callable[[], datetime] | None = None,
        emit_events: bool = True,
    ) -> None:
        self.organization_id = organization_id
        self._now = now or clock.now
        self._emit_events = emit_events
        self._accounts: dict[int, _Account] = {}
        self._created: set[int] = set()

    def _load_accounts(self, session: Session, ids: set[int]) -> None:
        missing = sorted(ids - self._accounts.keys())
        if not missing:
            return
        rows = session.execute(
            select(BrandAccount.id, BrandAccount.organization_id, BrandAccount.kind).where(
                BrandAccount.id.in_(missing)
            )
        ).all()
        for account_id, organization_id, kind in rows:
            if organization_id != self.organization_id:
                raise ValidationFailed(
                    f"brand account {account_id} belongs to another organization",
                    field="brand_account_id",
                )
            self._accounts[account_id] = _Account(account_id, organization_id, kind)
        unknown = set(missing) - self._accounts.keys()
        if unknown:
            raise NotFound(f"brand account {min(unknown)} does not exist", field="brand_account_id")

    @staticmethod
    def _lock(session: Session, account_ids: Iterable[int]) -> None:
        # The per-account lock flows.ingest_message takes (a PostgreSQL advisory lock keyed by
        # the account id), in id order so two bulk runs cannot deadlock. SQLite writers are
        # already serialised by BEGIN IMMEDIATE.
        if session.get_bind().dialect.name != "postgresql":
            return
        for account_id in sorted(account_ids):
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": account_id})

    def ingest(self, session: Session, items: Sequence[BulkItem]) -> BatchResult:
        """Store and thread one batch. Never commits: the caller commits once per batch."""
        return self.ingest_messages(session, [BulkMessage.of(item) for item in items])

    def ingest_messages(self, session: Session, messages: Sequence[BulkMessage]) -> BatchResult:
        """:meth:`ingest` for messages already in the flat form. Never commits."""
        result = BatchResult(received=len(messages))
        if not messages:
            return result
        by_account: dict[int, dict[str, BulkMessage]] = {}
        for m in messages:
            batch = by_account.get(m.brand_account_id)
            if batch is None:
                batch = by_account[m.brand_account_id] = {}
            # The first copy of each native id wins, in batch order.
            if m.native_id not in batch:
                batch[m.native_id] = m
        account_ids = set(by_account)
        self._load_accounts(session, account_ids)
        self._lock(session, account_ids)
        writer = _Writer(session)
        result.erased = self._drop_erased(session, by_account)

        threads = self._thread(session, by_account)
        result.created = sum(len(t.messages) for t in threads)
        result.duplicates = len(messages) - result.created - result.erased
        if not threads:
            return result

        contacts = self._contacts(session, writer, threads, result)
        self._merge_stored(session, threads, result)
        self._create_conversations(writer, threads, contacts, result)
        self._insert_messages(writer, messages, threads, contacts)
        self._refresh_stored(session, writer, threads, contacts)
        if self._emit_events:
            bus.emit(
                session,
                MessagesImported(
                    organization_id=self.organization_id,
                    messages=result.created,
                    conversations_created=result.conversations_created,
                    conversations_changed=result.conversations_changed,
                    brand_account_ids=tuple(sorted(account_ids)),
                ),
            )
        return result

    # -- steps ----------------------------------------------------------------------------

    def _drop_erased(self, session: Session, by_account: dict[int, dict[str, BulkMessage]]) -> int:
        """Leave out the messages erased with their customer before; returns how many."""
        found = erased.erased_among(
            session,
            organization_id=self.organization_id,
            keys=[(a, n) for a, batch in by_account.items() for n in batch],
        )
        for account_id, native_id in found:
            del by_account[account_id][native_id]
        return len(found)

    def _thread(
        self, session: Session, by_account: dict[int, dict[str, BulkMessage]]
    ) -> list[_Thread]:
        """Group the batch's new messages into threads, each with the stored conversations it
        joins. Messages already stored are left out."""
        finders = {account_id: _UnionFind() for account_id in by_account}
        stored_ids, stored_conversations = self._link_stored(session, finders, by_account)
        threads: list[_Thread] = []
        for account_id, batch in by_account.items():
            uf = finders[account_id]
            parent = uf.parent
            find, union = uf.find, uf.union
            stored = stored_ids.get(account_id, ())
            fresh: list[BulkMessage] = []
            for native_id, m in batch.items():
                if native_id in stored:
                    continue
                fresh.append(m)
                reply_to = m.reply_to_native_id
                if reply_to:
                    union(native_id, reply_to)
                elif native_id not in parent:
                    parent[native_id] = native_id
                if m.thread_key:
                    union(native_id, ("key", m.thread_key))
            account = self._accounts[account_id]
            by_root: dict[object, _Thread] = {}
            for m in fresh:
                root = find(m.native_id)
                thread = by_root.get(root)
                if thread is None:
                    thread = by_root[root] = _Thread(account)
                    threads.append(thread)
                thread.messages.append(m)
            for conversation_id in stored_conversations.get(account_id, ()):
                joined = by_root.get(find(conversation_id))
                if joined is not None:
                    joined.conversation_ids.add(conversation_id)
        return threads

    def _link_stored(
        self,
        session: Session,
        finders: dict[int, _UnionFind],
        by_account: dict[int, dict[str, BulkMessage]],
    ) -> tuple[dict[int, set[str]], dict[int, set[int]]]:
        """Put the stored relatives of the batch into each account's union-find, each joined to
        its conversation. Returns, per account, the batch messages already stored and the
        conversations seen."""
        pairs: set[tuple[int, str]] = set()
        key_pairs: set[tuple[int, str]] = set()
        for account_id, batch in by_account.items():
            for m in batch.values():
                pairs.add((account_id, m.native_id))
                if m.reply_to_native_id:
                    pairs.add((account_id, m.reply_to_native_id))
                if m.thread_key:
                    key_pairs.add((account_id, m.thread_key))
        stored_ids: dict[int, set[str]] = {}
        stored_conversations: dict[int, set[int]] = {}
        # Nodes: native ids, stored conversation ids, ("key", thread key).
        for account_id, stored_id, reply_to, thread_key, conversation_id in self._related(
            session, sorted(pairs), sorted(key_pairs)
        ):
            uf = finders[account_id]
            stored_conversations.setdefault(account_id, set()).add(conversation_id)
            if stored_id is not None:
                if stored_id in by_account[account_id]:
                    stored_ids.setdefault(account_id, set()).add(stored_id)
                uf.union(stored_id, conversation_id)
            if reply_to:
                uf.union(reply_to, conversation_id)
            if thread_key:
                uf.union(("key", thread_key), conversation_id)
        return stored_ids, stored_conversations

    @staticmethod
    def _related(
        session: Session, pairs: list[tuple[int, str]], key_pairs: list[tuple[int, str]]
    ) -> Iterable[tuple[int, str | None, str | None, str | None, int]]:
        """Stored messages a batch message may thread with, per (account, native id): the same
        id (already stored), a parent, a child, a sibling, or the same thread key."""
        dialect = session.get_bind().dialect.name
        columns = (
            Message.id,
            Message.brand_account_id,
            Message.native_id,
            Message.native_reply_to_id,
            Message.thread_key,
            Message.conversation_id,
        )
        j = _pairs_table(pairs, dialect=dialect)
        # One SELECT per link, so each uses its index (an OR made SQLite scan).
        parts = [
            select(*columns).join_from(
                j, Message, and_(Message.brand_account_id == j.c.a, Message.native_id == j.c.v)
            ),
            select(*columns).join_from(
                j,
                Message,
                and_(Message.brand_account_id == j.c.a, Message.native_reply_to_id == j.c.v),
            ),
        ]
        if key_pairs:
            k = _pairs_table(key_pairs, dialect=dialect)
            parts.append(
                select(*columns).join_from(
                    k, Message, and_(Message.brand_account_id == k.c.a, Message.thread_key == k.c.v)
                )
            )
        seen: set[int] = set()
        for (
            message_id,
            account_id,
            native_id,
            reply_to,
            thread_key,
            conversation_id,
        ) in session.execute(union_all(*parts)):
            if message_id not in seen:
                seen.add(message_id)
                yield account_id, native_id, reply_to, thread_key, conversation_id

    def _contacts(
        self, session: Session, writer: _Writer, threads: list[_Thread], result: BatchResult
    ) -> dict[tuple[str, str], int]:
        """(channel, native user id) -> contact id for every customer of the batch: found by
        identity (following merged contacts to their survivor) or created."""
        wanted: dict[tuple[str, str], BulkMessage] = {}
        for thread in threads:
            kind = thread.account.kind
            for m in thread.messages:
                if not m.from_brand:
                    wanted.setdefault((kind, m.author_id), m)
        found: dict[tuple[str, str], int] = {}
        if not wanted:
            return found
        by_channel: dict[str, list[str]] = {}
        for channel, native_id in wanted:
            by_channel.setdefault(channel, []).append(native_id)
        renamed: list[dict[str, Any]] = []
        dialect = writer.dialect.name
        for channel, native_ids in by_channel.items():
            for identity_id, native_id, contact_id, handle, name in session.execute(
                select(
                    ContactIdentity.id,
                    ContactIdentity.native_id,
                    ContactIdentity.contact_id,
                    ContactIdentity.handle,
                    ContactIdentity.display_name,
                ).where(
                    ContactIdentity.organization_id == self.organization_id,
                    ContactIdentity.channel == channel,
                    any_of(ContactIdentity.native_id, native_ids, dialect=dialect),
                )
            ):
                found[(channel, native_id)] = contact_id
                # As find_or_create: a known identity whose handle or name changed is updated.
                author = wanted[(channel, native_id)]
                new = (author.author_handle or handle, author.author_name or name)
                if new != (handle, name):
                    renamed.append({"b_id": identity_id, "handle": new[0], "display_name": new[1]})
        if renamed:
            session.execute(
                update(_identities)
                .where(_identities.c.id == bindparam("b_id"))
                .values(handle=bindparam("handle"), display_name=bindparam("display_name")),
                renamed,
            )
        if found:
            self._follow_merged(session, found)

        new_keys = [key for key in wanted if key not in found]
        if new_keys:
            ids = writer.reserve_ids(_contacts, len(new_keys))
            contact_rows = []
            identity_rows = []
            for key, contact_id in zip(new_keys, ids, strict=True):
                author = wanted[key]
                found[key] = contact_id
                name = author.author_name or author.author_handle or author.author_id
                contact_rows.append((contact_id, name[:200]))
                identity_rows.append(
                    (contact_id, key[0], author.author_id, author.author_handle, author.author_name)
                )
            now = self._now()
            writer.insert(
                _contacts,
                ("id", "name"),
                contact_rows,
                {
                    "organization_id": self.organization_id,
                    "is_vip": False,
                    "attributes": {},
                    "merged_into_id": None,
                    "created_at": now,
                },
            )
            writer.insert(
                _identities,
                ("contact_id", "channel", "native_id", "handle", "display_name"),
                identity_rows,
                {"organization_id": self.organization_id, "created_at": now},
            )
            result.contacts_created = len(new_keys)
        return found

    @staticmethod
    def _follow_merged(session: Session, found: dict[tuple[str, str], int]) -> None:
        # contacts.merge moves identities to the survivor, so this is a safety net for data
        # merged otherwise; each round follows one more link of a chain.
        dialect = session.get_bind().dialect.name
        pending = set(found.values())
        survivor: dict[int, int] = {}
        for _ in range(10):
            if not pending:
                break
            links = {
                contact_id: into
                for contact_id, into in session.execute(
                    select(Contact.id, Contact.merged_into_id).where(
                        any_of(Contact.id, sorted(pending), dialect=dialect),
                        Contact.merged_into_id.is_not(None),
                    )
                )
                if into is not None
            }
            survivor.update(links)
            pending = {v for v in links.values() if v not in survivor}
        if not survivor:
            return
        for key, start in found.items():
            contact_id, seen = start, {start}
            while contact_id in survivor and survivor[contact_id] not in seen:
                contact_id = survivor[contact_id]
                seen.add(contact_id)
            found[key] = contact_id

    def _merge_stored(self, session: Session, threads: list[_Thread], result: BatchResult) -> None:
        """A thread that joins several stored conversations folds them into the oldest one."""
        merged = False
        for thread in threads:
            if len(thread.conversation_ids) < 2:
                continue
            keep_id, *other_ids = sorted(thread.conversation_ids)
            keep = session.get(Conversation, keep_id)
            assert keep is not None  # it was just found through its messages
            others = [c for c in (session.get(Conversation, i) for i in other_ids) if c]
            conversations_service.merge(session, keep=keep, others=others)
            self._created.difference_update(other_ids)
            thread.conversation_ids = {keep_id}
            result.conversations_merged += len(other_ids)
            merged = True
        if merged:
            session.flush()

    def _create_conversations(
        self,
        writer: _Writer,
        threads: list[_Thread],
        contacts: dict[tuple[str, str], int],
        result: BatchResult,
    ) -> None:
        # Numbered and inserted in order of last activity: most of the inbox's indexes lead
        # with (organization, ..., last_activity_at), and rows that arrive in that order touch
        # each index page once per batch instead of at random (measured at a million
        # conversations: half the cost of inserting them).
        new_threads = sorted(
            (t for t in threads if not t.conversation_ids),
            key=lambda t: (
                t.messages[0].created_at
                if len(t.messages) == 1
                else max(m.created_at for m in t.messages)
            ),
        )
        ids = writer.reserve_ids(_conversations, len(new_threads))
        at = writer.time
        organization_id = self.organization_id
        created_at = at(self._now())
        rows = []
        for thread, conversation_id in zip(new_threads, ids, strict=True):
            thread.conversation_id = conversation_id
            messages = thread.messages
            if len(messages) == 1 and messages[0].visibility != _NOTE:
                # Most threads of an import are one message: its aggregates are that message.
                m = messages[0]
                when = at(m.created_at)
                if m.from_brand:
                    contact_id = None
                    first_in = last_in = None
                    status, resolved_at = _RESOLVED, when
                else:
                    contact_id = contacts[(thread.account.kind, m.author_id)]
                    first_in = last_in = when
                    status, resolved_at = _OPEN, None
                rows.append(
                    (
                        conversation_id,
                        thread.account.id,
                        contact_id,
                        status,
                        resolved_at,
                        (m.subject or m.text.strip().split("\n", 1)[0])[:300],
                        m.thread_key or None,
                        1,
                        first_in,
                        None,
                        last_in,
                        when,
                        m.text[:200],
                        m.from_brand,
                        organization_id,
                        _NORMAL,
                        created_at,
                    )
                )
                continue
            agg = _aggregate(messages)
            customer = next((m for m in messages if not m.from_brand), None)
            status, resolved = _status(agg.last_from_brand, agg.last_public_at)
            rows.append(
                (
                    conversation_id,
                    thread.account.id,
                    contacts[(thread.account.kind, customer.author_id)] if customer else None,
                    status,
                    at(resolved),
                    _subject(messages),
                    next((m.thread_key for m in messages if m.thread_key), None),
                    agg.message_count,
                    at(agg.first_inbound_at),
                    at(agg.first_response_at),
                    at(agg.last_customer_message_at),
                    at(agg.last_message_at),
                    agg.last_preview,
                    agg.last_from_brand,
                    organization_id,
                    _NORMAL,
                    created_at,
                )
            )
        writer.insert(_conversations, _CONVERSATION_COLUMNS, rows, prepared=True)
        self._created.update(ids)
        result.conversations_created = len(ids)
        for thread in threads:
            if thread.conversation_ids:
                (thread.conversation_id,) = thread.conversation_ids
                result.conversations_changed += 1

    def _insert_messages(
        self,
        writer: _Writer,
        messages: Sequence[BulkMessage],
        threads: list[_Thread],
        contacts: dict[tuple[str, str], int],
    ) -> None:
        # Stored in batch order, so ids follow arrival order as in the flow (the latest message
        # of a conversation breaks a tie on time by id). Each thread holds the first copy of
        # each of its messages: that object, met again in the batch, is stored once.
        thread_of = {id(m): t for t in threads for m in t.messages}
        ids = iter(writer.reserve_ids(_messages, len(thread_of)))
        at = writer.time
        raw = writer.json
        organization_id = self.organization_id
        received_at = at(self._now())
        rows = []
        files: list[dict[str, Any]] = []
        for m in messages:
            thread = thread_of.pop(id(m), None)
            if thread is None:  # stored already, or a repeat within the batch
                continue
            if m.from_brand:
                when = at(m.created_at)
                direction, contact_id, state, sent_at = _OUTBOUND, None, _SENT, when
            else:
                when = at(m.created_at)
                direction, state, sent_at = _INBOUND, None, None
                contact_id = contacts[(thread.account.kind, m.author_id)]
            message_id = next(ids)
            if m.attachments:
                files += attachments.rows(
                    m.attachments, organization_id=organization_id, message_id=message_id
                )
            rows.append(
                (
                    message_id,
                    thread.conversation_id,
                    m.brand_account_id,
                    direction,
                    m.visibility,
                    contact_id,
                    m.text,
                    m.native_id,
                    m.reply_to_native_id,
                    m.thread_key,
                    raw(m.raw),
                    when,
                    state,
                    sent_at,
                    organization_id,
                    received_at,
                    None,
                    0,
                )
            )
        writer.insert_messages(rows)
        attachments.keep_many(writer.session, files)

    def _refresh_stored(
        self,
        session: Session,
        writer: _Writer,
        threads: list[_Thread],
        contacts: dict[tuple[str, str], int],
    ) -> None:
        """Recompute the aggregates of stored conversations that got messages (a few grouped
        queries) and derive again the status of those this run created."""
        touched = {t.conversation_id: t for t in threads if t.conversation_ids}
        if not touched:
            return
        ids = sorted(touched)
        stored = self._read_stored(session, writer.dialect.name, ids)
        updates: list[dict[str, Any]] = []
        status_updates: list[dict[str, Any]] = []
        for cid in ids:
            s = stored[cid]
            contact_id = s.contact_id
            if contact_id is None:
                thread = touched[cid]
                customer = next((m for m in thread.messages if not m.from_brand), None)
                if customer is not None:
                    contact_id = contacts[(thread.account.kind, customer.author_id)]
            body, direction, at = s.latest
            updates.append(
                {
                    "b_id": cid,
                    "contact_id": contact_id,
                    "message_count": s.count,
                    "first_inbound_at": s.first_in,
                    "first_response_at": s.first_reply,
                    "last_customer_message_at": s.last_in,
                    "last_activity_at": max(s.last_activity_at, s.last_any or s.last_activity_at),
                    "last_preview": body[:200],
                    "last_preview_outbound": direction == _OUTBOUND,
                }
            )
            if cid in self._created:
                status, resolved_at = _status(direction == _OUTBOUND, at)
                status_updates.append({"b_id": cid, "status": status, "resolved_at": resolved_at})
        c = _conversations.c
        session.execute(
            update(_conversations)
            .where(c.id == bindparam("b_id"))
            .values(
                contact_id=bindparam("contact_id"),
                message_count=bindparam("message_count"),
                first_inbound_at=bindparam("first_inbound_at"),
                first_response_at=bindparam("first_response_at"),
                last_customer_message_at=bindparam("last_customer_message_at"),
                last_activity_at=bindparam("last_activity_at"),
                last_preview=bindparam("last_preview"),
                last_preview_outbound=bindparam("last_preview_outbound"),
            ),
            updates,
        )
        if status_updates:
            session.execute(
                update(_conversations)
                .where(c.id == bindparam("b_id"))
                .values(status=bindparam("status"), resolved_at=bindparam("resolved_at")),
                status_updates,
            )
        # ORM copies of these conversations (loaded by a merge) are stale now.
        for cid in ids:
            obj = session.identity_map.get(session.identity_key(Conversation, cid))
            if obj is not None:
                session.expire(obj)

    @staticmethod
    def _read_stored(session: Session, dialect: str, ids: list[int]) -> dict[int, _Stored]:
        m = _messages.alias("m")
        m2 = _messages.alias("m2")
        stored: dict[int, _Stored] = {}
        for cid, contact_id, last_activity in session.execute(
            select(Conversation.id, Conversation.contact_id, Conversation.last_activity_at).where(
                any_of(Conversation.id, ids, dialect=dialect)
            )
        ):
            stored[cid] = _Stored(contact_id, last_activity)
        mine = any_of(m.c.conversation_id, ids, dialect=dialect)
        public = m.c.visibility != _NOTE
        said = conversations_service.said(m.c.visibility, m.c.delivery_state)
        inbound = m.c.direction == _INBOUND
        for cid, count, first_in, last_in, last_any in session.execute(
            select(
                m.c.conversation_id,
                func.count(m.c.id).filter(public),
                func.min(m.c.created_at).filter(inbound),
                func.max(m.c.created_at).filter(inbound),
                func.max(m.c.created_at),
            )
            .where(mine)
            .group_by(m.c.conversation_id)
        ):
            s = stored[cid]
            s.count = int(count or 0)
            s.first_in, s.last_in, s.last_any = _aware(first_in), _aware(last_in), _aware(last_any)
        first_in_of = (
            select(func.min(m2.c.created_at))
            .where(m2.c.conversation_id == m.c.conversation_id, m2.c.direction == _INBOUND)
            .scalar_subquery()
        )
        answered_at = conversations_service.said_at(m.c.id, m.c.created_at)
        for cid, at in session.execute(
            select(m.c.conversation_id, func.min(answered_at))
            .where(mine, m.c.direction == _OUTBOUND, said, answered_at >= first_in_of)
            .group_by(m.c.conversation_id)
        ):
            stored[cid].first_reply = _aware(at)
        rank = (
            func.row_number()
            .over(partition_by=m.c.conversation_id, order_by=(m.c.created_at.desc(), m.c.id.desc()))
            .label("rank")
        )
        ranked = (
            select(m.c.conversation_id, m.c.text, m.c.direction, m.c.created_at, rank)
            .where(mine, said)
            .subquery()
        )
        for cid, body, direction, at in session.execute(
            select(
                ranked.c.conversation_id, ranked.c.text, ranked.c.direction, ranked.c.created_at
            ).where(ranked.c.rank == 1)
        ):
            stored[cid].latest = (body or "", direction, _aware(at))
        return stored


def ingest_batch(
    session: Session,
    *,
    organization_id: int,
    items: Sequence[BulkItem],
    now: Callable[[], datetime] | None = None,
) -> BatchResult:
    """Ingest one batch as a run of its own (see :class:`BulkIngest`)."""
    return BulkIngest(organization_id=organization_id, now=now).ingest(session, items)
