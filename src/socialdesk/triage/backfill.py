"""Backfill: triage the inbound messages that were stored without it, such as imported history.

Live messages are triaged as they are ingested (``flows.ingest_message`` calls
``service.triage_message``). The batch import path stores history without per-message reactions,
so an imported history has no sentiment, complaint or priority until this runs. It walks the
untriaged inbound messages in id order, one batch at a time, and leaves the messages and their
conversations as live triage would have: one ``MessageTriage`` row per message, computed with the
same context (VIP, earlier contacts, audience, the message's own time), and conversations rolled
up to the labels of their latest triaged customer message, complaint if any message is one, and
the highest priority (raised, never lowered).

A batch runs in three steps, and why:

1. read (a read-only transaction): the next messages after the cursor, by id (keyset: every batch
   costs the same, where OFFSET would read again what is done), with what the priority rules
   need;
2. classify, outside any transaction: on SQLite a writer holds the one write lock, and live
   ingest must not wait for the models;
3. write, one transaction, committed: the batch's conversations are locked (PostgreSQL: ``FOR
   UPDATE`` in id order; live ingest updates the conversation in the transaction that triages
   its message, so one waits for the other), the rows go in with ``ON CONFLICT DO NOTHING`` (a
   message triaged meanwhile keeps its row and is counted as ``already``), and each conversation
   is rolled up once from the rows that went in. A crash loses at most the batch in flight, and a
   re-run finds only what is still untriaged.

A step that the database aborts for a reason that passes (a deadlock or a serialization failure
on PostgreSQL, a write lock held past the busy timeout on SQLite) was rolled back whole, so it is
tried again, a few times with a growing pause; the classification is not redone. When it still
fails, ``BatchFailed`` says which batch and why; the batches before it stay committed.

History is not live work, so a backfill never looks like fresh activity: ``last_activity_at`` and
the status stay as they are, and no ``conversation.changed`` event is emitted (routing
automations, SLA clocks and follow-ups would each queue a job per conversation). Each committed
batch emits one ``triage.backfilled`` event per organization it touched, with counts, for open
desks that want to refresh their lists. A conversation whose priority is raised gets the same
``triaged`` trail entry as live triage, marked ``backfill``.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, TypeVar

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from socialdesk.common import clock
from socialdesk.contacts.models import Contact
from socialdesk.conversations.models import (
    Activity,
    Conversation,
    Direction,
    Message,
)

# Every table known to the ORM: a flush sorts tables by their foreign keys, and a bare command
# process (``socialdesk triage backfill``) has not imported every domain's models.
from socialdesk.db import models as _all_models  # noqa: F401
from socialdesk.db.session import session_scope
from socialdesk.events import bus
from socialdesk.events.types import DomainEvent
from socialdesk.triage.classify import TriageResult, classify_batch
from socialdesk.triage.models import MessageTriage
from socialdesk.triage.priority import TriageContext
from socialdesk.triage.service import (
    PRIORITY_LEVEL,
    REPEAT_WINDOW,
    TRAIL_TRIAGED,
    audience_of,
    raised_priority,
    triage_fields,
)

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 500
# Bound parameters per batch stay well under SQLite's limit (32,766) and the classifier's memory
# small; a larger batch is no faster (classification peaks around 500 messages).
MAX_BATCH_SIZE = 5000
_INBOUND = Direction.INBOUND.value
# Above every message id (a 64-bit key), to bisect by time alone.
_LAST_ID = 2**63
# What live triage counts as no text (it strips); both databases trim these characters.
_BLANK = " \t\r\n"

# A step aborted by the database for a passing reason is tried this many times in all, pausing
# RETRY_DELAY seconds, then twice that, and so on (0.1 + 0.2 + 0.4 s): enough for a deadlock
# victim or a lock to clear, short enough that a database that stays busy is reported soon.
ATTEMPTS = 4
RETRY_DELAY = 0.1
# PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back and
# the same work may succeed if run again
# (https://www.postgresql.org/docs/current/mvcc-serialization-failure-handling.html).
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
# SQLite's SQLITE_BUSY and SQLITE_LOCKED (extended codes keep the primary one in the low byte).
_SQLITE_BUSY_CODES = frozenset({5, 6})

T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class TriageBackfilled(DomainEvent):
    """One batch of stored messages was triaged after the fact. Live desks may refresh their
    lists; nothing reacts per conversation (history is not live work)."""

    kind: ClassVar[str] = "triage.backfilled"
    messages: int
    conversations: int


@dataclass(frozen=True)
class Pending:
    """An untriaged inbound message, with the context the priority rules read."""

    id: int
    organization_id: int
    conversation_id: int
    text: str
    created_at: datetime
    context: TriageContext


@dataclass
class BatchCounts:
    scanned: int = 0  # untriaged messages read
    triaged: int = 0  # rows stored
    already: int = 0  # triaged by someone else between the read and the write
    skipped: int = 0  # blank text, a classifier failure, or the message is gone
    conversations: int = 0  # conversations rolled up
    raised: int = 0  # of which the priority was raised

    def add(self, other: BatchCounts) -> None:
        self.scanned += other.scanned
        self.triaged += other.triaged
        self.already += other.already
        self.skipped += other.skipped
        self.conversations += other.conversations
        self.raised += other.raised


@dataclass(frozen=True)
class BatchOutcome:
    counts: BatchCounts
    cursor: int  # the last message id read: the next batch starts after it
    done: bool  # nothing is left after the cursor


@dataclass
class BackfillTotals(BatchCounts):
    batches: int = 0
    seconds: float = 0.0
    cursor: int = 0

    @property
    def per_second(self) -> float:
        return self.triaged / self.seconds if self.seconds > 0 else 0.0


class BatchFailed(RuntimeError):
    """A batch that the database kept aborting for a passing reason (see ``is_transient``);
    nothing of it was stored."""

    def __init__(self, message: str, *, after_id: int, cause: str) -> None:
        super().__init__(message)
        self.after_id = after_id
        self.cause = cause


# -- read ---------------------------------------------------------------------------------


def _untriaged(organization_id: int | None) -> Select[Any]:
    stmt = (
        select(
            Message.id,
            Message.organization_id,
            Message.conversation_id,
            Message.author_contact_id,
            Message.text,
            Message.created_at,
            Message.raw,
        )
        .outerjoin(MessageTriage, MessageTriage.message_id == Message.id)
        .where(
            Message.direction == _INBOUND,
            func.trim(Message.text, _BLANK) != "",
            MessageTriage.message_id.is_(None),
        )
    )
    if organization_id is not None:
        stmt = stmt.where(Message.organization_id == organization_id)
    return stmt


def count_untriaged(session: Session, *, organization_id: int | None = None) -> int:
    """How many inbound messages with text have no triage yet."""
    inner = _untriaged(organization_id).with_only_columns(Message.id).subquery()
    return int(session.scalar(select(func.count()).select_from(inner)) or 0)


def find_untriaged(
    session: Session, *, organization_id: int | None, after_id: int, limit: int
) -> list[Pending]:
    """The next ``limit`` untriaged inbound messages with an id above ``after_id``, each with
    its triage context, in three queries whatever the batch size."""
    rows = session.execute(
        _untriaged(organization_id).where(Message.id > after_id).order_by(Message.id).limit(limit)
    ).all()
    if not rows:
        return []
    contact_ids = sorted({r.author_contact_id for r in rows if r.author_contact_id is not None})
    vip: set[int] = set()
    earlier: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    if contact_ids:
        vip = set(
            session.scalars(select(Contact.id).where(Contact.id.in_(contact_ids), Contact.is_vip))
        )
        # The same window live triage reads (REPEAT_WINDOW before each message), for the whole
        # batch at once; each message then takes its own slice.
        since = min(r.created_at for r in rows) - REPEAT_WINDOW
        until = max(r.created_at for r in rows)
        for contact_id, message_id, created_at in session.execute(
            select(Message.author_contact_id, Message.id, Message.created_at).where(
                Message.author_contact_id.in_(contact_ids),
                Message.direction == _INBOUND,
                Message.created_at >= since,
                Message.created_at <= until,
            )
        ):
            if contact_id is not None:
                earlier[contact_id].append((created_at, message_id))
        for times in earlier.values():
            times.sort()
    pending = []
    for r in rows:
        previous: tuple[datetime, ...] = ()
        if r.author_contact_id is not None:
            # A contact who wrote thousands of times must not cost a pass over all of them per
            # message: the window is found by bisection in the sorted times.
            times = earlier[r.author_contact_id]
            start = bisect_left(times, (r.created_at - REPEAT_WINDOW, -1))
            end = bisect_right(times, (r.created_at, _LAST_ID))
            previous = tuple(at for at, message_id in times[start:end] if message_id != r.id)
        context = TriageContext(
            vip=r.author_contact_id in vip,
            previous_contacts=previous,
            audience=audience_of(r.raw),
            received_at=r.created_at,
        )
        pending.append(
            Pending(r.id, r.organization_id, r.conversation_id, r.text, r.created_at, context)
        )
    return pending


# -- classify -----------------------------------------------------------------------------


def classify_pending(pending: Sequence[Pending]) -> list[TriageResult | None]:
    """The default tier's results (live ingest's tier), ``None`` where a message cannot be
    classified. One failure does not cost the batch: it is classified one by one instead."""
    texts = [p.text for p in pending]
    contexts = [p.context for p in pending]
    try:
        return list(classify_batch(texts, contexts=contexts, explain=False))
    except Exception:
        log.exception("triage backfill: a batch failed to classify; trying one by one")
    results: list[TriageResult | None] = []
    for p in pending:
        try:
            results.append(classify_batch([p.text], contexts=[p.context], explain=False)[0])
        except Exception:
            log.exception("triage failed for message %s; left untriaged", p.id)
            results.append(None)
    return results


# -- write --------------------------------------------------------------------------------


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> set[int]:
    """Insert the rows, leaving alone any message that has a row by now; the ids that went in."""
    if not rows:
        return set()
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        upsert(MessageTriage)
        .on_conflict_do_nothing(index_elements=[MessageTriage.message_id])
        .returning(MessageTriage.message_id)
    )
    return set(session.scalars(stmt, rows))


@dataclass
class _Rollup:
    """The conversation columns a roll-up reads and writes, without loading the whole row."""

    id: int
    organization_id: int
    priority: int
    is_complaint: bool
    sentiment: str | None
    intent: str | None
    language: str | None


def store(
    session: Session, *, pending: Sequence[Pending], results: Sequence[TriageResult | None]
) -> BatchCounts:
    """Store the results of one batch and roll up its conversations, once each. Never
    commits."""
    counts = BatchCounts(scanned=len(pending))
    classified = [
        (p, r) for p, r in zip(pending, results, strict=True) if r is not None and p.text.strip()
    ]
    counts.skipped = len(pending) - len(classified)
    if not classified:
        return counts
    # Where each message is now: a conversation merged since the read has moved it, and a
    # deleted message is left out.
    ids = [p.id for p, _ in classified]
    home = dict(
        session.execute(
            select(Message.id, Message.conversation_id).where(Message.id.in_(ids))
        ).all()
    )
    counts.skipped += len(ids) - len(home)
    classified = [(p, r) for p, r in classified if p.id in home]
    conversation_ids = sorted(set(home.values()))
    conversations = {
        row.id: _Rollup(*row)
        for row in session.execute(
            select(
                Conversation.id,
                Conversation.organization_id,
                Conversation.priority,
                Conversation.is_complaint,
                Conversation.sentiment,
                Conversation.intent,
                Conversation.language,
            )
            .where(Conversation.id.in_(conversation_ids))
            .order_by(Conversation.id)
            .with_for_update()
        )
    }
    # The latest message of each conversation that has a triage row already (live, or an
    # earlier batch): its labels stand unless this batch has a later one.
    triaged_until: dict[int, datetime] = dict(
        session.execute(
            select(Message.conversation_id, func.max(Message.created_at))
            .join(MessageTriage, MessageTriage.message_id == Message.id)
            .where(Message.conversation_id.in_(conversation_ids))
            .group_by(Message.conversation_id)
        ).all()
    )
    inserted = _insert_new(
        session, [triage_fields(p.id, p.organization_id, r) for p, r in classified]
    )
    counts.already = len(classified) - len(inserted)
    counts.triaged = len(inserted)

    by_conversation: dict[int, list[tuple[Pending, TriageResult]]] = defaultdict(list)
    for p, r in classified:
        if p.id in inserted:
            by_conversation[home[p.id]].append((p, r))
    activities: list[dict[str, Any]] = []
    for conversation_id, items in by_conversation.items():
        activity = _roll_up(
            conversations[conversation_id],
            items=items,
            triaged_until=triaged_until.get(conversation_id),
        )
        if activity is not None:
            activities.append(activity)
    rolled = [conversations[i] for i in sorted(by_conversation)]
    if rolled:
        # One executemany by primary key; last_activity_at is not among the columns.
        session.execute(
            update(Conversation),
            [
                {
                    "id": c.id,
                    "priority": c.priority,
                    "is_complaint": c.is_complaint,
                    "sentiment": c.sentiment,
                    "intent": c.intent,
                    "language": c.language,
                }
                for c in rolled
            ],
        )
    if activities:
        session.execute(insert(Activity), activities)
    counts.conversations = len(rolled)
    counts.raised = len(activities)
    messages_by_org: dict[int, int] = defaultdict(int)
    conversations_by_org: dict[int, int] = defaultdict(int)
    for conversation_id, items in by_conversation.items():
        organization_id = conversations[conversation_id].organization_id
        messages_by_org[organization_id] += len(items)
        conversations_by_org[organization_id] += 1
    for organization_id, messages in sorted(messages_by_org.items()):
        bus.emit(
            session,
            TriageBackfilled(
                organization_id=organization_id,
                messages=messages,
                conversations=conversations_by_org[organization_id],
            ),
        )
    return counts


def _roll_up(
    conversation: _Rollup,
    *,
    items: list[tuple[Pending, TriageResult]],
    triaged_until: datetime | None,
) -> dict[str, Any] | None:
    """What ``service.triage_message`` does to the conversation per message, once for the
    batch's messages of one conversation. Returns the trail entry (an ``activities`` row) when
    the priority was raised."""
    latest, latest_result = max(items, key=lambda item: (item[0].created_at, item[0].id))
    # On a tie in time the batch's message wins, as a later live message does.
    if triaged_until is None or latest.created_at >= triaged_until:
        conversation.sentiment = latest_result.sentiment
        conversation.intent = latest_result.intent
        conversation.language = latest_result.language
    if any(r.complaint for _, r in items):
        conversation.is_complaint = True
    top, top_result = max(
        items, key=lambda item: (PRIORITY_LEVEL[item[1].priority.value], item[0].created_at)
    )
    level = PRIORITY_LEVEL[top_result.priority.value]
    if level <= conversation.priority:
        return None
    data = raised_priority(
        message_id=top.id,
        previous=conversation.priority,
        priority=top_result.priority.value,
        reasons=top_result.priority_reasons,
    )
    conversation.priority = level.value
    # The trail entry live triage writes (conversations.service.record), marked as a backfill;
    # no conversation.changed event and the activity time stays (see the module docstring).
    return {
        "organization_id": conversation.organization_id,
        "conversation_id": conversation.id,
        "actor_member_id": None,
        "kind": TRAIL_TRIAGED,
        "data": {**data, "backfill": True},
        "created_at": clock.now(),
    }


# -- run ----------------------------------------------------------------------------------


def _check_batch_size(batch_size: int) -> None:
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise ValueError(f"batch size must be between 1 and {MAX_BATCH_SIZE}, got {batch_size}")


def _driver_code(error: DBAPIError) -> str | None:
    """The SQLSTATE the driver reported: ``sqlstate`` (psycopg 3) or ``pgcode`` (psycopg2)."""
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code if isinstance(code, str) else None


def is_transient(error: BaseException) -> bool:
    """Whether the database aborted the transaction for a reason that passes, so that running
    the same work again may succeed: a deadlock or a serialization failure (PostgreSQL), a
    database that stayed locked past the busy timeout (SQLite). Anything else (a constraint, a
    missing table, a lost server) is not retried here."""
    if not isinstance(error, DBAPIError):
        return False
    if _driver_code(error) in TRANSIENT_SQLSTATES:
        return True
    orig = error.orig
    if isinstance(orig, sqlite3.OperationalError):
        code = getattr(orig, "sqlite_errorcode", None)
        if isinstance(code, int):
            return code & 0xFF in _SQLITE_BUSY_CODES
        # Raised without a code (constructed by hand, or a binding that does not set it):
        # "database is locked", "database table is locked".
        return "is locked" in str(orig)
    return False


def _cause(error: DBAPIError) -> str:
    """The driver's error in one line (its message's first line), with the SQLSTATE."""
    lines = str(error.orig).strip().splitlines()
    code = _driver_code(error)
    return f"{type(error.orig).__name__}: {lines[0] if lines else '(no message)'}" + (
        f" (SQLSTATE {code})" if code else ""
    )


def _retrying(
    step: Callable[[], T],
    *,
    what: str,
    organization_id: int | None,
    after_id: int,
    attempts: int,
    sleep: Callable[[float], None],
) -> T:
    """Run one step (its own transaction) again while the database aborts it for a passing
    reason, pausing RETRY_DELAY, 2 x RETRY_DELAY, ... in between; ``BatchFailed`` after
    ``attempts`` tries."""
    for attempt in range(1, attempts + 1):
        try:
            return step()
        except DBAPIError as error:
            if not is_transient(error):
                raise
            cause = _cause(error)
            scope = (
                "every organization"
                if organization_id is None
                else f"organization {organization_id}"
            )
            if attempt == attempts:
                raise BatchFailed(
                    f"triage backfill ({scope}): could not {what} the batch after message "
                    f"{after_id}: the database aborted it {attempts} times, last with {cause}. "
                    f"Nothing of this batch was stored and the batches before it are; run the "
                    f"backfill again to go on from there once the database is less busy.",
                    after_id=after_id,
                    cause=cause,
                ) from error
            delay = RETRY_DELAY * 2 ** (attempt - 1)
            log.warning(
                "triage backfill (%s): %s of the batch after message %d failed (attempt %d of "
                "%d): %s; trying again in %.1f s",
                scope,
                what,
                after_id,
                attempt,
                attempts,
                cause,
                delay,
            )
            sleep(delay)
    raise AssertionError("unreachable: the last attempt returns or raises")


def run_batch(
    *,
    organization_id: int | None,
    after_id: int = 0,
    batch_size: int = DEFAULT_BATCH_SIZE,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> BatchOutcome:
    """Read, classify and store one batch, and commit it. The read and the write are each
    tried up to ``attempts`` times when the database aborts them for a passing reason (see
    ``is_transient``); ``BatchFailed`` when that does not help."""
    _check_batch_size(batch_size)
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")

    def read() -> list[Pending]:
        with session_scope(write=False) as session:
            return find_untriaged(
                session, organization_id=organization_id, after_id=after_id, limit=batch_size
            )

    def retrying(step: Callable[[], T], what: str) -> T:
        return _retrying(
            step,
            what=what,
            organization_id=organization_id,
            after_id=after_id,
            attempts=attempts,
            sleep=sleep,
        )

    pending = retrying(read, "read")
    if not pending:
        return BatchOutcome(BatchCounts(), cursor=after_id, done=True)
    results = classify_pending(pending)

    def write() -> BatchCounts:
        # A new session each time: what a failed attempt wrote was rolled back with it (its
        # events and after-commit callbacks too).
        with session_scope() as session:
            return store(session, pending=pending, results=results)

    counts = retrying(write, "store")
    return BatchOutcome(counts, cursor=pending[-1].id, done=len(pending) < batch_size)


def run(
    *,
    organization_id: int | None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    after_id: int = 0,
    on_batch: Callable[[BackfillTotals], None] | None = None,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> BackfillTotals:
    """Every batch until nothing is left, each committed on its own; ``on_batch`` sees the
    running totals after each. A batch the database keeps aborting raises ``BatchFailed``
    (see ``run_batch``); what the batches before it stored stays."""
    _check_batch_size(batch_size)
    totals = BackfillTotals(cursor=after_id)
    started = time.perf_counter()
    while True:
        outcome = run_batch(
            organization_id=organization_id,
            after_id=totals.cursor,
            batch_size=batch_size,
            attempts=attempts,
            sleep=sleep,
        )
        totals.seconds = time.perf_counter() - started
        totals.cursor = outcome.cursor
        if outcome.counts.scanned:
            totals.add(outcome.counts)
            totals.batches += 1
            if on_batch is not None:
                on_batch(totals)
        if outcome.done:
            return totals
