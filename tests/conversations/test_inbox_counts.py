"""The numbers beside the inbox's filters: exact below the cap, "more than the cap" above it,
and always the size of the list the same filter shows (on SQLite and PostgreSQL)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts.models import Member
from socialdesk.common.errors import ValidationFailed
from socialdesk.conversations import search as search_index
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Status
from socialdesk.conversations.service import (
    AWAITING,
    STATUS_ALL,
    AssigneeFilter,
    InboxFilter,
    count_label,
)

WORDS = ("parcel", "refund", "battery", "delivery")


@dataclass
class Desk:
    organization_id: int
    me: Member
    other: Member
    conversations: list[Conversation]


def _desk(session: Session, n: int = 14) -> Desk:
    org = accounts.organization(session)
    me = accounts.member(session, org)
    other = accounts.member(session, org)
    account = channels.brand_account(session, org, kind="web")
    made = []
    for i in range(n):
        result = ingest(
            session,
            account,
            inbound(author=f"cust-{i}", text=f"hello {WORDS[i % len(WORDS)]} number {i}"),
        )
        made.append(result.conversation)
    # Another organization's conversations never count.
    other_org = accounts.organization(session)
    ingest(session, channels.brand_account(session, other_org, kind="web"), inbound())
    session.flush()
    return Desk(organization_id=org.id, me=me, other=other, conversations=made)


def _shuffle(desk: Desk, seed: int) -> None:
    rng = random.Random(seed)
    for c in desk.conversations:
        c.status = rng.choice(list(Status))
        c.assignee_id = rng.choice([None, desk.me.id, desk.other.id])
        c.last_preview_outbound = rng.random() < 0.4  # the brand had the last word


def _listed(session: Session, desk: Desk, flt: InboxFilter) -> int:
    """How many conversations the inbox list shows for ``flt`` (every page)."""
    total, cursor = 0, None
    while True:
        page = conversations_service.list_inbox(
            session,
            organization_id=desk.organization_id,
            me_id=desk.me.id,
            flt=flt,
            cursor=cursor,
            limit=5,
        )
        total += len(page.items)
        if page.next_cursor is None:
            return total
        cursor = page.next_cursor


def _expected(session: Session, desk: Desk, flt: InboxFilter, cap: int) -> dict[str, int]:
    def capped(n: int) -> int:
        return min(n, cap + 1)

    views = {s: InboxFilter(**{**vars(flt), "status": s}) for s in [*Status, STATUS_ALL]}
    out = {str(s): capped(_listed(session, desk, view)) for s, view in views.items()}
    for key, who in (("mine", AssigneeFilter.ME), ("unassigned", AssigneeFilter.UNASSIGNED)):
        out[key] = capped(_listed(session, desk, InboxFilter(**{**vars(flt), "assignee": who})))
    for value in AWAITING:
        waiting = InboxFilter(**{**vars(flt), "awaiting": value})
        out[f"awaiting_{value}"] = capped(_listed(session, desk, waiting))
    return out


def _counts(session: Session, desk: Desk, flt: InboxFilter) -> dict[str, int]:
    return conversations_service.counts(
        session, organization_id=desk.organization_id, me_id=desk.me.id, flt=flt
    )


FILTERS = [
    InboxFilter(),
    InboxFilter(status=STATUS_ALL),
    InboxFilter(status="pending", assignee=AssigneeFilter.ME),
    InboxFilter(assignee=AssigneeFilter.UNASSIGNED),
    InboxFilter(status=STATUS_ALL, query="parcel"),
    InboxFilter(query="refund", assignee=AssigneeFilter.ME),
    InboxFilter(channel="web", status="resolved"),
    InboxFilter(awaiting="customer"),
    InboxFilter(status=STATUS_ALL, awaiting="reply", assignee=AssigneeFilter.ME),
    # Searches: message words, a customer's name or handle, with the other filters.
    InboxFilter(query="hello"),
    InboxFilter(status=STATUS_ALL, query="cust"),
    InboxFilter(status="pending", query="@cust-3"),
    InboxFilter(query="number 1", assignee=AssigneeFilter.UNASSIGNED, awaiting="customer"),
    InboxFilter(status=STATUS_ALL, query="delivery", awaiting="reply"),
    InboxFilter(query="nothing like this"),
]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_counts_are_exact_below_the_cap(session: Session, seed: int) -> None:
    desk = _desk(session)
    _shuffle(desk, seed)
    session.flush()
    for flt in FILTERS:
        got = _counts(session, desk, flt)
        assert got == _expected(session, desk, flt, conversations_service.COUNT_CAP), flt
    assert _counts(session, desk, InboxFilter(status=STATUS_ALL))["all"] == len(desk.conversations)


@pytest.mark.parametrize("cap", [0, 2, 3, 5])
@pytest.mark.parametrize("matches", [0, 4, 50_000])
def test_counts_above_the_cap_report_cap_plus_one(
    session: Session, monkeypatch: pytest.MonkeyPatch, cap: int, matches: int
) -> None:
    desk = _desk(session)
    _shuffle(desk, 7)
    session.flush()
    monkeypatch.setattr(conversations_service, "COUNT_CAP", cap)
    # A search's numbers from all of its matches, or from the first few and then one by one.
    monkeypatch.setattr(conversations_service, "COUNT_MATCHES", matches)
    for flt in FILTERS:
        got = _counts(session, desk, flt)
        assert got == _expected(session, desk, flt, cap), flt
        assert all(0 <= n <= cap + 1 for n in got.values())
    assert _counts(session, desk, InboxFilter())["all"] == cap + 1


@pytest.mark.parametrize(
    ("matches", "walk"), [(0, 0), (0, 10_000_000), (4, 0), (50_000, 10_000_000)]
)
def test_a_search_counts_what_its_list_shows(
    session: Session, monkeypatch: pytest.MonkeyPatch, matches: int, walk: int
) -> None:
    """From all of the matches, or from the first few and then each remaining number by its
    own count, in either plan of the listing (``walk`` 0: test each conversation in turn)."""
    desk = _desk(session, n=30)
    _shuffle(desk, 11)
    session.flush()
    monkeypatch.setattr(conversations_service, "COUNT_MATCHES", matches)
    monkeypatch.setattr(search_index, "WALK_THRESHOLD", walk)
    for cap in (conversations_service.COUNT_CAP, 4):
        monkeypatch.setattr(conversations_service, "COUNT_CAP", cap)
        for flt in FILTERS:
            if flt.query is None:
                continue
            for who in (AssigneeFilter.ME, desk.other.id):
                view = InboxFilter(**{**vars(flt), "assignee": who})
                assert _counts(session, desk, view) == _expected(session, desk, view, cap), view


def test_a_search_is_counted_from_its_matches(session: Session) -> None:
    """One statement over the matches gives every number: each conversation is read by its
    key, never by walking a view of the inbox testing every conversation for a match."""
    desk = _desk(session)
    _shuffle(desk, 3)
    session.flush()
    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the plans are SQLite's to show here")
    connection = session.connection()
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        statements.append((statement, parameters))

    for flt in (
        InboxFilter(query="parcel"),
        InboxFilter(status=STATUS_ALL, query="cust-3", assignee=AssigneeFilter.ME),
    ):
        statements.clear()
        event.listen(connection, "before_cursor_execute", record)
        try:
            _counts(session, desk, flt)
        finally:
            event.remove(connection, "before_cursor_execute", record)
        # How many matches there are (the full-text index's count, the conversations of the
        # customers named), then every number at once.
        assert len(statements) <= 3, statements
        assert "GROUP BY" in statements[-1][0], statements
        plans = [
            " / ".join(
                row[-1]
                for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", parameters)
            )
            for sql, parameters in statements
        ]
        assert "SEARCH conversations USING INTEGER PRIMARY KEY (rowid=?)" in plans[-1], plans
        for plan in plans:
            assert "SCAN conversations" not in plan, plan
            # A customer's conversations are read by the customer; none by walking the
            # organization's (an index that starts with organization_id).
            walk = re.search(r"conversations USING (COVERING )?INDEX \w+ \(organization_id", plan)
            assert walk is None, plan


@pytest.mark.parametrize("seed", [4, 5])
def test_one_colleagues_counts_are_the_sizes_of_their_lists(session: Session, seed: int) -> None:
    desk = _desk(session)
    _shuffle(desk, seed)
    session.flush()
    for flt in (
        InboxFilter(assignee=desk.other.id),
        InboxFilter(status=STATUS_ALL, assignee=desk.other.id, query="parcel"),
        InboxFilter(status="pending", assignee=desk.me.id, awaiting="reply"),
    ):
        got = _counts(session, desk, flt)
        assert got == _expected(session, desk, flt, conversations_service.COUNT_CAP), flt
    theirs = sum(c.assignee_id == desk.other.id for c in desk.conversations)
    everyone = InboxFilter(status=STATUS_ALL, assignee=desk.other.id)
    assert _counts(session, desk, everyone)["all"] == theirs


def test_a_colleague_filter_names_a_member_of_the_organization(session: Session) -> None:
    desk = _desk(session)
    stranger = accounts.member(session, accounts.organization(session))
    session.flush()
    for member_id in (stranger.id, 987_654_321):
        flt = InboxFilter(assignee=member_id)
        for read in (conversations_service.counts, conversations_service.list_inbox):
            with pytest.raises(ValidationFailed) as refused:
                read(session, organization_id=desk.organization_id, me_id=desk.me.id, flt=flt)
            assert refused.value.field == "assignee"
            assert f"assignee {member_id} is not a member of this organization" in str(
                refused.value
            )
    # A deactivated colleague is still one: their conversations stay theirs.
    desk.other.is_active = False
    session.flush()
    theirs = InboxFilter(status=STATUS_ALL, assignee=desk.other.id)
    assert _counts(session, desk, theirs) == _expected(
        session, desk, theirs, conversations_service.COUNT_CAP
    )


def test_count_label_shows_the_cap_with_a_plus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(conversations_service, "COUNT_CAP", 10_000)
    assert count_label(0) == "0"
    assert count_label(9_999) == "9999"
    assert count_label(10_000) == "10000"
    assert count_label(10_001) == "10,000+"
    monkeypatch.setattr(conversations_service, "COUNT_CAP", 3)
    assert count_label(3) == "3"
    assert count_label(4) == "3+"


def test_the_count_pills_show_a_capped_count_with_a_plus(monkeypatch: pytest.MonkeyPatch) -> None:
    from socialdesk.web.render import environment

    monkeypatch.setattr(conversations_service, "COUNT_CAP", 10_000)
    pill = environment().from_string(
        '{% from "_macros.html" import count_badge %}{{ count_badge("count-x", n) }}'
    )
    assert pill.render(n=42) == '<span class="count" id="count-x">42</span>'
    assert pill.render(n=10_001) == '<span class="count" id="count-x">10,000+</span>'
