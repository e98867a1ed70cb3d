"""Sliding-window counters in the database: the limit, the windows' roll and the prune."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.common.clock import FrozenClock
from socialdesk.db.session import session_scope
from socialdesk.ratelimit import service
from socialdesk.ratelimit.models import RateCounter

MINUTE = timedelta(minutes=1)


def test_hits_count_up_to_the_limit_and_a_new_window_starts_again(
    session: Session, clock: FrozenClock
) -> None:
    assert [service.hit(session, "k", limit=2, window=MINUTE) for _ in range(3)] == [
        True,
        True,
        False,
    ]
    assert service.hit(session, "other", limit=2, window=MINUTE)  # its own count
    clock.advance(MINUTE - timedelta(seconds=1))
    assert not service.hit(session, "k", limit=2, window=MINUTE)
    clock.advance(MINUTE * 2)  # idle for a whole window: nothing of the burst is left
    assert service.hit(session, "k", limit=2, window=MINUTE)
    session.commit()
    counter = session.get_one(RateCounter, "k")
    assert (counter.hits, counter.previous_hits) == (1, 0)
    assert counter.window_start == clock.now().replace(second=0)  # windows start on the minute


def test_a_burst_across_a_window_boundary_is_held_to_the_limit(
    session: Session, clock: FrozenClock
) -> None:
    """Fixed windows let ten hits at the end of one minute and ten at the start of the next
    through: twenty in fifteen seconds against a limit of ten a minute."""
    clock.advance(timedelta(seconds=50))
    assert all(service.hit(session, "k", limit=10, window=MINUTE) for _ in range(10))
    clock.advance(timedelta(seconds=15))  # 5 s into the next minute
    assert not service.hit(session, "k", limit=10, window=MINUTE)
    # As the burst slides out of the last minute, hits are allowed again: 50 s into the
    # window, a sixth of the previous window's ten still counts (1.7) beside these two.
    clock.advance(timedelta(seconds=45))
    assert service.hit(session, "k", limit=10, window=MINUTE)
    session.commit()
    counter = session.get_one(RateCounter, "k")
    assert (counter.hits, counter.previous_hits) == (2, 10)


def test_a_steady_rate_under_the_limit_is_never_refused(
    session: Session, clock: FrozenClock
) -> None:
    for _ in range(60):  # one hit every 7 s for 7 minutes: 8.6 a minute against 10
        assert service.hit(session, "k", limit=10, window=MINUTE)
        clock.advance(timedelta(seconds=7))


def test_a_rolled_back_request_did_not_count(session: Session) -> None:
    service.hit(session, "k", limit=1, window=MINUTE)
    session.rollback()
    assert service.hit(session, "k", limit=1, window=MINUTE)


def test_concurrent_hits_are_all_counted(session: Session) -> None:
    """Each hit is one INSERT ... ON CONFLICT DO UPDATE: racing requests lose none."""
    session.commit()

    def worker() -> None:
        for _ in range(10):
            with session_scope() as own:
                service.hit(own, "busy", limit=1000, window=MINUTE)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    session.expire_all()
    assert session.scalar(select(RateCounter.hits).where(RateCounter.key == "busy")) == 40


def test_prune_drops_counters_idle_for_a_day(session: Session, clock: FrozenClock) -> None:
    service.hit(session, "old", limit=1, window=MINUTE)
    clock.advance(service.KEEP)
    service.hit(session, "new", limit=1, window=MINUTE)
    clock.advance(timedelta(seconds=1))
    assert service.prune(session) == 1
    session.commit()
    assert list(session.scalars(select(RateCounter.key))) == ["new"]


def test_keyed_hides_the_address_and_is_stable() -> None:
    digest = service.keyed("203.0.113.7")
    assert digest == service.keyed("203.0.113.7") != service.keyed("203.0.113.8")
    assert "203" not in digest
