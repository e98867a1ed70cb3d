"""Automation rules: immediate triggers, delayed ones fired once by the periodic task, and
"no reply within N minutes" that a reply cancels."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from socialdesk.common.errors import ValidationFailed
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Priority
from socialdesk.notifications import jobs as notification_jobs
from socialdesk.notifications import service as notifications_service
from socialdesk.notifications.models import Notification
from socialdesk.outbound import service as outbound_service
from socialdesk.routing import automation
from socialdesk.routing.models import AutomationRun, Strategy
from tests.routing.conftest import Desk

ANGRY = "My internet has been DOWN since yesterday, this is unacceptable!"


def _lead_rule(desk: Desk, *, delay: int = 15, channel: str = "x") -> None:
    automation.create_rule(
        desk.session,
        organization_id=desk.org.id,
        name="Angry on X, no reply",
        trigger="no_reply",
        delay_minutes=delay,
        conditions=[
            {"field": "is_complaint", "op": "is", "value": True},
            {"field": "sentiment", "op": "is", "value": "negative"},
            {"field": "channel", "op": "is", "value": channel},
        ],
        actions=[{"type": "notify", "to": "team_lead", "webhook": True}],
    )
    desk.care.lead_member_id = desk.owner.id
    desk.session.commit()


def _notifications(desk: Desk) -> list[Notification]:
    desk.session.expire_all()
    return list(
        desk.session.scalars(
            select(Notification).where(Notification.kind == "automation").order_by(Notification.id)
        )
    )


def test_no_reply_notifies_the_team_lead_once_after_fifteen_minutes(desk: Desk) -> None:
    desk.settings(Strategy.ROUND_ROBIN)
    posted: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        posted.append(request)
        return httpx.Response(200, text="ok")

    notification_jobs.webhook_transport = httpx.MockTransport(answer)
    try:
        _lead_rule(desk)
        notifications_service.set_team_webhook(desk.care, "https://hooks.example.com/T/B/x")
        routing_rule_team(desk)
        conversation = desk.write(ANGRY, account=desk.x, author="angry")
        # Writing again is the same wait (timed from the first message); the conversation's
        # sentiment is its latest message's, still negative.
        again = desk.write("Still DOWN. Terrible, unacceptable!", account=desk.x, author="angry")
        assert again.id == conversation.id
        assert again.sentiment == "negative"
        desk.advance(minutes=14, seconds=59)
        desk.tick()
        assert _notifications(desk) == []
        desk.advance(seconds=1)
        desk.tick()
        [sent] = _notifications(desk)
        assert sent.member_id == desk.owner.id
        assert sent.kind == "automation"
        assert sent.conversation_id == conversation.id
        assert sent.title == f"Angry on X, no reply: conversation #{conversation.id}"
        assert len(posted) == 1  # the team's Slack-compatible webhook
        assert b"Angry on X, no reply" in posted[0].content
        for _ in range(3):
            desk.advance(minutes=5)
            desk.tick()
        assert len(_notifications(desk)) == 1  # once, not every minute
        [run] = desk.session.scalars(select(AutomationRun)).all()
        assert run.outcome is not None
        assert run.outcome.startswith("fired: notified 1 person")
        [entry] = desk.trail(conversation.id, "automation")
        assert entry.data["rule"] == "Angry on X, no reply"
    finally:
        notification_jobs.webhook_transport = None


def routing_rule_team(desk: Desk) -> None:
    """Everything goes to care, whose lead is told."""
    from socialdesk.routing import service as routing_service

    routing_service.create_rule(
        desk.session,
        organization_id=desk.org.id,
        name="Care",
        conditions=[],
        actions=[{"type": "set_team", "team_id": desk.care.id}],
    )
    desk.session.commit()


def test_no_reply_does_not_fire_when_a_reply_came_in_time(desk: Desk) -> None:
    # On the website channel, whose replies are delivered in the test (the X account has no
    # credentials, so a reply there would fail and the customer would still be waiting).
    _lead_rule(desk, channel="web")
    routing_rule_team(desk)
    conversation = desk.write(ANGRY, author="angry")
    desk.advance(minutes=10)
    outbound_service.queue_reply(
        desk.session, conversation=conversation, author=desk.ana, text="So sorry, checking now"
    )
    desk.session.commit()
    desk.advance(minutes=10)
    desk.tick()
    assert _notifications(desk) == []
    [run] = desk.session.scalars(select(AutomationRun)).all()
    assert run.outcome == "skipped: answered in time"
    # The customer writes again: a new wait, timed from this message.
    desk.write("Still DOWN. Terrible, unacceptable!", author="angry")
    desk.advance(minutes=15)
    desk.tick()
    assert [n.member_id for n in _notifications(desk)] == [desk.owner.id]


def test_conditions_are_checked_again_when_the_run_is_due(desk: Desk) -> None:
    _lead_rule(desk)
    routing_rule_team(desk)
    conversation = desk.write(ANGRY, account=desk.x, author="angry")
    # Someone moves it to billing (no lead) and marks it not a complaint... the conversation
    # no longer matches when the time comes.
    conversation.is_complaint = False
    desk.session.commit()
    desk.advance(minutes=15)
    desk.tick()
    assert _notifications(desk) == []
    [run] = desk.session.scalars(select(AutomationRun)).all()
    assert run.outcome == "skipped: conditions do not hold"


def test_immediate_rules_fire_on_their_event_once(desk: Desk) -> None:
    automation.create_rule(
        desk.session,
        organization_id=desk.org.id,
        name="Refund words",
        trigger="message.created",
        conditions=[{"field": "keywords", "op": "any", "value": ["refund"]}],
        actions=[{"type": "add_tag", "tag": "refund"}, {"type": "set_priority", "priority": 2}],
    )
    automation.create_rule(
        desk.session,
        organization_id=desk.org.id,
        name="Urgent tells the assignee",
        trigger="conversation.changed",
        conditions=[{"field": "priority", "op": ">=", "value": "urgent"}],
        actions=[{"type": "notify", "to": "member", "member_id": desk.ana.id}],
    )
    desk.session.commit()
    conversation = desk.write("Where is my refund?", author="r")
    assert conversations_service.tags_of(desk.session, conversation_id=conversation.id) == [
        "refund"
    ]
    assert conversation.priority == Priority.HIGH
    assert _notifications(desk) == []
    conversations_service.set_priority(
        desk.session, conversation=conversation, priority=Priority.URGENT, actor=desk.owner
    )
    desk.session.commit()
    desk.jobs.run_pending()
    conversations_service.add_tag(
        desk.session, conversation=conversation, name="later", actor=desk.owner
    )
    desk.session.commit()
    desk.jobs.run_pending()
    # Urgent once: the later tag did not fire the rule again.
    assert [n.member_id for n in _notifications(desk)] == [desk.ana.id]
    assert len(desk.trail(conversation.id, "automation")) == 2


def test_a_delayed_rule_on_a_new_conversation_checks_it_is_still_unassigned(desk: Desk) -> None:
    desk.settings(Strategy.MANUAL)
    automation.create_rule(
        desk.session,
        organization_id=desk.org.id,
        name="Nobody took it",
        trigger="conversation.created",
        delay_minutes=30,
        conditions=[{"field": "assignee", "op": "is", "value": "none"}],
        actions=[{"type": "auto_assign"}],
    )
    desk.session.commit()
    taken, left = desk.write(), desk.write()
    from socialdesk.routing import service as routing_service

    routing_service.claim(desk.session, conversation=taken, member=desk.cy)
    desk.advance(minutes=30)
    desk.tick()
    assert desk.get(taken.id).assignee_id == desk.cy.id
    assert desk.get(left.id).assignee_id is not None
    outcomes = sorted(r.outcome or "" for r in desk.session.scalars(select(AutomationRun)))
    assert outcomes[0].startswith("fired: assigned to")
    assert outcomes[1] == "skipped: conditions do not hold"


@pytest.mark.parametrize(
    ("changes", "message", "field"),
    [
        ({"trigger": "message.deleted"}, "trigger must be one of", "trigger"),
        (
            {"trigger": "no_reply", "delay_minutes": None},
            "needs a delay in minutes (delay_minutes)",
            "delay_minutes",
        ),
        ({"delay_minutes": 0}, "(delay_minutes) must be 1 to", "delay_minutes"),
        (
            {"actions": [{"type": "notify", "to": "boss"}]},
            "action 1 (notify): to must be one of",
            "actions[0].to",
        ),
        (
            {"actions": [{"type": "notify", "to": "member"}]},
            "member_id must be an id",
            "actions[0].member_id",
        ),
        (
            {"actions": [{"type": "notify", "to": "team", "member_id": 3}]},
            "member_id goes only with to: member",
            "actions[0].member_id",
        ),
        (
            {"conditions": [{"field": "priority", "op": "~", "value": 1}]},
            "condition 1 (priority): op",
            "conditions[0].op",
        ),
        ({"name": "   "}, "name the rule", "name"),
    ],
)
def test_bad_automation_rules_are_refused_with_the_field(
    desk: Desk, changes: dict[str, object], message: str, field: str
) -> None:
    rule: dict[str, object] = {
        "name": "Rule",
        "trigger": "message.created",
        "delay_minutes": None,
        "conditions": [],
        "actions": [{"type": "add_tag", "tag": "x"}],
        **changes,
    }
    with pytest.raises(ValidationFailed) as caught:
        automation.create_rule(desk.session, organization_id=desk.org.id, **rule)  # type: ignore[arg-type]
    assert message in caught.value.message
    assert caught.value.field == field


def test_deleting_a_rule_cancels_its_scheduled_runs(desk: Desk) -> None:
    _lead_rule(desk)
    desk.write(ANGRY, account=desk.x, author="angry")
    [rule] = automation.list_rules(desk.session, organization_id=desk.org.id)
    assert len(automation.recent_runs(desk.session, rule=rule)) == 1
    automation.delete_rule(desk.session, rule=rule)
    desk.session.commit()
    desk.advance(minutes=30)
    desk.tick()
    assert desk.session.scalars(select(AutomationRun)).all() == []
    assert _notifications(desk) == []
