from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Organization
from socialdesk.config import Settings


def test_datetimes_come_back_aware_utc(session: Session) -> None:
    plus_two = timezone(timedelta(hours=2))
    org = Organization(
        name="A", slug="a", settings={}, created_at=datetime(2026, 3, 1, 12, 0, tzinfo=plus_two)
    )
    session.add(org)
    session.commit()
    session.expire_all()
    loaded = session.get_one(Organization, org.id)
    assert loaded.created_at == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert loaded.created_at.tzinfo is not None


def test_naive_datetimes_are_refused(session: Session) -> None:
    session.add(Organization(name="B", slug="b", settings={}, created_at=datetime(2026, 3, 1)))  # noqa: DTZ001
    with pytest.raises(StatementError, match="naive datetime"):
        session.flush()


def test_production_refuses_dev_secrets() -> None:
    with pytest.raises(ValueError, match="SOCIALDESK_SECRET_KEY"):
        Settings(env="production", secret_key="short", encryption_keys="k")
    with pytest.raises(ValueError, match="SOCIALDESK_ENCRYPTION_KEYS"):
        Settings(env="production", secret_key="x" * 40, encryption_keys="")
