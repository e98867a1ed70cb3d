from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

from socialdesk.common.clock import FrozenClock
from socialdesk.contacts.models import Contact
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Message, Status


def _count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_replayed_message_adds_nothing(session: Session) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="web")
    msg = inbound(native_id="t1")
    first = ingest(session, account, msg)
    again = ingest(session, account, msg)
    session.commit()
    assert first.created
    assert not again.created
    assert again.message.id == first.message.id
    assert _count(session, Message) == 1
    assert _count(session, Conversation) == 1
    assert _count(session, Contact) == 1


def test_reply_joins_parent_and_brand_reply_is_first_response(
    session: Session, clock: FrozenClock
) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    t0 = clock.now() - timedelta(hours=1)
    ingest(session, account, inbound(native_id="a", at=t0))
    ingest(
        session,
        account,
        inbound(native_id="b", reply_to="a", from_brand=True, at=t0 + timedelta(minutes=7)),
    )
    result = ingest(
        session, account, inbound(native_id="c", reply_to="b", at=t0 + timedelta(minutes=9))
    )
    session.commit()
    conversation = result.conversation
    assert _count(session, Conversation) == 1
    assert conversation.message_count == 3
    assert conversation.first_inbound_at == t0
    assert conversation.first_response_at == t0 + timedelta(minutes=7)
    assert conversation.last_customer_message_at == t0 + timedelta(minutes=9)


def test_reply_before_parent_is_joined_when_parent_arrives(session: Session) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    ingest(session, account, inbound(native_id="child", reply_to="parent"))
    ingest(session, account, inbound(native_id="other", author="cust-2"))
    ingest(session, account, inbound(native_id="grandparent"))
    ingest(session, account, inbound(native_id="parent", reply_to="grandparent", from_brand=True))
    session.commit()
    by_native = {m.native_id: m.conversation_id for m in session.scalars(select(Message))}
    assert by_native["child"] == by_native["parent"] == by_native["grandparent"]
    assert by_native["other"] != by_native["child"]
    assert _count(session, Conversation) == 2


def test_strangers_answering_the_brands_own_post_each_have_a_conversation(
    session: Session,
) -> None:
    """An announcement gets many answers: each person's is their own conversation, while
    replies to a customer's unseen post still wait for it together."""
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind="mastodon")
    ana = ingest(session, account, inbound(reply_to="post-1", author="ana", reply_to_brand=True))
    ben = ingest(session, account, inbound(reply_to="post-1", author="ben", reply_to_brand=True))
    ana_again = ingest(
        session, account, inbound(reply_to="post-1", author="ana", reply_to_brand=True)
    )
    assert ana.conversation.id != ben.conversation.id
    assert ana_again.conversation.id == ana.conversation.id
    assert (ana.conversation.contact_id, ben.conversation.contact_id) == (
        ana.message.author_contact_id,
        ben.message.author_contact_id,
    )
    # The brand answers Ben in his conversation; his answer back stays there.
    answer = ingest(session, account, inbound(reply_to=ben.message.native_id, from_brand=True))
    back = ingest(
        session,
        account,
        inbound(reply_to=answer.message.native_id, author="ben", reply_to_brand=True),
    )
    assert answer.conversation.id == back.conversation.id == ben.conversation.id
    first = ingest(session, account, inbound(reply_to="post-2", author="cy"))
    second = ingest(session, account, inbound(reply_to="post-2", author="dee"))
    assert first.conversation.id == second.conversation.id


def test_customer_message_reopens_recently_resolved_conversation(
    session: Session, clock: FrozenClock
) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    first = ingest(session, account, inbound(native_id="a", at=clock.now()))
    conversations_service.set_status(
        session, conversation=first.conversation, status=Status.RESOLVED, actor=None
    )
    session.commit()
    clock.advance(timedelta(hours=2))
    again = ingest(session, account, inbound(native_id="b", reply_to="a", at=clock.now()))
    session.commit()
    assert again.conversation.id == first.conversation.id
    assert again.conversation.status == Status.OPEN.value
    assert again.conversation.resolved_at is None


def test_customer_message_after_quiet_period_opens_new_conversation(
    session: Session, clock: FrozenClock
) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    first = ingest(session, account, inbound(native_id="a", at=clock.now()))
    conversations_service.set_status(
        session, conversation=first.conversation, status=Status.RESOLVED, actor=None
    )
    session.commit()
    clock.advance(timedelta(days=10))
    later = ingest(session, account, inbound(native_id="b", reply_to="a", at=clock.now()))
    session.commit()
    assert later.conversation_created
    assert later.conversation.id != first.conversation.id
    assert first.conversation.status == Status.RESOLVED.value
    trail = conversations_service.activities(session, conversation=later.conversation)
    follows = [a for a in trail if a.kind == "follows"]
    assert [a.data for a in follows] == [{"previous": first.conversation.id}]


def test_contact_found_by_identity_across_conversations(session: Session) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    one = ingest(session, account, inbound(native_id="a", author="same"))
    two = ingest(session, account, inbound(native_id="b", author="same"))
    session.commit()
    assert one.conversation.id != two.conversation.id
    assert one.conversation.contact_id == two.conversation.contact_id
    others = conversations_service.other_conversations_of_contact(
        session, conversation=one.conversation
    )
    assert [c.id for c in others] == [two.conversation.id]


def test_organizations_do_not_share_contacts_or_threads(session: Session) -> None:
    a = accounts.organization(session)
    b = accounts.organization(session)
    acc_a = channels.brand_account(session, a)
    acc_b = channels.brand_account(session, b)
    ra = ingest(session, acc_a, inbound(native_id="x", author="same"))
    rb = ingest(session, acc_b, inbound(native_id="x", author="same"))
    session.commit()
    assert ra.created
    assert rb.created
    assert ra.conversation.contact_id != rb.conversation.contact_id


# A forest of reply trees over native ids 0..n-1: parent[i] < i, or None for a root.
@st.composite
def forests(draw: st.DrawFn) -> tuple[list[int | None], list[int], list[int]]:
    n = draw(st.integers(min_value=1, max_value=12))
    parents: list[int | None] = [None]
    for i in range(1, n):
        parents.append(draw(st.one_of(st.none(), st.integers(min_value=0, max_value=i - 1))))
    order = draw(st.permutations(list(range(n))))
    # Some messages are delivered twice (a replayed webhook).
    replays = draw(st.lists(st.sampled_from(list(range(n))), max_size=4))
    return parents, list(order), replays


def _components(parents: list[int | None]) -> set[frozenset[int]]:
    root = list(range(len(parents)))

    def find(i: int) -> int:
        while root[i] != i:
            i = root[i]
        return i

    for i, p in enumerate(parents):
        if p is not None:
            root[find(i)] = find(p)
    groups: dict[int, set[int]] = {}
    for i in range(len(parents)):
        groups.setdefault(find(i), set()).add(i)
    return {frozenset(g) for g in groups.values()}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(case=forests())
def test_threads_are_right_in_any_arrival_order_and_replays_add_nothing(
    session: Session, clock: FrozenClock, case: tuple[list[int | None], list[int], list[int]]
) -> None:
    parents, order, replays = case
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    base = clock.now() - timedelta(days=1)
    messages = {
        i: inbound(
            native_id=f"{account.id}-{i}",
            reply_to=f"{account.id}-{parents[i]}" if parents[i] is not None else None,
            author=f"c{i % 3}",
            from_brand=i % 2 == 1,
            at=base + timedelta(minutes=i),
        )
        for i in range(len(parents))
    }
    for i in [*order, *replays]:
        ingest(session, account, messages[i])
    session.commit()
    rows = session.execute(
        select(Message.native_id, Message.conversation_id).where(
            Message.brand_account_id == account.id
        )
    ).all()
    assert len(rows) == len(parents)
    grouped: dict[int, set[int]] = {}
    for native_id, conversation_id in rows:
        assert native_id is not None
        grouped.setdefault(conversation_id, set()).add(int(native_id.rsplit("-", 1)[1]))
    assert {frozenset(g) for g in grouped.values()} == _components(parents)
    n_conversations = session.scalar(
        select(func.count())
        .select_from(Conversation)
        .where(Conversation.brand_account_id == account.id)
    )
    assert n_conversations == len(grouped)
    for conversation in session.scalars(
        select(Conversation).where(Conversation.brand_account_id == account.id)
    ):
        assert conversation.message_count == len(grouped[conversation.id])


@pytest.mark.parametrize("status", [Status.SNOOZED, Status.PENDING])
def test_new_customer_message_wakes_conversation(
    session: Session, clock: FrozenClock, status: Status
) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    first = ingest(session, account, inbound(native_id="a", thread_key="k", at=clock.now()))
    until = clock.now() + timedelta(days=1) if status is Status.SNOOZED else None
    conversations_service.set_status(
        session, conversation=first.conversation, status=status, actor=None, snoozed_until=until
    )
    clock.advance(timedelta(minutes=5))
    ingest(session, account, inbound(native_id="b", thread_key="k", at=clock.now()))
    session.commit()
    assert first.conversation.status == Status.OPEN.value


def test_brand_history_never_merges_closed_history_with_new_work(
    session: Session, clock: FrozenClock
) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    old = ingest(session, account, inbound(native_id="a", at=clock.now()))
    conversations_service.set_status(
        session, conversation=old.conversation, status=Status.RESOLVED, actor=None
    )
    session.commit()
    clock.advance(timedelta(days=10))
    new = ingest(session, account, inbound(native_id="b", reply_to="a", at=clock.now()))
    # The brand answers the OLD post again (seen in its timeline): it must not join the two.
    brand = ingest(
        session, account, inbound(native_id="c", reply_to="a", from_brand=True, at=clock.now())
    )
    session.commit()
    assert new.conversation.id != old.conversation.id
    assert brand.conversation.id == new.conversation.id
    assert session.get(Conversation, old.conversation.id) is not None
