"""The demo organization: it loads through the desk's own flows on SQLite and PostgreSQL, shows
every feature a newcomer should see, and loading it again changes nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import AuditEvent, Member, Organization
from socialdesk.channels.models import BrandAccount, EventStatus, InboundEvent
from socialdesk.common.clock import FrozenClock
from socialdesk.connectors import registry
from socialdesk.connectors.base import ChannelKind
from socialdesk.contacts.models import ContactIdentity
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import (
    Activity,
    Conversation,
    ConversationTag,
    DeliveryState,
    Direction,
    Message,
    Priority,
    Status,
)
from socialdesk.demo import data, loader
from socialdesk.demo.cli import demo
from socialdesk.demo.data import AnswerFails, RecognisesCustomer, Says, Snoozes
from tests.conftest import reset_caches
from tests.factories.connectors import RecordingConnector


@pytest.fixture
def db(database_url: str, clock: FrozenClock) -> Iterator[Session]:
    """A session for reading what the demo wrote (the loader commits on its own)."""
    from socialdesk.db.session import get_sessionmaker

    session = get_sessionmaker(write=False)()
    try:
        yield session
    finally:
        session.close()


def _row_counts(session: Session) -> dict[str, int]:
    names = [
        n
        for n in inspect(session.connection()).get_table_names()
        if n != "alembic_version" and not n.startswith("messages_fts")
    ]
    return {n: session.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}


def _demo_org(session: Session) -> Organization:
    org = session.scalar(select(Organization).where(Organization.slug == data.ORGANIZATION_SLUG))
    assert org is not None
    return org


# -- the script itself --------------------------------------------------------------------


def test_every_scene_is_coherent() -> None:
    members = {m.key for m in data.MEMBERS}
    customers = {c.key: c for c in data.CUSTOMERS}
    accounts = {a.kind for a in data.ACCOUNTS}
    assert accounts == {
        ChannelKind.WEB,
        ChannelKind.X,
        ChannelKind.MASTODON,
        ChannelKind.BLUESKY,
        ChannelKind.EMAIL,
    }
    assert {m.team for m in data.MEMBERS if m.team} <= set(data.TEAMS)
    assert len({m.email for m in data.MEMBERS}) == len(data.MEMBERS)
    for scene in data.SCENES:
        where = f"scene {scene.key}"
        assert scene.channel in accounts, where
        assert isinstance(scene.steps[0], Says), f"{where}: the customer writes first"
        agos = [step.ago for step in scene.steps]
        assert agos == sorted(agos, reverse=True), f"{where}: steps are not in time order"
        assert all(a >= timedelta(0) for a in agos), f"{where}: a step is in the future"
        assert scene.channel in customers[scene.customer].identities, where
        assert (scene.subject is not None) == (scene.channel is ChannelKind.EMAIL), where
        for step in scene.steps:
            by = getattr(step, "by", None)
            assert by is None or by in members, f"{where}: unknown member {by}"
            assert getattr(step, "to", None) in (None, *members), where
            assert getattr(step, "team", None) in (None, *data.TEAMS), where
            for tag in getattr(step, "tags", ()):
                assert conversations_service.normalise_tag(tag) == tag, f"{where}: tag {tag}"
            if isinstance(step, Snoozes):
                assert step.until > timedelta(0), f"{where}: snoozes into the past"
            if isinstance(step, RecognisesCustomer):
                assert len(customers[scene.customer].identities) >= 2, where
    assert len({s.key for s in data.SCENES}) == len(data.SCENES)
    assert len(data.SCENES) >= 30


# -- loading ------------------------------------------------------------------------------


def test_demo_loads_with_every_feature_and_only_once(db: Session, clock: FrozenClock) -> None:
    before = dict(registry._extra)
    loaded = loader.load()
    assert registry._extra == before, "the scripted network must not outlive the load"
    now = clock.now()

    assert loaded.created
    org = _demo_org(db)
    assert loader.is_demo(org)
    conversations = list(
        db.scalars(select(Conversation).where(Conversation.organization_id == org.id))
    )
    assert loaded.conversations == len(conversations) >= 30

    # Members: every role a desk needs, each with a generated password that works.
    roles = Counter(login.role for login in loaded.logins)
    assert roles["owner"] == 1
    assert roles["admin"] == 1
    assert roles["agent"] >= 4
    passwords = [login.password for login in loaded.logins]
    assert len(set(passwords)) == len(passwords)
    assert all(len(p) >= accounts_service.MIN_PASSWORD_LENGTH for p in passwords)
    teams = {login.team for login in loaded.logins if login.team}
    assert {"Customer support", "Tickets & billing", "Field service", "Communications"} <= teams
    with db.begin_nested():
        member = accounts_service.authenticate(
            db, email=loaded.logins[2].email, password=loaded.logins[2].password
        )
        assert member.organization_id == org.id
    db.rollback()

    # Brand accounts on five channels, conversations on every one of them.
    accounts = {
        a.id: a.kind
        for a in db.scalars(select(BrandAccount).where(BrandAccount.organization_id == org.id))
    }
    assert set(accounts.values()) == {"web", "x", "mastodon", "bluesky", "email"}
    assert {accounts[c.brand_account_id] for c in conversations} == set(accounts.values())

    messages = list(db.scalars(select(Message).where(Message.organization_id == org.id)))
    by_id = {m.id: m for m in messages}

    # Threads with replies: public reply chains inside one conversation.
    chained = [
        m
        for m in messages
        if m.native_reply_to_id
        and any(
            o.native_id == m.native_reply_to_id and o.conversation_id == m.conversation_id
            for o in messages
        )
    ]
    assert any(m.visibility == "public" for m in chained)
    assert any(c.message_count >= 4 for c in conversations)
    # Direct messages on a network, not only on email and the website chat.
    direct_networks = {
        accounts[m.brand_account_id]
        for m in messages
        if m.visibility == "direct" and m.direction == Direction.INBOUND.value
    }
    assert {"x", "mastodon", "email", "web"} <= direct_networks

    # One customer, two channels: one contact with two identities, conversations on both.
    identities = Counter(
        db.scalars(
            select(ContactIdentity.contact_id).where(ContactIdentity.organization_id == org.id)
        )
    )
    two_channel = [contact for contact, n in identities.items() if n >= 2]
    assert two_channel
    channels_of = {
        accounts[c.brand_account_id] for c in conversations if c.contact_id == two_channel[0]
    }
    assert len(channels_of) >= 2

    # Notes, tags, assignment, teams, priorities, every status, snoozed into the future.
    assert sum(m.visibility == "note" for m in messages) >= 5
    tags = set(
        db.scalars(select(ConversationTag.name).where(ConversationTag.organization_id == org.id))
    )
    assert {"outage", "complaint", "question", "praise", "idea"} <= tags
    open_ = [c for c in conversations if c.status == Status.OPEN.value]
    assert any(c.assignee_id is not None for c in open_)
    assert any(c.assignee_id is None for c in open_)
    assert any(c.team_id is not None for c in conversations)
    assert {c.priority for c in conversations} == {p.value for p in Priority}
    statuses = Counter(c.status for c in conversations)
    assert all(statuses[s.value] >= 1 for s in Status), statuses
    snoozed = [c for c in conversations if c.status == Status.SNOOZED.value]
    assert all(c.snoozed_until is not None and c.snoozed_until > now for c in snoozed)

    # Replies on the website chat went through the gateway and the delivery job.
    web_replies = [
        m
        for m in messages
        if accounts[m.brand_account_id] == "web"
        and m.direction == Direction.OUTBOUND.value
        and m.visibility != "note"
    ]
    assert web_replies
    for reply in web_replies:
        assert reply.author_member_id is not None
        assert reply.delivery_state == DeliveryState.SENT.value
        assert reply.native_id is not None
        assert reply.sent_at is not None
        assert reply.created_at < reply.sent_at < now
    # A reply the network refused, kept with its reason, signed by its author.
    failed = [m for m in messages if m.delivery_state == DeliveryState.FAILED.value]
    assert len(failed) == sum(
        isinstance(s, AnswerFails) for scene in data.SCENES for s in scene.steps
    )
    assert all(m.delivery_error and "refused" in m.delivery_error for m in failed)
    assert all(m.author_member_id is not None and m.signature for m in failed)
    # Network replies are the accounts' history: sent, from the brand.
    history = [
        m
        for m in messages
        if accounts[m.brand_account_id] != "web"
        and m.direction == Direction.OUTBOUND.value
        and m.visibility != "note"
        and m.delivery_state == DeliveryState.SENT.value
    ]
    assert len(history) >= 15

    # The website chat's messages came in as raw events through the ingest flow.
    events = list(db.scalars(select(InboundEvent).where(InboundEvent.organization_id == org.id)))
    assert events
    assert all(e.status == EventStatus.PROCESSED.value for e in events)

    # Customers coming back: one reopens a resolved conversation, one starts a new one.
    kinds = set(db.scalars(select(Activity.kind).where(Activity.organization_id == org.id)))
    assert {"reopened_by_customer", "follows", "assigned", "tagged", "note_added"} <= kinds

    # Times spread over the last days, none in the future; first responses were recorded.
    created = [m.created_at for m in messages]
    assert max(created) < now
    assert now - min(created) >= timedelta(days=5)
    assert now - min(created) <= timedelta(days=8)
    assert len({m.created_at.date() for m in messages}) >= 5
    answered = [c for c in conversations if c.first_response_at is not None]
    assert len(answered) >= 20
    assert all(c.first_inbound_at is not None for c in conversations)
    assert all(m.conversation_id in {c.id for c in conversations} for m in by_id.values())

    # Loading again changes nothing, and the delivery jobs the load enqueued (already run in
    # the load) find nothing left to do.
    counts = _row_counts(db)
    states = dict(db.execute(select(Message.id, Message.delivery_state)).all())
    db.rollback()
    again = loader.load()
    assert not again.created
    assert again.logins == ()
    assert again.organization_id == loaded.organization_id
    assert again.conversations == loaded.conversations
    from socialdesk.jobs.queue import get_queue

    assert get_queue().run_pending() >= len(web_replies)
    assert _row_counts(db) == counts
    assert dict(db.execute(select(Message.id, Message.delivery_state)).all()) == states


@pytest.fixture
def installed_x() -> Iterator[RecordingConnector]:
    """An X connector installed in the registry, as a real one would be."""
    connector = RecordingConnector()
    previous = registry._extra.get("x")
    registry.register(connector)
    yield connector
    if previous is None:
        registry._extra.pop("x", None)
    else:
        registry.register(previous)


def test_reset_loads_again_and_keeps_members_and_their_audit_trail(
    db: Session, installed_x: RecordingConnector
) -> None:
    first = loader.load()
    # With the X connector installed, the demo still sends nothing to the network, and the
    # registry is handed back as it was.
    assert installed_x.sent == []
    assert registry.get("x") is installed_x
    content = {
        k: v for k, v in _row_counts(db).items() if k not in {"audit_events", "event_records"}
    }
    db.rollback()
    owner = first.logins[0]
    from socialdesk.db.session import session_scope

    with session_scope() as session:  # someone used the demo: the audit trail has a login
        accounts_service.authenticate(session, email=owner.email, password=owner.password)
    audited = db.scalar(select(func.count(AuditEvent.id)))
    assert audited
    db.rollback()

    again = loader.load(reset=True)

    assert again.created
    assert again.organization_id == first.organization_id
    assert again.conversations == first.conversations
    assert installed_x.sent == []
    assert registry.get("x") is installed_x
    after = {k: v for k, v in _row_counts(db).items() if k not in {"audit_events", "event_records"}}
    assert after == content
    assert db.scalar(select(func.count(AuditEvent.id))) >= audited
    member_ids = set(db.scalars(select(Member.id)))
    db.rollback()
    new_owner = again.logins[0]
    assert new_owner.password != owner.password
    with session_scope() as session:
        member = accounts_service.authenticate(
            session, email=new_owner.email, password=new_owner.password
        )
        assert member.id in member_ids
        with pytest.raises(accounts_service.LoginFailed):
            accounts_service.authenticate(session, email=owner.email, password=owner.password)


def test_an_organization_that_only_shares_the_slug_is_left_alone(db: Session) -> None:
    from socialdesk.db.session import session_scope

    with session_scope() as session:
        accounts_service.create_organization(
            session, name="Someone else", slug=data.ORGANIZATION_SLUG
        )
    with pytest.raises(loader.DemoError, match="is not the demo"):
        loader.load(reset=True)
    assert db.scalar(select(func.count(Conversation.id))) == 0


def test_cli_migrates_a_fresh_database_loads_once_and_prints_logins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> None:
    monkeypatch.setenv("SOCIALDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    monkeypatch.setenv("SOCIALDESK_VAR_DIR", str(tmp_path / "var"))
    reset_caches()
    try:
        runner = CliRunner()
        result = runner.invoke(demo, [])
        assert result.exit_code == 0, result.output
        for member in data.MEMBERS:
            assert member.email in result.output
        assert "/login" in result.output

        again = runner.invoke(demo, [])
        assert again.exit_code == 0, again.output
        assert "already loaded" in again.output
        assert "nothing changed" in again.output
        for member in data.MEMBERS:
            assert member.email not in again.output
    finally:
        reset_caches()
