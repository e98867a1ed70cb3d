"""Two workers assigning at once must not both fill a member's last free place."""

from __future__ import annotations

import threading
import time

from socialdesk.accounts.models import Member
from socialdesk.conversations.models import Conversation
from socialdesk.db.session import get_sessionmaker
from socialdesk.routing import assignment
from socialdesk.routing import service as routing_service
from socialdesk.routing.models import Strategy
from tests.routing.conftest import Desk


def test_two_workers_do_not_both_take_the_last_place(desk: Desk) -> None:
    desk.settings(Strategy.LEAST_LOADED)
    for member in (desk.ben, desk.cy):
        routing_service.set_availability(
            desk.session, member=member, availability="away", actor=None
        )
    desk.ana.capacity = 1
    first = desk.write(route=False).id
    second = desk.write(route=False).id
    ana = desk.ana.id
    desk.session.commit()
    desk.session.close()

    maker = get_sessionmaker(write=True)
    results: dict[str, int | None] = {}
    a_holds = threading.Event()

    def worker_b() -> None:
        a_holds.wait(5)
        with maker() as session:
            conversation = session.get_one(Conversation, second)
            chosen = assignment.auto_assign(
                session, conversation=conversation, strategy=Strategy.LEAST_LOADED
            )
            results["b"] = chosen.id if chosen else None
            session.commit()

    b = threading.Thread(target=worker_b)
    b.start()
    with maker() as session:
        conversation = session.get_one(Conversation, first)
        chosen = assignment.auto_assign(
            session, conversation=conversation, strategy=Strategy.LEAST_LOADED
        )
        results["a"] = chosen.id if chosen else None
        session.flush()
        a_holds.set()
        time.sleep(0.5)  # B has read Ana's load (0, A is not committed) and waits for her row
        session.commit()
    b.join(20)
    assert not b.is_alive()
    assert results == {"a": ana, "b": None}
    with maker() as session:
        assert session.get_one(Conversation, second).assignee_id is None
        assert session.get_one(Member, ana).capacity == 1
