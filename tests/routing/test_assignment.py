"""Auto-assignment among on-duty members: round robin and least loaded, with capacity, away
members skipped, business hours respected and the conversation's language preferred."""

from __future__ import annotations

from datetime import UTC, datetime

from socialdesk.accounts.models import Member
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Status
from socialdesk.routing import duty
from socialdesk.routing import service as routing_service
from socialdesk.routing.models import Strategy
from socialdesk.schedules.models import BusinessHours
from tests.routing.conftest import Desk


def _away(desk: Desk, *members: Member) -> None:
    for member in members:
        routing_service.set_availability(
            desk.session, member=member, availability="away", actor=None
        )
    desk.session.commit()


def test_round_robin_rotates_through_on_duty_members(desk: Desk) -> None:
    desk.settings(Strategy.ROUND_ROBIN)
    assignees = [desk.write().assignee_id for _ in range(7)]
    ana, ben, cy = desk.ana.id, desk.ben.id, desk.cy.id
    assert assignees == [ana, ben, cy, ana, ben, cy, ana]
    trail = desk.trail(desk.conversations[0], "assigned")
    assert trail[0].data == {"from": None, "to": ana}
    assert trail[0].actor_member_id is None  # routing did it, not a person


def test_round_robin_skips_away_members_and_respects_capacity(desk: Desk) -> None:
    desk.settings(Strategy.ROUND_ROBIN)
    _away(desk, desk.ben)
    desk.ana.capacity = 1
    desk.cy.capacity = 2
    desk.session.commit()
    assignees = [desk.write().assignee_id for _ in range(4)]
    # Ana has room for one, Cy for two, Ben is away: the fourth waits in the queue.
    assert assignees == [desk.ana.id, desk.cy.id, desk.cy.id, None]
    assert (
        routing_service.routed_conversations_waiting(desk.session, organization_id=desk.org.id) == 1
    )


def test_least_loaded_gives_work_to_whoever_has_least(desk: Desk) -> None:
    desk.settings(Strategy.MANUAL)
    # Ana already has three open conversations, Ben one (pending counts too), Cy none; a
    # snoozed or resolved conversation takes no place.
    for owner, status in [
        (desk.ana, Status.OPEN),
        (desk.ana, Status.OPEN),
        (desk.ana, Status.PENDING),
        (desk.ben, Status.OPEN),
        (desk.cy, Status.RESOLVED),
    ]:
        conversation = desk.write()
        conversations_service.assign(
            desk.session, conversation=conversation, assignee_id=owner.id, actor=desk.owner
        )
        if status is not Status.OPEN:
            conversations_service.set_status(
                desk.session, conversation=conversation, status=status, actor=desk.owner
            )
    desk.session.commit()
    desk.settings(Strategy.LEAST_LOADED)
    assignees = [desk.write().assignee_id for _ in range(4)]
    ben, cy = desk.ben.id, desk.cy.id
    # Cy (0) -> Cy (1) ties with Ben (1): Ben was never auto-assigned, so he goes first...
    assert assignees == [cy, ben, cy, ben]


def test_capacity_frees_when_a_conversation_is_resolved(desk: Desk) -> None:
    desk.settings(Strategy.ROUND_ROBIN)
    _away(desk, desk.ben, desk.cy)
    desk.ana.capacity = 2
    desk.session.commit()
    first, second, third = (desk.write() for _ in range(3))
    assert (first.assignee_id, second.assignee_id, third.assignee_id) == (
        desk.ana.id,
        desk.ana.id,
        None,
    )
    conversations_service.set_status(
        desk.session, conversation=first, status=Status.RESOLVED, actor=desk.ana
    )
    desk.session.commit()
    desk.jobs.run_pending()  # the resolution's listener asks the queue to look again
    assert desk.get(third.id).assignee_id == desk.ana.id


def test_the_periodic_task_picks_up_waiting_work(desk: Desk) -> None:
    desk.settings(Strategy.ROUND_ROBIN)
    _away(desk, desk.ana, desk.ben, desk.cy)
    waiting = desk.write()
    assert waiting.assignee_id is None
    # Cy comes back while no job runs (the change is made directly in the database).
    desk.cy.availability = "available"
    desk.session.commit()
    desk.tick()
    assert desk.get(waiting.id).assignee_id == desk.cy.id


def test_coming_back_picks_up_waiting_work_at_once(desk: Desk) -> None:
    desk.settings(Strategy.LEAST_LOADED)
    _away(desk, desk.ana, desk.ben, desk.cy)
    waiting = [desk.write() for _ in range(2)]
    change = routing_service.set_availability(
        desk.session, member=desk.ben, availability="available", actor=desk.ben
    )
    desk.session.commit()
    assert sorted(change.picked_up) == sorted(c.id for c in waiting)
    assert {desk.get(c.id).assignee_id for c in waiting} == {desk.ben.id}


def test_the_conversations_language_is_preferred_when_someone_speaks_it(desk: Desk) -> None:
    desk.settings(Strategy.ROUND_ROBIN)
    desk.cy.languages = ["es", "en"]
    desk.ben.languages = ["en"]
    desk.session.commit()
    spanish = [
        desk.write("Hola, mi pedido no ha llegado todavía y necesito ayuda por favor")
        for _ in range(2)
    ]
    assert {c.language for c in spanish} == {"es"}
    assert [c.assignee_id for c in spanish] == [desk.cy.id, desk.cy.id]
    # When the only Spanish speaker is full, someone else still gets it.
    desk.cy.capacity = 2
    desk.session.commit()
    third = desk.write("Hola, mi pedido no ha llegado todavía y necesito ayuda por favor")
    assert third.assignee_id in (desk.ana.id, desk.ben.id)


def _office_hours(desk: Desk) -> BusinessHours:
    hours = BusinessHours(
        organization_id=desk.org.id,
        name="Office",
        timezone="Europe/Madrid",
        intervals={str(day): [["09:00", "17:00"]] for day in range(5)},
        holidays=["2026-01-06"],
        created_at=desk.clock.now(),
        updated_at=desk.clock.now(),
    )
    desk.session.add(hours)
    desk.session.flush()
    return hours


def test_on_duty_follows_availability_and_team_hours(desk: Desk) -> None:
    hours = _office_hours(desk)
    desk.billing.business_hours_id = hours.id
    from socialdesk.accounts import service as accounts_service

    accounts_service.add_to_team(desk.session, team=desk.billing, member=desk.owner)
    desk.owner.availability = "available"
    desk.session.commit()
    org = desk.org.id
    # Monday 5 January 2026, 09:00 UTC is 10:00 in Madrid: billing is open.
    monday = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def names(at: datetime, team: int | None = None) -> list[str]:
        members = duty.on_duty_members(desk.session, organization_id=org, team_id=team, at=at)
        return [m.name for m in members]

    assert names(monday) == ["Olivia Owner", "Ana", "Ben", "Cy"]
    assert names(monday, desk.billing.id) == ["Olivia Owner"]
    # 17:30 in Madrid: billing has closed; care has no hours (around the clock).
    evening = datetime(2026, 1, 5, 16, 30, tzinfo=UTC)
    assert names(evening) == ["Ana", "Ben", "Cy"]
    assert names(evening, desk.billing.id) == []
    # Tuesday 6 January is a holiday in the schedule.
    assert names(datetime(2026, 1, 6, 10, 0, tzinfo=UTC), desk.billing.id) == []
    _away(desk, desk.ben)
    assert names(monday) == ["Olivia Owner", "Ana", "Cy"]
    reason = duty.off_duty_reason(desk.session, member=desk.owner, at=evening)
    assert reason == "Olivia Owner's working hours ended"


def test_a_closed_team_gets_no_assignments_until_it_opens(desk: Desk) -> None:
    from socialdesk.accounts import service as accounts_service

    hours = _office_hours(desk)
    desk.billing.business_hours_id = hours.id
    accounts_service.add_to_team(desk.session, team=desk.billing, member=desk.cy)
    desk.session.commit()
    desk.settings(Strategy.ROUND_ROBIN)
    routing_service.create_rule(
        desk.session,
        organization_id=desk.org.id,
        name="Invoices",
        conditions=[{"field": "keywords", "op": "any", "value": ["invoice"]}],
        actions=[{"type": "set_team", "team_id": desk.billing.id}],
    )
    desk.session.commit()
    desk.clock.set(datetime(2026, 1, 5, 19, 0, tzinfo=UTC))  # 20:00 in Madrid
    late = desk.write("Where is my invoice?")
    assert late.team_id == desk.billing.id
    assert late.assignee_id is None
    # Next working morning (the 6th is a holiday): Wednesday 08:00 UTC, 09:00 in Madrid.
    desk.clock.set(datetime(2026, 1, 7, 8, 0, tzinfo=UTC))
    desk.tick()
    assert desk.get(late.id).assignee_id == desk.cy.id
