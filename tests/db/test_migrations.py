from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, select, text

from socialdesk.conversations.models import Conversation
from socialdesk.db.migrate import current, downgrade, upgrade
from socialdesk.db.models import Base
from socialdesk.db.session import get_sessionmaker, make_engine
from socialdesk.sla.models import SlaClock

# What lives outside the models: the full-text index (an FTS5 table, an expression index) and
# the indexes of customers' folded names (expression indexes, 0033).
OUTSIDE_MODELS = ("messages_fts", "ix_messages_text_search", "_folded")


# SQLite's reflection skips expression indexes, saying so.
@pytest.mark.filterwarnings(
    "ignore:Skipped unsupported reflection of expression-based index:sqlalchemy.exc.SAWarning"
)
def test_migrations_build_exactly_the_models(database_url: str) -> None:
    """A model changed without a migration (or the reverse) fails here, on both databases."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [
            d
            for d in compare_metadata(context, Base.metadata)
            if not any(name in repr(d) for name in OUTSIDE_MODELS)
        ]
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_downgrade_to_base_and_up_again(database_url: str) -> None:
    engine = make_engine(database_url)
    head = current(engine)
    downgrade(engine, "base")
    assert current(engine) is None
    upgrade(engine)
    assert current(engine) == head
    engine.dispose()


T0 = "'2026-01-01 00:00:00'"


def seed_first_schema(engine: Engine) -> None:
    """One row of every table of the first migration: a desk in use."""
    rows = {
        "organizations": "id, name, slug, timezone, settings, created_at",
        "members": "id, organization_id, email, name, initials, role, is_active, created_at",
        "brand_accounts": (
            "id, organization_id, kind, handle, display_name, settings, public_key, health, "
            "created_at"
        ),
        "contacts": "id, organization_id, name, is_vip, attributes, created_at",
        "conversations": (
            "id, organization_id, brand_account_id, contact_id, status, priority, subject, "
            "message_count, created_at, last_activity_at, last_preview"
        ),
        "messages": (
            "id, organization_id, conversation_id, brand_account_id, direction, visibility, "
            "author_contact_id, text, native_id, created_at, delivery_attempts"
        ),
        "activities": "id, organization_id, conversation_id, kind, data, created_at",
    }
    values = {
        "organizations": f"1, 'O', 'o', 'UTC', '{{}}', {T0}",
        "members": f"1, 1, 'a@example.org', 'A', 'A', 'owner', true, {T0}",
        "brand_accounts": f"1, 1, 'web', 'site', 'Site', '{{}}', 'k1', 'ok', {T0}",
        "contacts": f"1, 1, 'C', false, '{{}}', {T0}",
        "conversations": f"1, 1, 1, 1, 'open', 1, 'S', 1, {T0}, {T0}, 'hi'",
        "messages": f"1, 1, 1, 1, 'inbound', 'direct', 1, 'hello there', 'm1', {T0}, 0",
        "activities": f"1, 1, 1, 'tagged', '{{}}', {T0}",
    }
    with engine.begin() as conn:
        for table, columns in rows.items():
            conn.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({values[table]})"))


def test_upgrading_a_database_that_holds_data_keeps_it(database_url: str) -> None:
    """Every migration runs on a desk in use: rows of every kind exist when it runs."""
    engine = make_engine(database_url)
    downgrade(engine, "base")
    upgrade(engine, "0001")
    seed_first_schema(engine)
    upgrade(engine)
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT text FROM messages WHERE id = 1")).scalar() == "hello there"
        )
        assert conn.execute(text("SELECT count(*) FROM activities")).scalar() == 1
        assert conn.execute(
            text("SELECT is_complaint FROM conversations WHERE id = 1")
        ).scalar() in (0, False)
    downgrade(engine, "base")
    upgrade(engine)
    engine.dispose()


def test_running_sla_clocks_get_their_warning_window(database_url: str) -> None:
    """0011 gives each running clock its due time less its policy's warning time; stopped
    clocks and clocks whose policy never warns get none."""
    engine = make_engine(database_url)
    downgrade(engine, "base")
    upgrade(engine, "0001")
    seed_first_schema(engine)
    upgrade(engine, "0010")
    policy = (
        "INSERT INTO sla_policies (id, organization_id, name, position, enabled, "
        "warn_before_minutes, created_at, updated_at) VALUES ({id}, 1, 'P{id}', {id}, true, "
        f"{{minutes}}, {T0}, {T0})"
    )
    clock_row = (
        "INSERT INTO sla_clocks (id, organization_id, conversation_id, policy_id, target, "
        "started_at, due_at, stopped_at, channel, priority) VALUES ({id}, 1, 1, {policy}, "
        f"'first_response', {T0}, '2026-01-01 01:00:00', {{stopped}}, 'web', 1)"
    )
    with engine.begin() as conn:
        conn.execute(text(policy.format(id=1, minutes=15)))
        conn.execute(text(policy.format(id=2, minutes=0)))
        conn.execute(text(clock_row.format(id=1, policy=1, stopped="NULL")))
        conn.execute(text(clock_row.format(id=2, policy=1, stopped="'2026-01-01 00:30:00'")))
        conn.execute(text(clock_row.format(id=3, policy=2, stopped="NULL")))
    upgrade(engine)
    with get_sessionmaker()() as session:
        warn = {c.id: c.warn_at for c in session.scalars(select(SlaClock))}
    assert warn == {1: datetime(2026, 1, 1, 0, 45, tzinfo=UTC), 2: None, 3: None}
    engine.dispose()


def test_previews_learn_whether_they_are_the_brands_reply(database_url: str) -> None:
    """0019 marks a conversation whose latest message (notes aside) is outbound, and only it."""
    engine = make_engine(database_url)
    downgrade(engine, "base")
    upgrade(engine, "0001")
    seed_first_schema(engine)  # conversation 1: one inbound message
    upgrade(engine, "0018")
    message = (
        "INSERT INTO messages (id, organization_id, conversation_id, brand_account_id, "
        "direction, visibility, text, native_id, created_at, delivery_attempts, "
        "delivery_state) VALUES ({id}, 1, {conversation}, 1, '{direction}', '{visibility}', "
        "'x', 'm{id}', '{at}', 0, {state})"
    )
    with engine.begin() as conn:
        for conversation in (2, 3, 4, 5):
            conn.execute(
                text(
                    "INSERT INTO conversations (id, organization_id, brand_account_id, status, "
                    "priority, subject, message_count, created_at, last_activity_at, "
                    f"last_preview) VALUES ({conversation}, 1, 1, 'open', 1, 'S', 1, {T0}, "
                    f"{T0}, 'p')"
                )
            )
        replies = [
            (2, 2, "inbound", "public", "2026-01-01 00:00:00"),
            (3, 2, "outbound", "public", "2026-01-01 01:00:00"),  # 2: the brand answered last
            (4, 3, "outbound", "public", "2026-01-01 00:00:00"),
            (5, 3, "inbound", "public", "2026-01-01 01:00:00"),  # 3: the customer wrote last
            (6, 4, "inbound", "direct", "2026-01-01 00:00:00"),
            (7, 4, "outbound", "note", "2026-01-01 01:00:00"),  # 4: a note is not the preview
            (8, 5, "inbound", "public", "2026-01-01 00:00:00"),
            (9, 5, "outbound", "public", "2026-01-01 01:00:00"),  # 5: held for an approver
        ]
        states = {2: "NULL", 3: "'sent'", 4: "'sent'", 5: "NULL", 6: "NULL", 7: "NULL"}
        states |= {8: "NULL", 9: "'held'"}
        for id_, conversation, direction, visibility, at in replies:
            conn.execute(
                text(
                    message.format(
                        id=id_,
                        conversation=conversation,
                        direction=direction,
                        visibility=visibility,
                        at=at,
                        state=states[id_],
                    )
                )
            )
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, last_preview_outbound FROM conversations")).all()
    assert {int(r[0]): bool(r[1]) for r in rows} == {
        1: False,
        2: True,
        3: False,
        4: False,
        5: False,
    }
    engine.dispose()


def test_a_failed_reply_stops_being_the_answer_and_an_approved_draft_answers_when_approved(
    database_url: str,
) -> None:
    """0020 computes the first response and the preview again where the rule changed: a
    failed reply is neither (conversation 2), an approved draft answers from its approval
    (conversation 3); conversations without either keep theirs (1 and 4)."""
    engine = make_engine(database_url)
    downgrade(engine, "base")
    upgrade(engine, "0001")
    seed_first_schema(engine)  # conversation 1: one inbound message, preview 'hi'
    upgrade(engine, "0019")
    conversation = (
        "INSERT INTO conversations (id, organization_id, brand_account_id, status, priority, "
        "subject, message_count, created_at, last_activity_at, last_preview, "
        "last_preview_outbound, first_inbound_at, first_response_at) VALUES ({id}, 1, 1, "
        f"'open', 1, 'S', 2, {T0}, {T0}, '{{preview}}', true, {T0}, '{{first}}')"
    )
    message = (
        "INSERT INTO messages (id, organization_id, conversation_id, brand_account_id, "
        "direction, visibility, text, native_id, created_at, delivery_attempts, "
        "delivery_state) VALUES ({id}, 1, {conversation}, 1, '{direction}', 'public', "
        "'{text}', 'm{id}', '{at}', 0, {state})"
    )
    with engine.begin() as conn:
        for id_, first in ((2, "2026-01-01 01:00:00"), (3, "2026-01-01 00:10:00")):
            conn.execute(text(conversation.format(id=id_, preview="Sorry!", first=first)))
        conn.execute(text(conversation.format(id=4, preview="On it", first="2026-01-01 00:05:00")))
        for id_, conv, direction, words, at, state in (
            (2, 2, "inbound", "Broken", "2026-01-01 00:00:00", "NULL"),
            (3, 2, "outbound", "Sorry!", "2026-01-01 01:00:00", "'failed'"),
            (4, 3, "inbound", "Refund?", "2026-01-01 00:00:00", "NULL"),
            (5, 3, "outbound", "Sorry!", "2026-01-01 00:10:00", "'sent'"),
            (6, 4, "inbound", "Hello", "2026-01-01 00:00:00", "NULL"),
            (7, 4, "outbound", "On it", "2026-01-01 00:05:00", "'sent'"),
        ):
            conn.execute(
                text(
                    message.format(
                        id=id_,
                        conversation=conv,
                        direction=direction,
                        text=words,
                        at=at,
                        state=state,
                    )
                )
            )
        conn.execute(
            text(
                "INSERT INTO approvals (id, organization_id, message_id, conversation_id, "
                "requested_by_id, reasons, original_text, status, decided_by_id, decided_at, "
                "comment, created_at) VALUES (1, 1, 5, 3, 1, '[]', 'Sorry!', 'approved', 1, "
                "'2026-01-01 00:40:00', '', '2026-01-01 00:10:00')"
            )
        )
    upgrade(engine)
    with get_sessionmaker()() as session:
        rows = {
            c.id: (c.last_preview, c.last_preview_outbound, c.first_response_at)
            for c in session.scalars(select(Conversation))
        }
    assert rows == {
        1: ("hi", False, None),
        2: ("Broken", False, None),
        3: ("Sorry!", True, datetime(2026, 1, 1, 0, 40, tzinfo=UTC)),
        4: ("On it", True, datetime(2026, 1, 1, 0, 5, tzinfo=UTC)),
    }
    engine.dispose()


def test_addresses_website_visitors_gave_are_lower_cased(database_url: str) -> None:
    """0026 lower-cases the addresses visitors typed in the website chat, as email identities
    keep theirs, so the two are found to be one address; other handles stay as written."""
    engine = make_engine(database_url)
    downgrade(engine, "base")
    upgrade(engine, "0001")
    seed_first_schema(engine)
    upgrade(engine, "0025")
    identity = (
        "INSERT INTO contact_identities (id, organization_id, contact_id, channel, native_id, "
        f"handle, created_at) VALUES ({{id}}, 1, 1, '{{channel}}', 'n{{id}}', {{handle}}, {T0})"
    )
    with engine.begin() as conn:
        for row in (
            (11, "web", "' Ann.Lee@Mail.Example '"),
            (12, "web", "NULL"),
            (13, "x", "'@AnnLee'"),
            (14, "email", "'Ann.Lee@Mail.Example'"),
        ):
            conn.execute(text(identity.format(id=row[0], channel=row[1], handle=row[2])))
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, handle FROM contact_identities WHERE id > 10"))
        handles: dict[int, str | None] = {row[0]: row[1] for row in rows}
    assert handles == {
        11: "ann.lee@mail.example",
        12: None,
        13: "@AnnLee",
        14: "Ann.Lee@Mail.Example",
    }
    engine.dispose()


WITHDRAWAL_COLUMNS = {
    "withdrawal_state",
    "withdrawal_reason",
    "withdrawal_error",
    "withdrawal_requested_by_id",
    "withdrawal_requested_at",
    "withdrawn_at",
}


def test_reply_withdrawal_columns_come_and_go_and_search_keeps_working(database_url: str) -> None:
    """0031 adds the withdrawal's columns to messages in place, keeping every message and (on
    SQLite) the full-text triggers a rebuild of the table would drop; down again removes them."""
    from sqlalchemy import inspect

    engine = make_engine(database_url)
    downgrade(engine, "base")
    upgrade(engine, "0001")
    seed_first_schema(engine)
    upgrade(engine, "0031")
    columns = {c["name"] for c in inspect(engine).get_columns("messages")}
    assert columns >= WITHDRAWAL_COLUMNS
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE messages SET withdrawal_state = 'withdrawn', withdrawal_reason = 'typo', "
                "withdrawal_requested_by_id = 1, withdrawal_requested_at = "
                f"{T0}, withdrawn_at = {T0} WHERE id = 1"
            )
        )
        assert conn.execute(text("SELECT text FROM messages WHERE id = 1")).scalar() == (
            "hello there"
        )
        if engine.dialect.name == "sqlite":
            conn.execute(text("UPDATE messages SET text = 'parcel lost' WHERE id = 1"))
            found = conn.execute(
                text("SELECT rowid FROM messages_fts WHERE messages_fts MATCH 'parcel'")
            ).all()
            assert [r[0] for r in found] == [1]
    downgrade(engine, "0030")
    columns = {c["name"] for c in inspect(engine).get_columns("messages")}
    assert not columns & WITHDRAWAL_COLUMNS
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM messages")).scalar() == 1
    downgrade(engine, "base")
    upgrade(engine)
    engine.dispose()


FOLDED = {
    "ix_contacts_name_folded",
    "ix_contact_identities_handle_folded",
    "ix_contact_identities_display_name_folded",
}


def test_customers_folded_names_are_indexed_and_go_down_again(database_url: str) -> None:
    """0033 indexes the customers' folded names, handles and display names (the inbox's search
    for customers reads them); down again drops the three."""
    engine = make_engine(database_url)
    listing = (
        "SELECT name FROM sqlite_master WHERE type = 'index'"
        if engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes"
    )

    def indexes() -> set[str]:
        with engine.connect() as conn:
            return {row[0] for row in conn.execute(text(listing))}

    assert indexes() >= FOLDED
    downgrade(engine, "0032")
    assert not indexes() & FOLDED
    upgrade(engine)
    assert indexes() >= FOLDED
    engine.dispose()


def test_poll_withdrawal_columns_come_and_go(database_url: str) -> None:
    """0034 adds the withdrawal's columns to polls in place; down again they go, and a poll
    withdrawn meanwhile reads as closed (the state before it had none of its own)."""
    from sqlalchemy import inspect

    engine = make_engine(database_url)
    downgrade(engine, "base")
    upgrade(engine, "0001")
    seed_first_schema(engine)
    upgrade(engine, "0034")
    assert {c["name"] for c in inspect(engine).get_columns("polls")} >= WITHDRAWAL_COLUMNS
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO polls (id, organization_id, brand_account_id, question, options, "
                "seconds, multiple, state, reasons, attempts, created_at, state_changed_at, "
                "post_id, withdrawal_state, withdrawal_reason, withdrawal_requested_by_id, "
                "withdrawal_requested_at, withdrawn_at) VALUES (1, 1, 1, 'Tea?', "
                f"'[\"Tea\", \"Coffee\"]', 3600, false, 'withdrawn', '[]', 1, {T0}, {T0}, "
                f"'p1', 'withdrawn', 'wrong account', 1, {T0}, {T0})"
            )
        )
    downgrade(engine, "0034-1")
    assert not {c["name"] for c in inspect(engine).get_columns("polls")} & WITHDRAWAL_COLUMNS
    with engine.connect() as conn:
        assert conn.execute(text("SELECT state, post_id FROM polls")).one() == ("closed", "p1")
    downgrade(engine, "base")
    upgrade(engine)
    engine.dispose()
