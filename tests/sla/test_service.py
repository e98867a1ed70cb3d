"""Which policy applies: the first enabled one, in order, whose set conditions all hold."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session

from socialdesk.common.errors import Conflict, ValidationFailed
from socialdesk.conversations.models import Conversation, Priority
from socialdesk.sla import service as sla_service
from socialdesk.sla.models import SlaPolicy
from socialdesk.sla.schemas import SlaPolicyCreate, SlaPolicyUpdate
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest


def make(session: Session, org_id: int, name: str, **fields: Any) -> SlaPolicy:
    return sla_service.create(
        session,
        organization_id=org_id,
        data=SlaPolicyCreate(name=name, first_response_minutes=60, **fields),
    )


def conversation(session: Session, account_kind: str = "web") -> Conversation:
    org = accounts.organization(session)
    account = channels.brand_account(session, org, kind=account_kind)
    return ingest(session, account, inbound(thread_key="visitor:x")).conversation


def test_first_matching_policy_in_order_wins(session: Session) -> None:
    c = conversation(session)
    org_id = c.organization_id
    c.priority = Priority.HIGH.value
    anything = make(session, org_id, "Anything")
    high = make(session, org_id, "High", priority=Priority.HIGH.value)
    on_x = make(session, org_id, "On X", channel="x")
    assert sla_service.pick(session, conversation=c) is anything  # first in order
    sla_service.reorder(session, organization_id=org_id, ids=[on_x.id, high.id, anything.id])
    assert sla_service.pick(session, conversation=c) is high  # on_x does not hold
    sla_service.update_policy(session, policy=high, data=SlaPolicyUpdate(enabled=False))
    assert sla_service.pick(session, conversation=c) is anything


def test_all_set_conditions_must_hold(session: Session) -> None:
    c = conversation(session)
    org_id = c.organization_id
    c.priority = Priority.URGENT.value
    account = make(
        session, org_id, "This account, urgent", brand_account_id=c.brand_account_id, priority=3
    )
    assert sla_service.pick(session, conversation=c) is account
    c.priority = Priority.HIGH.value
    assert sla_service.pick(session, conversation=c) is None
    web = make(session, org_id, "Website", channel="web")
    assert sla_service.pick(session, conversation=c) is web


def test_positions_stay_dense_after_moves_and_deletes(session: Session) -> None:
    org = accounts.organization(session)
    a, b, c = (make(session, org.id, n) for n in "ABC")
    sla_service.move_to(session, policy=c, position=0)
    assert [p.name for p in sla_service.list_policies(session, organization_id=org.id)] == [
        "C",
        "A",
        "B",
    ]
    sla_service.delete(session, policy=a)
    listed = sla_service.list_policies(session, organization_id=org.id)
    assert [(p.name, p.position) for p in listed] == [("C", 0), ("B", 1)]
    with pytest.raises(ValidationFailed) as bad:
        sla_service.reorder(session, organization_id=org.id, ids=[listed[0].id, listed[0].id])
    assert "repeated" in bad.value.message
    assert b is not None


def test_names_are_unique_and_updates_are_checked(session: Session) -> None:
    org = accounts.organization(session)
    a = make(session, org.id, "A")
    with pytest.raises(Conflict):
        make(session, org.id, "a")
    with pytest.raises(ValidationFailed) as none_left:
        sla_service.update_policy(
            session, policy=a, data=SlaPolicyUpdate(first_response_minutes=None)
        )
    assert none_left.value.field == "first_response_minutes"
