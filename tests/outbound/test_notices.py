"""What people are told of replies: a draft held for approval reaches the approvers, their
decision reaches the author, and a reply that failed for good reaches its author and the
conversation's owner."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories.connectors import RecordingConnector, permanent, transient
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Role
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common.errors import PermissionDenied
from socialdesk.connectors import registry
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Message
from socialdesk.notifications.models import Notification
from socialdesk.outbound import approvals, notices
from socialdesk.outbound import service as outbound
from socialdesk.policy import service as policy_service

REFUNDS = """
rules:
  - id: refunds-need-approval
    explain: "Refund promises need a supervisor's approval."
    action: approve
    terms: [refund]
"""


@pytest.fixture
def fake_x() -> Iterator[RecordingConnector]:
    connector = RecordingConnector()
    with registry.override(connector):
        yield connector


class Team:
    def __init__(self, session: Session) -> None:
        self.org = accounts.organization(session)
        self.author = accounts.member(session, self.org, name="Ana Author")
        self.owner_of_it = accounts.member(session, self.org, name="Olu Owner")
        self.bystander = accounts.member(session, self.org, name="Ben Bystander")
        self.approver = accounts.member(session, self.org, role=Role.APPROVER, name="Pia Approver")
        self.admin = accounts.member(session, self.org, role=Role.ADMIN, name="Ada Admin")
        policy_service.save(
            session, organization_id=self.org.id, yaml_text=REFUNDS, author=self.admin, comment=""
        )
        account = channels.brand_account(session, self.org, kind="x")
        self.conversation = ingest(
            session, account, inbound(native_id="t1", author="cust", text="Where is my refund?")
        ).conversation
        conversations_service.assign(
            session,
            conversation=self.conversation,
            assignee_id=self.owner_of_it.id,
            actor=self.admin,
        )
        session.commit()


def _told(session: Session, kind: str) -> dict[int, Notification]:
    session.expire_all()
    found = session.scalars(select(Notification).where(Notification.kind == kind)).all()
    return {n.member_id: n for n in found}


def test_a_held_draft_reaches_the_approvers_and_their_decision_the_author(
    session: Session, jobs: JobRunner, fake_x: RecordingConnector
) -> None:
    team = Team(session)
    held = outbound.queue_reply(
        session, conversation=team.conversation, author=team.author, text="A refund, today"
    )
    session.commit()

    asked = _told(session, notices.APPROVAL_REQUESTED)
    assert set(asked) == {team.approver.id, team.admin.id}  # those who may approve, no author
    note = asked[team.approver.id]
    assert note.title.startswith("Ana Author's reply to ")
    assert note.title.endswith(" waits for approval")
    assert "Refund promises need a supervisor's approval." in note.body
    assert "“A refund, today”" in note.body
    assert note.link == "/approvals"
    assert note.conversation_id == team.conversation.id

    [approval] = approvals.pending(session, approver=team.admin)
    approvals.approve(
        session,
        approval=approval,
        approver=team.approver,
        edited_text="A refund by Friday",
        comment="dated it",
    )
    session.commit()
    [decided] = _told(session, notices.APPROVAL_DECIDED).values()
    assert decided.member_id == team.author.id
    assert decided.title.endswith(" was approved with changes and is on its way")
    assert decided.body.startswith("Pia Approver: dated it")
    assert "“A refund by Friday”" in decided.body
    assert decided.link == f"/conversations/{team.conversation.id}"
    assert decided.data["message_id"] == held.id


def test_a_rejected_draft_tells_its_author_why(
    session: Session, fake_x: RecordingConnector
) -> None:
    team = Team(session)
    outbound.queue_reply(
        session, conversation=team.conversation, author=team.author, text="A refund, today"
    )
    session.commit()
    [approval] = approvals.pending(session, approver=team.admin)
    approvals.reject(
        session, approval=approval, approver=team.admin, comment="we cannot promise refunds"
    )
    session.commit()
    [decided] = _told(session, notices.APPROVAL_DECIDED).values()
    assert decided.member_id == team.author.id
    assert decided.title.endswith(" was not approved")
    assert decided.body.startswith("Ada Admin: we cannot promise refunds")
    assert decided.data["status"] == "rejected"


def test_a_reply_that_fails_for_good_tells_its_author_and_the_owner(
    session: Session, jobs: JobRunner, fake_x: RecordingConnector
) -> None:
    team = Team(session)
    fake_x.failures = [transient(), permanent()]
    outbound.queue_reply(
        session, conversation=team.conversation, author=team.author, text="We are on it"
    )
    session.commit()
    jobs.run_pending()  # the first attempt fails, and will be tried again: nobody is told
    assert _told(session, notices.REPLY_FAILED) == {}
    jobs.run_pending(include_scheduled=True)  # the second fails for good
    told = _told(session, notices.REPLY_FAILED)
    assert set(told) == {team.author.id, team.owner_of_it.id}
    note = told[team.author.id]
    assert note.title.startswith("A reply to ")
    assert note.title.endswith(" was not sent")
    assert "access tier" in note.body  # the connector's reason
    assert "“We are on it”" in note.body
    assert note.link == f"/conversations/{team.conversation.id}"
    assert team.bystander.id not in told


def test_a_failed_reply_nobody_can_hear_of_goes_to_the_team_lead_else_the_admins(
    session: Session, jobs: JobRunner, fake_x: RecordingConnector
) -> None:
    team = Team(session)
    fake_x.failures = [permanent()]
    reply = outbound.queue_reply(
        session, conversation=team.conversation, author=team.author, text="We are on it"
    )
    # The author leaves and the conversation is left without an owner before the reply fails.
    team.author.is_active = False
    conversations_service.assign(
        session, conversation=team.conversation, assignee_id=None, actor=team.admin
    )
    billing = accounts_service.create_team(session, organization_id=team.org.id, name="Billing")
    billing.lead_member_id = team.bystander.id
    conversations_service.set_team(
        session, conversation=team.conversation, team_id=billing.id, actor=team.admin
    )
    session.commit()
    jobs.run_pending()
    assert set(_told(session, notices.REPLY_FAILED)) == {team.bystander.id}

    # Without a team lead who is active, the admins hear of it.
    team.bystander.is_active = False
    session.commit()
    fake_x.failures = [permanent()]
    outbound.retry(session, message=session.get_one(Message, reply.id), actor=team.admin)
    session.commit()
    jobs.run_pending()
    told = _told(session, notices.REPLY_FAILED)
    assert set(told) == {team.bystander.id, team.admin.id}
    assert "“We are on it”" in told[team.admin.id].body


def test_approvers_who_may_not_act_for_the_account_are_not_asked_and_may_not_decide(
    session: Session, jobs: JobRunner, fake_x: RecordingConnector
) -> None:
    """Letting a draft out (perhaps edited) is writing as the brand account: an account kept
    to some people is approved by those of them who may approve."""
    team = Team(session)
    account = session.get_one(BrandAccount, team.conversation.brand_account_id)
    channels_service.set_access(
        session, account=account, member_ids=[team.author.id, team.admin.id], team_ids=[]
    )
    outbound.queue_reply(
        session, conversation=team.conversation, author=team.author, text="A refund, today"
    )
    session.commit()
    assert set(_told(session, notices.APPROVAL_REQUESTED)) == {team.admin.id}
    assert approvals.pending(session, approver=team.approver) == []
    assert approvals.pending_count(session, approver=team.approver) == 0
    assert approvals.pending_count(session, approver=team.admin) == 1
    assert approvals.pending_count(session, approver=team.author) == 0  # the author may not
    [approval] = approvals.pending(session, approver=team.admin)
    with pytest.raises(PermissionDenied, match=r"you may not act for .*ask an admin for access"):
        approvals.approve(session, approval=approval, approver=team.approver)
    session.rollback()

    # Given access through a team, the approver is asked next time and may decide.
    reviewers = accounts_service.create_team(session, organization_id=team.org.id, name="Review")
    accounts_service.add_to_team(session, team=reviewers, member=team.approver)
    channels_service.set_access(
        session,
        account=account,
        member_ids=[team.author.id, team.admin.id],
        team_ids=[reviewers.id],
    )
    [approval] = approvals.pending(session, approver=team.approver)
    approvals.approve(session, approval=approval, approver=team.approver)
    session.commit()
    jobs.run_pending()
    assert [r.text for r in fake_x.sent] == ["A refund, today"]


def test_approvers_are_the_roles_that_may_approve() -> None:
    assert set(notices.APPROVER_ROLES) == {"approver", "admin", "owner"}
