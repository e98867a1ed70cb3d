"""The numbers beside the inbox's filters: exact below the cap, "more than the cap" above it,
and always the size of the list the same filter shows (on SQLite and PostgreSQL)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts.models import Member
from socialdesk.common.errors import ValidationFailed
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
def test_counts_above_the_cap_report_cap_plus_one(
    session: Session, monkeypatch: pytest.MonkeyPatch, cap: int
) -> None:
    desk = _desk(session)
    _shuffle(desk, 7)
    session.flush()
    monkeypatch.setattr(conversations_service, "COUNT_CAP", cap)
    for flt in FILTERS:
        got = _counts(session, desk, flt)
        assert got == _expected(session, desk, flt, cap), flt
        assert all(0 <= n <= cap + 1 for n in got.values())
    assert _counts(session, desk, InboxFilter())["all"] == cap + 1


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
