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
