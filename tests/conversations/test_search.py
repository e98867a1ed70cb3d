"""Inbox search: both plans (start from the matching messages, or walk the inbox in order and
probe each conversation) list exactly what plain membership in the matching conversations
lists, page by page, on random data."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

from socialdesk.common import clock
from socialdesk.conversations import search as search_index
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Status
from socialdesk.conversations.service import STATUS_ALL, AssigneeFilter, InboxFilter

VOCABULARY = ("parcel", "parking", "refund", "battery", "delivery", "late", "wifi", "train")
QUERIES = (
    "parcel",
    "par",
    "refund late",
    "battery wifi",
    "delivery",
    "d",
    "train parcel refund",
    "nothing",
    "LATE",
    "wifi!",
    "  ",
)


def _desk(session: Session, seed: int) -> tuple[int, int]:
    rng = random.Random(seed)
    org = accounts.organization(session)
    me = accounts.member(session, org)
    account = channels.brand_account(session, org, kind="web")
    for i in range(40):
        for j in range(rng.randint(1, 3)):
            words = rng.sample(VOCABULARY, rng.randint(1, 3))
            result = ingest(
                session,
                account,
                inbound(
                    author=f"cust-{i}",
                    thread_key=f"visitor:{i}",
                    text=" ".join(words),
                    at=clock.now() - timedelta(minutes=rng.randint(1, 500), seconds=j),
                ),
            )
        result.conversation.status = rng.choice(list(Status))
        result.conversation.assignee_id = rng.choice([None, me.id])
    # The same words in another organization must never be found.
    other = accounts.organization(session)
    other_account = channels.brand_account(session, other, kind="web")
    for word in VOCABULARY:
        ingest(session, other_account, inbound(author=f"x-{word}", text=word))
    session.flush()
    return org.id, me.id


def _listed(session: Session, organization_id: int, me_id: int, flt: InboxFilter) -> list[int]:
    out: list[int] = []
    cursor = None
    while True:
        page = conversations_service.list_inbox(
            session,
            organization_id=organization_id,
            me_id=me_id,
            flt=flt,
            cursor=cursor,
            limit=7,
        )
        out += [c.id for c in page.items]
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


def _reference(session: Session, organization_id: int, me_id: int, flt: InboxFilter) -> list[int]:
    """The conversations of the matching messages, filtered and ordered as the inbox is."""
    stmt = select(Conversation.id).where(Conversation.organization_id == organization_id)
    if flt.status != STATUS_ALL:
        stmt = stmt.where(Conversation.status == flt.status)
    if flt.assignee == AssigneeFilter.ME:
        stmt = stmt.where(Conversation.assignee_id == me_id)
    if flt.query and flt.query.strip():
        stmt = stmt.where(
            Conversation.id.in_(
                search_index.matching_conversation_ids(
                    session, organization_id=organization_id, query=flt.query
                )
            )
        )
    stmt = stmt.order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
    return list(session.scalars(stmt))


@pytest.mark.parametrize("seed", [11, 12])
@pytest.mark.parametrize("threshold", [0, 1, 3, 10_000_000])
def test_both_plans_list_what_membership_lists(
    session: Session, monkeypatch: pytest.MonkeyPatch, seed: int, threshold: int
) -> None:
    organization_id, me_id = _desk(session, seed)
    monkeypatch.setattr(search_index, "WALK_THRESHOLD", threshold)
    found_any = False
    for query in QUERIES:
        for flt in (
            InboxFilter(status=STATUS_ALL, query=query),
            InboxFilter(query=query),
            InboxFilter(status="resolved", assignee=AssigneeFilter.ME, query=query),
        ):
            expected = _reference(session, organization_id, me_id, flt)
            assert _listed(session, organization_id, me_id, flt) == expected, flt
            found_any = found_any or bool(expected)
    assert found_any


def test_the_walk_plan_is_chosen_only_for_many_matches(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    organization_id, _ = _desk(session, 5)
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the walk plan is SQLite's (PostgreSQL keeps one plan)")

    def plan(threshold: int, *, ordered: bool) -> str:
        monkeypatch.setattr(search_index, "WALK_THRESHOLD", threshold)
        condition = search_index.conversation_matches(
            session, organization_id=organization_id, query="parcel", ordered=ordered
        )
        compiled = " ".join(str(condition.compile()).split())
        # The walk's probe of the messages, or of them and of the customers named.
        if compiled.startswith(("EXISTS", "(EXISTS")):
            return "walk"
        if compiled.startswith("conversations.id = anon"):
            return "join"
        assert compiled.startswith("conversations.id IN"), compiled
        return "membership"

    assert plan(1, ordered=True) == "walk"
    assert plan(10_000_000, ordered=True) == "join"
    assert plan(1, ordered=False) == "membership"
    assert plan(10_000_000, ordered=False) == "membership"


def test_few_matches_drive_the_listing_from_the_matches(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With few matches SQLite must start from them, not walk the inbox index testing each
    conversation: the plan of the listing's statement says which."""
    organization_id, me_id = _desk(session, 5)
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the plans are SQLite's (PostgreSQL keeps one plan)")
    monkeypatch.setattr(search_index, "WALK_THRESHOLD", 10_000_000)
    stmt = (
        conversations_service._filtered(  # the listing's own statement
            session,
            organization_id=organization_id,
            me_id=me_id,
            flt=InboxFilter(query="parcel"),
            ordered=True,
        )
        .order_by(Conversation.last_activity_at.desc(), Conversation.id.desc())
        .limit(51)
    )
    compiled = stmt.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
    plan = " / ".join(row[-1] for row in session.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
    assert "SEARCH conversations USING INTEGER PRIMARY KEY" in plan, plan
    assert "ix_conversations_inbox" not in plan, plan


def test_counts_with_a_query_match_the_listing(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    organization_id, me_id = _desk(session, 9)
    monkeypatch.setattr(search_index, "WALK_THRESHOLD", 0)
    for query in QUERIES:
        flt = InboxFilter(status=STATUS_ALL, query=query)
        counts = conversations_service.counts(
            session, organization_id=organization_id, me_id=me_id, flt=flt
        )
        assert counts["all"] == len(_listed(session, organization_id, me_id, flt)), query


@pytest.mark.parametrize(
    ("typed", "fts"),
    [
        ("refund", '"refund"*'),
        ("late refu", '"late" "refu"*'),
        ("int", '"int"*'),
        ("in", '"in"'),  # one or two letters: the whole word, not every word starting so
        ("my i", '"my" "i"'),
        ("tv", '"tv"'),
        ("配送", '"配送"*'),  # written without spaces: a short run is still a prefix
        ('NEAR(a b) OR "x', '"NEAR" "a" "b" "OR" "x"'),  # operators are words
        ("  ...  ", None),
    ],
)
def test_what_was_typed_becomes_a_safe_fts5_query(typed: str, fts: str | None) -> None:
    assert search_index.fts5_query(typed) == fts
