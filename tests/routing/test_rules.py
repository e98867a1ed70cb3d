"""Routing rules: a small typed condition language, run in order on each new conversation."""

from __future__ import annotations

import pytest

from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Priority
from socialdesk.routing import service as routing_service
from socialdesk.routing.conditions import keyword_pattern, parse_actions, parse_conditions
from socialdesk.routing.models import Strategy
from tests.factories import accounts
from tests.routing.conftest import Desk


def _rule(
    desk: Desk,
    name: str,
    conditions: list[dict[str, object]],
    actions: list[dict[str, object]],
    *,
    stop: bool = False,
) -> None:
    routing_service.create_rule(
        desk.session,
        organization_id=desk.org.id,
        name=name,
        conditions=conditions,
        actions=actions,
        stop=stop,
    )
    desk.session.commit()


def test_rules_run_in_order_and_a_stop_rule_ends_the_list(desk: Desk) -> None:
    _rule(
        desk,
        "Refunds to billing",
        [{"field": "keywords", "op": "any", "value": ["refund", "charged twice"]}],
        [{"type": "set_team", "team_id": desk.billing.id}, {"type": "add_tag", "tag": "refund"}],
        stop=True,
    )
    _rule(desk, "Everything else to care", [], [{"type": "set_team", "team_id": desk.care.id}])

    refund = desk.write("I was CHARGED   twice for one order, I want a refund!")
    other = desk.write("Where can I change my delivery address?")
    unrelated = desk.write("Are refunds possible for refunded items? no: refunded")

    assert refund.team_id == desk.billing.id
    assert conversations_service.tags_of(desk.session, conversation_id=refund.id) == ["refund"]
    assert other.team_id == desk.care.id
    # "refund" matched as a word in the third, so it went to billing too (word boundaries:
    # "refunded" alone would not match; "refunds" is another word and does not either).
    assert unrelated.team_id == desk.care.id
    [routed] = desk.trail(refund.id, "routed")
    assert routed.data == {"rules": "Refunds to billing"}


def test_keywords_match_whole_words_case_insensitively() -> None:
    pattern = keyword_pattern(("refund", "charged twice"))
    assert pattern.search("REFUND please")
    assert pattern.search("you charged\n twice!")
    assert not pattern.search("refunded already")
    assert not pattern.search("prefund")


def test_conditions_read_triage_contact_and_priority(desk: Desk) -> None:
    _rule(
        desk,
        "Angry complaints on X are urgent",
        [
            {"field": "channel", "op": "is", "value": "x"},
            {"field": "is_complaint", "op": "is", "value": True},
            {"field": "sentiment", "op": "in", "value": ["negative"]},
        ],
        [{"type": "set_priority", "priority": "urgent"}, {"type": "add_tag", "tag": "angry"}],
    )
    angry_on_x = desk.write(
        "My internet has been DOWN since yesterday, this is unacceptable!", account=desk.x
    )
    angry_on_web = desk.write("My internet has been DOWN since yesterday, this is unacceptable!")
    assert angry_on_x.priority == Priority.URGENT
    assert angry_on_web.priority < Priority.URGENT
    assert conversations_service.tags_of(desk.session, conversation_id=angry_on_web.id) == []


def test_vip_contacts_and_priority_thresholds(desk: Desk) -> None:
    _rule(
        desk,
        "VIPs",
        [{"field": "contact_vip", "op": "is", "value": True}],
        [{"type": "add_tag", "tag": "vip"}],
    )
    _rule(
        desk,
        "Low priority",
        [{"field": "priority", "op": "<=", "value": "normal"}],
        [{"type": "add_tag", "tag": "routine"}],
    )
    first = desk.write("Thanks, the new timetable works well", author="vip-person")
    assert conversations_service.tags_of(desk.session, conversation_id=first.id) == ["routine"]
    assert first.contact_id is not None
    from socialdesk.contacts.models import Contact

    desk.session.get_one(Contact, first.contact_id).is_vip = True
    desk.session.commit()
    again = desk.write("Another question about the timetable", author="vip-person", thread="t2")
    # Triage raises a VIP's priority, so the second rule no longer holds.
    assert again.priority >= Priority.HIGH
    assert conversations_service.tags_of(desk.session, conversation_id=again.id) == ["vip"]


def test_set_priority_never_lowers_unless_told_to(desk: Desk) -> None:
    _rule(desk, "Lower", [], [{"type": "set_priority", "priority": "low"}])
    angry = desk.write("My internet has been DOWN since yesterday, this is unacceptable!")
    assert angry.priority >= Priority.HIGH
    rules = routing_service.list_rules(desk.session, organization_id=desk.org.id)
    routing_service.update_rule(
        desk.session,
        rule=rules[0],
        name="Lower",
        conditions=[],
        actions=[{"type": "set_priority", "priority": "low", "allow_lower": True}],
        enabled=True,
        stop=False,
    )
    desk.session.commit()
    calm = desk.write("My internet has been DOWN since yesterday, this is unacceptable!")
    assert calm.priority == Priority.LOW


def test_rules_can_assign_and_auto_assign_within_a_team(desk: Desk) -> None:
    desk.settings(Strategy.MANUAL)
    accounts_service_team_member(desk)
    _rule(
        desk,
        "Billing questions",
        [{"field": "keywords", "op": "any", "value": ["invoice"]}],
        [{"type": "set_team", "team_id": desk.billing.id}, {"type": "auto_assign"}],
        stop=True,
    )
    _rule(desk, "Ana takes the rest", [], [{"type": "assign_to", "member_id": desk.ana.id}])
    invoice = desk.write("Where is my invoice?")
    other = desk.write("Hello there")
    assert invoice.assignee_id == desk.cy.id  # the only member of billing
    assert other.assignee_id == desk.ana.id
    assert other.assigned_at is not None


def accounts_service_team_member(desk: Desk) -> None:
    from socialdesk.accounts import service as accounts_service

    accounts_service.add_to_team(desk.session, team=desk.billing, member=desk.cy)
    desk.session.commit()


def test_disabled_rules_do_nothing_and_routing_runs_once(desk: Desk) -> None:
    routing_service.create_rule(
        desk.session,
        organization_id=desk.org.id,
        name="Off",
        conditions=[],
        actions=[{"type": "add_tag", "tag": "off"}],
        enabled=False,
    )
    _rule(desk, "On", [], [{"type": "add_tag", "tag": "on"}])
    conversation = desk.write()
    assert conversations_service.tags_of(desk.session, conversation_id=conversation.id) == ["on"]
    again = routing_service.route(desk.session, conversation=conversation)
    assert again.already_routed
    assert len(desk.trail(conversation.id, "routed")) == 1


@pytest.mark.parametrize(
    ("conditions", "message", "field"),
    [
        (
            {"field": "mood", "op": "is", "value": "x"},
            "condition 1 (mood): field must be one of",
            "conditions[0].field",
        ),
        (
            {"field": "priority", "op": ">", "value": 2},
            "condition 1 (priority): op must be one of =, >=, <=",
            "conditions[0].op",
        ),
        (
            {"field": "priority", "op": ">=", "value": "very"},
            "condition 1 (priority): value must be low, normal, high, urgent or 0 to 3",
            "conditions[0].value",
        ),
        (
            {"field": "channel", "op": "is", "value": "myspace"},
            "condition 1 (channel): value must be one of web, x",
            "conditions[0].value",
        ),
        (
            {"field": "channel", "op": "in", "value": "x"},
            "op in needs a non-empty list",
            "conditions[0].value",
        ),
        (
            {"field": "keywords", "op": "any", "value": [""]},
            "keywords must be non-empty",
            "conditions[0].value",
        ),
        (
            {"field": "is_complaint", "op": "is", "value": "yes"},
            "value must be true or false",
            "conditions[0].value",
        ),
        (
            {"field": "language", "op": "is", "value": "English"},
            "language code like en",
            "conditions[0].value",
        ),
        (
            {"field": "assignee", "op": "is", "value": "someone"},
            "value must be one of none, any",
            "conditions[0].value",
        ),
        ({"field": "team_id", "op": "is"}, "value is missing", "conditions[0].value"),
        (
            {"field": "status", "op": "is", "value": "open", "extra": 1},
            "unknown key 'extra'",
            "conditions[0].extra",
        ),
        ("priority >= 2", "condition 1: must be an object", "conditions[0].field"),
    ],
)
def test_bad_conditions_name_the_condition_and_the_field(
    conditions: object, message: str, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_conditions([conditions])
    assert message in caught.value.message
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("actions", "message", "field"),
    [
        ([], "a rule needs at least one action", "actions"),
        (
            [{"type": "explode"}],
            "action 1 (explode): type must be one of set_team",
            "actions[0].type",
        ),
        ([{"type": "notify", "to": "team_lead"}], "type must be one of", "actions[0].type"),
        (
            [{"type": "set_team"}],
            "action 1 (set_team): team_id must be an id",
            "actions[0].team_id",
        ),
        (
            [{"type": "add_tag", "tag": "!!"}],
            "action 1 (add_tag): tag '!!' must be",
            "actions[0].tag",
        ),
        (
            [{"type": "set_priority", "priority": 9}],
            "priority must be low, normal",
            "actions[0].priority",
        ),
        (
            [{"type": "add_tag", "tag": "a"}, {"type": "assign_to", "member": 3}],
            "action 2 (assign_to): unknown key 'member'",
            "actions[1].member",
        ),
    ],
)
def test_bad_actions_name_the_action_and_the_field(
    actions: object, message: str, field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_actions(
            actions, allowed=("set_team", "set_priority", "add_tag", "assign_to", "auto_assign")
        )
    assert message in caught.value.message
    assert caught.value.field == field


def test_rules_refuse_another_organizations_objects(desk: Desk) -> None:
    other = accounts.organization(desk.session)
    stranger = accounts.member(desk.session, other)
    desk.session.commit()
    with pytest.raises(NotFound) as caught:
        routing_service.create_rule(
            desk.session,
            organization_id=desk.org.id,
            name="Steal",
            conditions=[{"field": "team_id", "op": "is", "value": desk.care.id}],
            actions=[{"type": "assign_to", "member_id": stranger.id}],
        )
    assert caught.value.field == "actions[0].member_id"
    assert f"member {stranger.id} does not exist" in caught.value.message


def test_rules_are_stored_normalised_and_reordered(desk: Desk) -> None:
    rule = routing_service.create_rule(
        desk.session,
        organization_id=desk.org.id,
        name="  Spaces   inside ",
        conditions=[
            {"field": "priority", "op": ">=", "value": "HIGH"},
            {"field": "keywords", "op": "any", "value": ["Refund", "refund", " Charged  twice "]},
        ],
        actions=[{"type": "add_tag", "tag": "#Urgent"}],
    )
    assert rule.name == "Spaces inside"
    assert rule.conditions == [
        {"field": "priority", "op": ">=", "value": 2},
        {"field": "keywords", "op": "any", "value": ["refund", "charged twice"]},
    ]
    assert rule.actions == [{"type": "add_tag", "tag": "urgent"}]
    second = routing_service.create_rule(
        desk.session,
        organization_id=desk.org.id,
        name="B",
        conditions=[],
        actions=[{"type": "auto_assign"}],
    )
    third = routing_service.create_rule(
        desk.session,
        organization_id=desk.org.id,
        name="C",
        conditions=[],
        actions=[{"type": "auto_assign"}],
        position=1,
    )
    names = [r.name for r in routing_service.list_rules(desk.session, organization_id=desk.org.id)]
    assert names == ["C", "Spaces inside", "B"]
    routing_service.move_rule_by(desk.session, rule=second, step=-1)
    routing_service.move_rule_by(desk.session, rule=third, step=1)
    listed = routing_service.list_rules(desk.session, organization_id=desk.org.id)
    assert [r.name for r in listed] == ["B", "C", "Spaces inside"]
    routing_service.reorder_rules(
        desk.session, organization_id=desk.org.id, rule_ids=[third.id, second.id, rule.id]
    )
    listed = routing_service.list_rules(desk.session, organization_id=desk.org.id)
    assert [r.position for r in listed] == [0, 1, 2]
    assert [r.name for r in listed] == ["C", "B", "Spaces inside"]
    with pytest.raises(ValidationFailed, match="exactly once"):
        routing_service.reorder_rules(
            desk.session, organization_id=desk.org.id, rule_ids=[third.id, third.id, rule.id]
        )
    routing_service.delete_rule(desk.session, rule=second)
    listed = routing_service.list_rules(desk.session, organization_id=desk.org.id)
    assert [(r.name, r.position) for r in listed] == [("C", 0), ("Spaces inside", 1)]


def test_a_desk_that_does_not_route_gets_no_routing_trail(desk: Desk) -> None:
    conversation = desk.write()
    assert conversation.assignee_id is None
    assert desk.trail(conversation.id, "routed") == []


def test_a_new_conversation_whose_routing_job_was_lost_is_routed_by_the_recovery(
    desk: Desk,
) -> None:
    from socialdesk.jobs import intents
    from socialdesk.jobs import queue as jobs_queue

    _rule(desk, "Everything to billing", [], [{"type": "set_team", "team_id": desk.billing.id}])
    lost = desk.write("My invoice is wrong", route=False)
    desk.jobs.flush()  # the worker that took its jobs was killed
    assert desk.get(lost.id).team_id is None

    desk.advance(seconds=intents.RECOVER_AFTER.total_seconds())
    desk.session.commit()
    jobs_queue.recover_lost()
    desk.jobs.run_pending()
    assert desk.get(lost.id).team_id == desk.billing.id
    [routed] = desk.trail(lost.id, "routed")
    assert routed.data == {"rules": "Everything to billing"}
