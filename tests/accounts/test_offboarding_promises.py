"""Offboarding hands a leaving member's open promises over, and the report says where."""

from __future__ import annotations

from sqlalchemy.orm import Session
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts import flows
from socialdesk.accounts.models import Role
from socialdesk.commitments import service as commitments_service
from socialdesk.commitments.models import Commitment


def test_open_promises_go_to_the_successor_and_into_the_report(session: Session) -> None:
    org = accounts.organization(session)
    admin = accounts.member(session, org, role=Role.ADMIN)
    leaving = accounts.member(session, org)
    successor = accounts.member(session, org)
    account = channels.brand_account(session, org, kind="web")
    conversation = ingest(session, account, inbound()).conversation
    promise = commitments_service.create(
        session, conversation=conversation, actor=leaving, text="We will call you back"
    )
    session.commit()
    assert promise.owner_id == leaving.id

    report = flows.deactivate(session, member=leaving, actor=admin, hand_to_member_id=successor.id)
    session.commit()

    assert [(h.commitment_id, h.to_member_id) for h in report.commitments] == [
        (promise.id, successor.id)
    ]
    assert session.get_one(Commitment, promise.id).owner_id == successor.id
