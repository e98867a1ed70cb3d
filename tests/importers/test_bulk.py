"""The batch ingest path threads exactly like the one-message flow.

The same random reply forests (with parents that never arrive, thread keys, replays and any
arrival order) go once through ``flows.ingest_message`` one by one and once through
``bulk.BulkIngest`` in random batches; both must produce the same conversations with the same
aggregates. Runs on SQLite and PostgreSQL (the ``session`` fixture).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from socialdesk.channels.models import BrandAccount
from socialdesk.common.clock import FrozenClock
from socialdesk.connectors.base import InboundMessage
from socialdesk.contacts.models import ContactIdentity
from socialdesk.conversations import flows
from socialdesk.conversations.bulk import (
    BulkIngest,
    BulkItem,
    MessagesImported,
    _Writer,
    sqlite_utc,
)
from socialdesk.conversations.models import Conversation, DeliveryState, Message, Status
from socialdesk.events.models import EventRecord
from tests.factories import accounts, channels
from tests.factories.conversations import inbound


@dataclass(frozen=True)
class Case:
    parents: list[int | None]  # parent[i] < i, or None for a root
    delivered: list[int]  # arrival order (nodes never delivered are missing parents)
    replays: list[int]
    thread_keys: dict[int, str]
    cuts: list[int]  # batch boundaries for the bulk run
    brand: set[int]
    times: list[int]  # minutes after the base; ties are allowed


@st.composite
def cases(draw: st.DrawFn) -> Case:
    n = draw(st.integers(min_value=1, max_value=14))
    parents: list[int | None] = [None]
    for i in range(1, n):
        parents.append(draw(st.one_of(st.none(), st.integers(min_value=0, max_value=i - 1))))
    delivered = draw(st.lists(st.sampled_from(range(n)), min_size=1, max_size=n, unique=True))
    replays = draw(st.lists(st.sampled_from(delivered), max_size=4))
    keyed = draw(st.lists(st.sampled_from(range(n)), max_size=3, unique=True))
    thread_keys = {i: draw(st.sampled_from(["k1", "k2"])) for i in keyed}
    total = len(delivered) + len(replays)
    cuts = sorted(draw(st.lists(st.integers(min_value=1, max_value=total), max_size=4)))
    brand = set(draw(st.lists(st.sampled_from(range(n)), max_size=n, unique=True)))
    times = [draw(st.integers(min_value=0, max_value=20)) for _ in range(n)]
    return Case(parents, delivered, replays, thread_keys, cuts, brand, times)


def _messages(case: Case, account: BrandAccount, base: datetime) -> dict[int, InboundMessage]:
    return {
        i: inbound(
            native_id=f"n{i}",
            reply_to=f"n{case.parents[i]}" if case.parents[i] is not None else None,
            author=f"a{account.id}-{i % 3}",
            text=f"message {i}\nsecond line",
            from_brand=i in case.brand,
            thread_key=case.thread_keys.get(i),
            at=base + timedelta(minutes=case.times[i]),
        )
        for i in range(len(case.parents))
    }


def _batches(sequence: Sequence[int], cuts: list[int]) -> list[list[int]]:
    bounds = [0, *cuts, len(sequence)]
    return [list(sequence[a:b]) for a, b in pairwise(bounds) if b > a]


@dataclass(frozen=True)
class Outcome:
    members: frozenset[int]
    message_count: int
    first_inbound_at: datetime | None
    first_response_at: datetime | None
    last_customer_message_at: datetime | None
    last_activity_at: datetime
    last_preview: str
    last_preview_outbound: bool
    customers: frozenset[str]


def _outcomes(session: Session, account: BrandAccount) -> tuple[set[Outcome], list[Conversation]]:
    rows = session.execute(
        select(Message.native_id, Message.conversation_id, ContactIdentity.native_id)
        .outerjoin(ContactIdentity, ContactIdentity.contact_id == Message.author_contact_id)
        .where(Message.brand_account_id == account.id)
    ).all()
    members: dict[int, set[int]] = {}
    customers: dict[int, set[str]] = {}
    for native_id, conversation_id, author in rows:
        assert native_id is not None
        members.setdefault(conversation_id, set()).add(int(native_id[1:]))
        if author is not None:
            customers.setdefault(conversation_id, set()).add(author.split("-", 1)[1])
    conversations = list(
        session.scalars(select(Conversation).where(Conversation.brand_account_id == account.id))
    )
    assert {c.id for c in conversations} == set(members)
    outcomes = {
        Outcome(
            members=frozenset(members[c.id]),
            message_count=c.message_count,
            first_inbound_at=c.first_inbound_at,
            first_response_at=c.first_response_at,
            last_customer_message_at=c.last_customer_message_at,
            last_activity_at=c.last_activity_at,
            last_preview=c.last_preview,
            last_preview_outbound=c.last_preview_outbound,
            customers=frozenset(customers.get(c.id, set())),
        )
        for c in conversations
    }
    return outcomes, conversations


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=cases())
def test_bulk_threads_exactly_like_the_flow(
    session: Session, clock: FrozenClock, case: Case
) -> None:
    org = accounts.organization(session)
    one_by_one = channels.brand_account(session, org)
    in_bulk = channels.brand_account(session, org)
    base = clock.now() - timedelta(days=1)
    arrival = [*case.delivered, *case.replays]

    flow_messages = _messages(case, one_by_one, base)
    for i in arrival:
        flows.ingest_message(session, account=one_by_one, message=flow_messages[i])
    session.commit()

    bulk_messages = _messages(case, in_bulk, base)
    run = BulkIngest(organization_id=org.id)
    for batch in _batches(arrival, case.cuts):
        run.ingest(session, [BulkItem(in_bulk.id, bulk_messages[i]) for i in batch])
        session.commit()

    expected, _ = _outcomes(session, one_by_one)
    got, conversations = _outcomes(session, in_bulk)
    # The contact of a conversation is the same only when one customer wrote in it; with
    # several, which one a conversation shows depends on arrival order in both paths.
    assert {o.members for o in got} == {o.members for o in expected}
    for outcome in expected:
        match = next(o for o in got if o.members == outcome.members)
        assert match == outcome

    # Imported history: resolved when the brand wrote last, open otherwise; brand messages are
    # sent replies.
    for conversation in conversations:
        last = session.execute(
            select(Message.direction, Message.created_at)
            .where(Message.conversation_id == conversation.id)
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(1)
        ).one()
        if last.direction == "outbound":
            assert conversation.status == Status.RESOLVED.value
            assert conversation.resolved_at == last.created_at
        else:
            assert conversation.status == Status.OPEN.value
            assert conversation.resolved_at is None
    states = set(
        session.scalars(
            select(Message.delivery_state).where(
                Message.brand_account_id == in_bulk.id, Message.direction == "outbound"
            )
        )
    )
    assert states <= {DeliveryState.SENT.value}


def test_second_run_adds_nothing_and_keeps_status(session: Session, clock: FrozenClock) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    t0 = clock.now() - timedelta(days=3)
    items = [
        BulkItem(account.id, inbound(native_id="q", at=t0)),
        BulkItem(account.id, inbound(native_id="r", reply_to="q", from_brand=True, at=t0)),
    ]
    first = BulkIngest(organization_id=org.id).ingest(session, items)
    session.commit()
    again = BulkIngest(organization_id=org.id).ingest(session, items)
    session.commit()
    assert (first.created, first.conversations_created) == (2, 1)
    assert (again.created, again.duplicates, again.conversations_created) == (0, 2, 0)
    assert session.scalar(select(func.count()).select_from(Message)) == 2
    conversation = session.scalars(select(Conversation)).one()
    assert conversation.status == Status.RESOLVED.value


def test_import_never_reopens_a_conversation_it_did_not_create(
    session: Session, clock: FrozenClock
) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    t0 = clock.now() - timedelta(days=3)
    live = flows.ingest_message(session, account=account, message=inbound(native_id="a", at=t0))
    from socialdesk.conversations import service as conversations_service

    conversations_service.set_status(
        session, conversation=live.conversation, status=Status.RESOLVED, actor=None
    )
    session.commit()
    later = inbound(native_id="b", reply_to="a", at=clock.now() - timedelta(minutes=1))
    result = BulkIngest(organization_id=org.id).ingest(session, [BulkItem(account.id, later)])
    session.commit()
    session.refresh(live.conversation)
    assert result.conversations_changed == 1
    assert live.conversation.status == Status.RESOLVED.value
    assert live.conversation.message_count == 2
    assert live.conversation.last_customer_message_at == later.created_at


def test_one_summary_event_per_batch(session: Session, clock: FrozenClock) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    items = [BulkItem(account.id, inbound(native_id=f"m{i}", author=f"c{i}")) for i in range(30)]
    BulkIngest(organization_id=org.id).ingest(session, items)
    session.commit()
    kinds = list(
        session.scalars(select(EventRecord.kind).where(EventRecord.organization_id == org.id))
    )
    assert kinds == [MessagesImported.kind]
    record = session.scalars(select(EventRecord).where(EventRecord.organization_id == org.id)).one()
    assert record.payload["messages"] == 30
    assert record.payload["conversations_created"] == 30


# Hypothesis takes naive bounds; the values get a random fixed offset below.
@given(
    when=st.datetimes(min_value=datetime(1971, 1, 2), max_value=datetime(2200, 1, 1)),  # noqa: DTZ001
    minutes=st.integers(min_value=-14 * 60, max_value=14 * 60),
)
def test_fast_sqlite_datetime_matches_the_column_type(when: datetime, minutes: int) -> None:
    from datetime import timezone

    from sqlalchemy.dialects import sqlite

    from socialdesk.conversations.bulk import sqlite_utc
    from socialdesk.db.types import UTCDateTime

    dialect = sqlite.dialect()
    process = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert process is not None
    aware = when.replace(tzinfo=timezone(timedelta(minutes=minutes)))
    assert sqlite_utc(aware) == process(aware)


def _matching_message_ids(session: Session, word: str) -> set[int]:
    """Message ids the database's own full-text index finds for ``word``."""
    if session.get_bind().dialect.name == "sqlite":
        found = session.execute(
            text("SELECT rowid FROM messages_fts WHERE messages_fts MATCH :q"), {"q": f'"{word}"'}
        )
    else:
        found = session.execute(
            text(
                "SELECT id FROM messages WHERE to_tsvector('simple', text) "
                "@@ plainto_tsquery('simple', :q)"
            ),
            {"q": word},
        )
    return {row[0] for row in found}


def test_imported_messages_are_indexed_for_search_like_live_ones(
    session: Session, clock: FrozenClock
) -> None:
    """A batch indexes its messages in one statement while the row-by-row trigger is paused in
    its own transaction; live messages before, after and in the same transaction are indexed
    by the trigger. The index ends up exactly as if every message had gone through it."""
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    t0 = clock.now() - timedelta(days=2)
    words = ("parcel", "refund", "battery")
    flows.ingest_message(
        session, account=account, message=inbound(native_id="live-0", text="parcel late", at=t0)
    )
    session.commit()
    run = BulkIngest(organization_id=org.id)
    for start in (0, 40):
        items = [
            BulkItem(
                account.id,
                inbound(
                    native_id=f"b{i}",
                    author=f"c{i % 7}",
                    text=f"{words[i % 3]} number {i}",
                    reply_to=f"b{i - 1}" if i % 4 else None,
                    at=t0 + timedelta(minutes=i),
                ),
            )
            for i in range(start, start + 40)
        ]
        run.ingest(session, items)
        # Same transaction, after the batch: the trigger is live again.
        flows.ingest_message(
            session,
            account=account,
            message=inbound(native_id=f"live-{start + 1}", text="battery and refund", at=t0),
        )
        session.commit()

    stored = {m.id: m.text for m in session.scalars(select(Message))}
    assert len(stored) == 83
    for word in (*words, "number", "and"):
        assert _matching_message_ids(session, word) == {
            i for i, body in stored.items() if word in body.split()
        }, word
    if session.get_bind().dialect.name == "sqlite":
        assert session.scalar(text("SELECT count(*) FROM messages_fts_paused")) == 0
        # FTS5's own check that the index agrees with its content table.
        session.execute(text("INSERT INTO messages_fts(messages_fts) VALUES ('integrity-check')"))


def test_a_failed_insert_lifts_the_pause_at_once(session: Session, clock: FrozenClock) -> None:
    """The pause never outlives the batch's insert, even when the insert fails."""
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("PostgreSQL's text index needs no pause")
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    live = flows.ingest_message(session, account=account, message=inbound(native_id="x"))
    session.commit()
    now = sqlite_utc(clock.now())
    clash = (
        live.message.id,  # an id that is taken
        live.conversation.id,
        account.id,
        "inbound",
        "public",
        None,
        "parcel",
        "y",
        None,
        None,
        "null",
        now,
        None,
        None,
        org.id,
        now,
        None,
        0,
    )
    with pytest.raises(IntegrityError):
        _Writer(session).insert_messages([clash])
    assert session.scalar(text("SELECT count(*) FROM messages_fts_paused")) == 0
    session.rollback()
