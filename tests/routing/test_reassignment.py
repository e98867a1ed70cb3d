"""Reassignment: work goes back to routing when its assignee goes away or their hours end,
and to someone else when the customer waited too long for an answer."""

from __future__ import annotations

from datetime import UTC, datetime

from socialdesk.accounts import service as accounts_service
from socialdesk.conversations.models import Status
from socialdesk.outbound import service as outbound_service
from socialdesk.routing import service as routing_service
from socialdesk.routing.models import Strategy
from socialdesk.schedules.models import BusinessHours
from tests.routing.conftest import Desk


def test_going_away_hands_open_work_to_colleagues_with_the_reason(desk: Desk) -> None:
    desk.settings(Strategy.ROUND_ROBIN)
    first, second, third = (desk.write() for _ in range(3))
    assert first.assignee_id == desk.ana.id
    change = routing_service.set_availability(
        desk.session, member=desk.ana, availability="away", actor=desk.ana
    )
    desk.session.commit()
    assert change.reassigned == [first.id]
    moved = desk.get(first.id)
    assert moved.assignee_id in (desk.ben.id, desk.cy.id)
    [entry] = desk.trail(first.id, "reassigned")
    assert entry.data == {"reason": "Ana went away"}
    assert entry.actor_member_id == desk.ana.id
    assert desk.member(desk.ana.id).availability_changed_at == desk.clock.now()
    # Nothing else moved, and going away twice changes nothing.
    assert desk.get(second.id).assignee_id == desk.ben.id
    again = routing_service.set_availability(
        desk.session, member=desk.ana, availability="away", actor=desk.ana
    )
    assert not again.changed
    assert third.assignee_id == desk.cy.id


def test_going_away_with_nobody_free_puts_work_back_in_the_queue(desk: Desk) -> None:
    desk.settings(Strategy.MANUAL)
    conversation = desk.write()
    from socialdesk.conversations import service as conversations_service

    conversations_service.assign(
        desk.session, conversation=conversation, assignee_id=desk.ana.id, actor=desk.ana
    )
    desk.session.commit()
    routing_service.set_availability(
        desk.session, member=desk.ana, availability="away", actor=desk.ana
    )
    desk.session.commit()
    assert desk.get(conversation.id).assignee_id is None  # manual desks: the unassigned queue
    [entry] = desk.trail(conversation.id, "reassigned")
    assert entry.data == {"reason": "Ana went away"}


def test_going_away_keeps_work_when_the_organization_says_so(desk: Desk) -> None:
    desk.settings(Strategy.ROUND_ROBIN, reassign_when_away=False)
    conversation = desk.write()
    routing_service.set_availability(
        desk.session, member=desk.ana, availability="away", actor=desk.ana
    )
    desk.session.commit()
    desk.tick()
    assert desk.get(conversation.id).assignee_id == desk.ana.id
    assert desk.trail(conversation.id, "reassigned") == []


def test_work_goes_back_when_the_teams_hours_end(desk: Desk) -> None:
    desk.clock.set(datetime(2026, 1, 5, 15, 0, tzinfo=UTC))  # Monday 16:00 in Madrid
    hours = BusinessHours(
        organization_id=desk.org.id,
        name="Office",
        timezone="Europe/Madrid",
        intervals={str(day): [["09:00", "17:00"]] for day in range(5)},
        created_at=desk.clock.now(),
        updated_at=desk.clock.now(),
    )
    desk.session.add(hours)
    desk.session.flush()
    desk.billing.business_hours_id = hours.id
    accounts_service.remove_from_team(desk.session, team=desk.care, member=desk.ana)
    accounts_service.add_to_team(desk.session, team=desk.billing, member=desk.ana)
    desk.session.commit()
    desk.settings(Strategy.ROUND_ROBIN)
    conversation = desk.write()
    assert conversation.assignee_id == desk.ana.id
    desk.tick()
    assert desk.get(conversation.id).assignee_id == desk.ana.id  # still within hours
    desk.clock.set(datetime(2026, 1, 5, 16, 1, tzinfo=UTC))  # 17:01 in Madrid
    desk.tick()
    moved = desk.get(conversation.id)
    assert moved.assignee_id in (desk.ben.id, desk.cy.id)  # care works around the clock
    [entry] = desk.trail(conversation.id, "reassigned")
    assert entry.data == {"reason": "Ana's working hours ended"}
    # Ana claims a conversation after hours: it stays with her.
    late = desk.write(route=False)
    routing_service.claim(desk.session, conversation=late, member=desk.ana)
    desk.tick()
    assert desk.get(late.id).assignee_id == desk.ana.id


def test_an_unanswered_customer_is_reassigned_after_the_timeout(desk: Desk) -> None:
    desk.settings(Strategy.ROUND_ROBIN, reassign_after_minutes=30)
    waiting = desk.write()
    answered = desk.write()
    assert (waiting.assignee_id, answered.assignee_id) == (desk.ana.id, desk.ben.id)
    desk.advance(minutes=10)
    outbound_service.queue_reply(
        desk.session, conversation=answered, author=desk.ben, text="We are on it!"
    )
    desk.advance(minutes=19)
    desk.tick()
    assert desk.get(waiting.id).assignee_id == desk.ana.id  # 29 minutes: not yet
    desk.advance(minutes=1)
    desk.tick()
    moved = desk.get(waiting.id)
    assert moved.assignee_id == desk.cy.id  # next in the rotation, never Ana again
    assert moved.assigned_at == desk.clock.now()
    [entry] = desk.trail(waiting.id, "reassigned")
    assert entry.data == {"reason": "Ana did not answer within 30 minutes"}
    assert desk.get(answered.id).assignee_id == desk.ben.id  # Ben answered in time
    # Cy gets the full 30 minutes from the moment the conversation reached him.
    desk.advance(minutes=29)
    desk.tick()
    assert desk.get(waiting.id).assignee_id == desk.cy.id
    desk.advance(minutes=1)
    desk.tick()
    assert desk.get(waiting.id).assignee_id != desk.cy.id


def test_the_timeout_counts_from_the_customers_latest_message(desk: Desk) -> None:
    desk.settings(Strategy.ROUND_ROBIN, reassign_after_minutes=30)
    conversation = desk.write(author="pat")
    desk.advance(minutes=5)
    outbound_service.queue_reply(
        desk.session, conversation=conversation, author=desk.ana, text="Looking into it"
    )
    desk.advance(minutes=40)
    desk.write("Any news?", author="pat")  # the same thread: waiting again from now
    desk.advance(minutes=29)
    desk.tick()
    assert desk.get(conversation.id).assignee_id == desk.ana.id
    desk.advance(minutes=1)
    desk.tick()
    assert desk.get(conversation.id).assignee_id != desk.ana.id


def test_a_timed_out_conversation_stays_when_nobody_else_is_free(desk: Desk) -> None:
    desk.settings(Strategy.ROUND_ROBIN, reassign_after_minutes=15)
    for member in (desk.ben, desk.cy):
        routing_service.set_availability(
            desk.session, member=member, availability="away", actor=None
        )
    desk.session.commit()
    conversation = desk.write()
    desk.advance(minutes=20)
    desk.tick()
    assert desk.get(conversation.id).assignee_id == desk.ana.id
    assert desk.trail(conversation.id, "reassigned") == []


def test_resolved_and_pending_conversations_are_not_reassigned(desk: Desk) -> None:
    from socialdesk.conversations import service as conversations_service

    desk.settings(Strategy.ROUND_ROBIN, reassign_after_minutes=15)
    resolved, pending = desk.write(), desk.write()
    for conversation, status in ((resolved, Status.RESOLVED), (pending, Status.PENDING)):
        conversations_service.set_status(
            desk.session, conversation=conversation, status=status, actor=desk.owner
        )
    desk.advance(minutes=60)
    desk.tick()
    assert desk.get(resolved.id).assignee_id == desk.ana.id
    assert desk.get(pending.id).assignee_id == desk.ben.id


def test_claiming_takes_any_conversation_whatever_its_team(desk: Desk) -> None:
    desk.settings(Strategy.MANUAL)
    conversation = desk.write()
    from socialdesk.conversations import service as conversations_service

    conversations_service.set_team(
        desk.session, conversation=conversation, team_id=desk.billing.id, actor=desk.owner
    )
    routing_service.set_availability(
        desk.session, member=desk.ana, availability="away", actor=desk.ana
    )
    routing_service.claim(desk.session, conversation=conversation, member=desk.ana)
    desk.session.commit()
    claimed = desk.get(conversation.id)
    assert claimed.assignee_id == desk.ana.id  # Ana is in care, not billing
    assert claimed.team_id == desk.billing.id
    assert claimed.assigned_at == desk.clock.now()
    assert desk.member(desk.ana.id).availability == "available"  # clearly at work
    assert [a.kind for a in desk.trail(conversation.id)][-2:] == ["assigned", "claimed"]
