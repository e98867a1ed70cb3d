from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from socialdesk.db.migrate import current, downgrade, upgrade
from socialdesk.db.models import Base
from socialdesk.db.session import make_engine


def test_migrations_build_exactly_the_models(database_url: str) -> None:
    """A model changed without a migration (or the reverse) fails here, on both databases."""
    engine = create_engine(database_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = [
            d
            for d in compare_metadata(context, Base.metadata)
            if "messages_fts" not in repr(d) and "ix_messages_text_search" not in repr(d)
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


def test_upgrading_a_database_that_holds_data_keeps_it(database_url: str) -> None:
    """Every migration runs on a desk in use: rows of every kind exist when it runs."""
    from sqlalchemy import text

    engine = make_engine(database_url)
    downgrade(engine, "base")
    upgrade(engine, "0001")
    t0 = "'2026-01-01 00:00:00'"
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
        "organizations": f"1, 'O', 'o', 'UTC', '{{}}', {t0}",
        "members": f"1, 1, 'a@example.org', 'A', 'A', 'owner', true, {t0}",
        "brand_accounts": f"1, 1, 'web', 'site', 'Site', '{{}}', 'k1', 'ok', {t0}",
        "contacts": f"1, 1, 'C', false, '{{}}', {t0}",
        "conversations": f"1, 1, 1, 1, 'open', 1, 'S', 1, {t0}, {t0}, 'hi'",
        "messages": f"1, 1, 1, 1, 'inbound', 'direct', 1, 'hello there', 'm1', {t0}, 0",
        "activities": f"1, 1, 1, 'tagged', '{{}}', {t0}",
    }
    statements = [f"INSERT INTO {table} ({rows[table]}) VALUES ({values[table]})" for table in rows]
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))
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
