"""The code of conduct on the one send gateway: every outgoing word is checked."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from tests.conftest import JobRunner
from tests.factories import accounts, channels
from tests.factories.connectors import RecordingConnector
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts.models import AuditEvent, Organization, Role
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.clock import FrozenClock
from socialdesk.common.errors import PermissionDenied
from socialdesk.connectors import registry
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, DeliveryState, Message
from socialdesk.outbound import approvals
from socialdesk.outbound import service as outbound
from socialdesk.policy import service as policy_service
from socialdesk.policy.models import Approval, PolicyDecision
from socialdesk.sla import service as sla_service
from socialdesk.sla.models import SlaClock, Target
from socialdesk.sla.schemas import SlaPolicyCreate

MINISTRY = """
rules:
  - id: no-alcohol
    explain: "We do not talk about drinking: many in our community abstain."
    action: block
    terms: [beer, wine, vodka, booze, drunk, cocktail]
  - id: refunds-need-approval
    explain: "Refund promises need a supervisor's approval."
    action: approve
    terms: [refund]
  - id: careful-sorry
    explain: "Apologies are fine, but do not admit fault in public."
    action: warn
    terms: [fault]
"""


@pytest.fixture
def fake_x() -> Iterator[RecordingConnector]:
    connector = RecordingConnector()
    with registry.override(connector):
        yield connector


def _setup(
    session: Session, *, first_response_minutes: int | None = None
) -> tuple[Conversation, Organization]:
    org = accounts.organization(session)
    if first_response_minutes is not None:  # an SLA policy older than the conversation
        sla_service.create(
            session,
            organization_id=org.id,
            data=SlaPolicyCreate(name="Fast", first_response_minutes=first_response_minutes),
        )
    account = channels.brand_account(session, org, kind="x")
    conversation = ingest(
        session, account, inbound(native_id="t1", text="My order is late")
    ).conversation
    admin = accounts.member(session, org, role=Role.ADMIN)
    policy_service.save(
        session, organization_id=org.id, yaml_text=MINISTRY, author=admin, comment="v1"
    )
    session.commit()
    return conversation, org


@pytest.mark.parametrize(
    "text",
    [
        "Beer and burgers on the weekend yum yum",
        "BEERS and burgers!",
        "#CraftBeer and burgers on the weekend",
        "beeeer and burgers",
        "b33r and burgers",
        "b.e.e.r and burgers",
        "🍺 and burgers on the weekend",
    ],
)
def test_the_ministry_never_tweets_about_beer(
    session: Session, jobs: JobRunner, fake_x: RecordingConnector, text: str
) -> None:
    conversation, org = _setup(session)
    agent = accounts.member(session, org)
    session.commit()
    with pytest.raises(outbound.Blocked) as refused:
        outbound.queue_reply(session, conversation=conversation, author=agent, text=text)
    assert [r.rule for r in refused.value.outcome.reasons] == ["no-alcohol"]
    assert "abstain" in refused.value.message
    session.rollback()  # as the request would
    jobs.run_pending()
    assert fake_x.sent == []
    # The refusal is on record with the policy version that made it, though the request failed.
    decision = session.scalars(select(PolicyDecision)).one()
    assert (decision.decision, decision.stage, decision.message_id) == ("block", "queue", None)
    assert decision.org_version_id is not None
    assert decision.reasons[0]["rule"] == "no-alcohol"


@pytest.mark.parametrize(
    "text",
    ["Burgers on the weekend, yum", "Visit Beersheba with us", "Our winery tour of Swine Lake"],
)
def test_innocent_look_alikes_pass(
    session: Session, jobs: JobRunner, fake_x: RecordingConnector, text: str
) -> None:
    conversation, org = _setup(session)
    agent = accounts.member(session, org)
    outbound.queue_reply(session, conversation=conversation, author=agent, text=text)
    jobs.run_pending()
    assert [r.text for r in fake_x.sent] == [text]


def test_warning_needs_confirmation(
    session: Session, jobs: JobRunner, fake_x: RecordingConnector
) -> None:
    conversation, org = _setup(session)
    agent = accounts.member(session, org)
    session.commit()
    with pytest.raises(outbound.NeedsConfirmation, match="admit fault"):
        outbound.queue_reply(
            session, conversation=conversation, author=agent, text="Sorry, our fault!"
        )
    session.rollback()
    outbound.queue_reply(
        session, conversation=conversation, author=agent, text="Sorry, our fault!", confirmed=True
    )
    jobs.run_pending()
    assert len(fake_x.sent) == 1


def test_a_rule_matched_twice_is_asked_about_once(
    session: Session, jobs: JobRunner, fake_x: RecordingConnector
) -> None:
    conversation, org = _setup(session)
    agent = accounts.member(session, org)
    session.commit()
    with pytest.raises(outbound.NeedsConfirmation) as raised:
        outbound.queue_reply(
            session,
            conversation=conversation,
            author=agent,
            text="Not our fault, and not the driver's fault either.",
        )
    assert raised.value.message == (
        "please confirm: Apologies are fine, but do not admit fault in public."
    )
    session.rollback()


def test_approval_edit_and_delivery_all_in_the_trail(
    session: Session, jobs: JobRunner, fake_x: RecordingConnector
) -> None:
    conversation, org = _setup(session)
    agent = accounts.member(session, org)
    approver = accounts.member(session, org, role=Role.APPROVER)
    held = outbound.queue_reply(
        session, conversation=conversation, author=agent, text="We will refund you today"
    )
    jobs.run_pending()
    assert held.delivery_state == DeliveryState.HELD.value
    assert fake_x.sent == []
    approval = approvals.pending(session, approver=approver)[0]
    assert approval.reasons[0]["rule"] == "refunds-need-approval"
    with pytest.raises(PermissionDenied, match=r"does not allow outbound\.approve"):
        approvals.approve(session, approval=approval, approver=agent)
    with pytest.raises(outbound.Blocked):
        approvals.approve(
            session, approval=approval, approver=approver, edited_text="A refund and a free beer"
        )
    session.rollback()
    # The blocked edit's decision outlives the rollback, as an agent's blocked reply's does.
    blocked = session.scalars(
        select(PolicyDecision).where(PolicyDecision.stage == "approval")
    ).one()
    assert (blocked.decision, blocked.member_id, blocked.message_id) == ("block", approver.id, None)
    assert {r["rule"]: r["decision"] for r in blocked.reasons}["no-alcohol"] == "block"
    approval = approvals.pending(session, approver=approver)[0]
    approvals.approve(
        session,
        approval=approval,
        approver=approver,
        edited_text="We will refund you by Friday",
        comment="dated it",
    )
    jobs.run_pending()
    assert [r.text for r in fake_x.sent] == ["We will refund you by Friday"]
    session.expire_all()
    assert session.get_one(Message, held.id).delivery_state == DeliveryState.SENT.value
    trail = [a.kind for a in conversations_service.activities(session, conversation=conversation)]
    assert trail[-2:] == ["approval_requested", "approval_approved"]
    audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "approval_decided")).one()
    assert audit.before == {"text": "We will refund you today"}
    stages = [d.stage for d in session.scalars(select(PolicyDecision).order_by(PolicyDecision.id))]
    assert stages[-4:] == ["queue", "approval", "approval", "deliver"]


def test_an_edit_that_brings_a_warning_is_confirmed_by_the_approver(
    session: Session, jobs: JobRunner, fake_x: RecordingConnector
) -> None:
    """The approver's decision covers the clauses the draft was held for, not a warning their
    own edit brings: they are asked to confirm it, as an agent is, and a refusal changes
    nothing."""
    conversation, org = _setup(session)
    agent = accounts.member(session, org)
    approver = accounts.member(session, org, role=Role.APPROVER)
    held = outbound.queue_reply(
        session, conversation=conversation, author=agent, text="We will refund you today"
    )
    session.commit()
    approval = approvals.pending(session, approver=approver)[0]
    edit = "We will refund you today, it was our fault"
    with pytest.raises(outbound.NeedsConfirmation) as asked:
        approvals.approve(session, approval=approval, approver=approver, edited_text=edit)
    assert asked.value.message == (
        "please confirm: Apologies are fine, but do not admit fault in public."
    )
    assert [r.rule for r in asked.value.outcome.per_rule()] == ["careful-sorry"]
    # Nothing is half-written, before the caller rolls back or after.
    for _ in range(2):
        message = session.get_one(Message, held.id)
        assert (message.text, message.delivery_state) == (
            "We will refund you today",
            DeliveryState.HELD.value,
        )
        approval = session.get_one(Approval, approval.id)
        assert (approval.status, approval.approved_text, approval.decided_by_id) == (
            "pending",
            None,
            None,
        )
        session.rollback()
    jobs.run_pending()
    assert fake_x.sent == []
    # The refusal is on record, as an agent's unconfirmed warning is.
    refused = session.scalars(
        select(PolicyDecision).where(PolicyDecision.stage == "approval")
    ).one()
    assert (refused.member_id, refused.message_id) == (approver.id, None)
    assert {r["rule"]: r["decision"] for r in refused.reasons}["careful-sorry"] == "warn"

    approval = approvals.pending(session, approver=approver)[0]
    approvals.approve(
        session, approval=approval, approver=approver, edited_text=edit, confirmed=True
    )
    jobs.run_pending()
    assert [r.text for r in fake_x.sent] == [edit]
    # The confirmation is recorded with the message, as an agent's is.
    confirmed = session.scalars(
        select(PolicyDecision).where(
            PolicyDecision.stage == "approval", PolicyDecision.message_id == held.id
        )
    ).one()
    assert confirmed.member_id == approver.id
    assert {r["rule"]: r["decision"] for r in confirmed.reasons} == {
        "refunds-need-approval": "approve",
        "careful-sorry": "warn",
    }


def test_an_edit_is_asked_about_only_the_clauses_the_draft_was_not_held_for(
    session: Session, jobs: JobRunner, fake_x: RecordingConnector
) -> None:
    conversation, org = _setup(session)
    agent = accounts.member(session, org)
    approver = accounts.member(session, org, role=Role.APPROVER)
    links = (
        MINISTRY
        + "  - id: own-links\n    explain: Links to other sites need an approver.\n"
        + "    action: approve\n    allowed_domains: [example.org]\n"
    )
    policy_service.save(session, organization_id=org.id, yaml_text=links, author=agent)
    outbound.queue_reply(
        session,
        conversation=conversation,
        author=agent,
        text="Our fault, sorry: we will refund you today",
    )
    session.commit()
    approval = approvals.pending(session, approver=approver)[0]
    assert {r["rule"] for r in approval.reasons} == {"refunds-need-approval", "careful-sorry"}
    edit = "Our fault, sorry: we will refund you today, see https://help.elsewhere.com"
    with pytest.raises(outbound.NeedsConfirmation) as asked:
        approvals.approve(session, approval=approval, approver=approver, edited_text=edit)
    # The approver already decides on the refund and the fault; the link is new to them.
    assert [r.rule for r in asked.value.outcome.per_rule()] == ["own-links"]
    assert "Links to other sites need an approver." in asked.value.message
    session.rollback()
    approval = approvals.pending(session, approver=approver)[0]
    approvals.approve(
        session, approval=approval, approver=approver, edited_text=edit, confirmed=True
    )
    jobs.run_pending()
    assert [r.text for r in fake_x.sent] == [edit]


def test_a_reply_held_or_rejected_is_neither_the_first_response_nor_the_preview(
    session: Session, jobs: JobRunner, fake_x: RecordingConnector
) -> None:
    conversation, org = _setup(session)
    agent = accounts.member(session, org)
    approver = accounts.member(session, org, role=Role.APPROVER)
    account = session.get_one(BrandAccount, conversation.brand_account_id)

    def customer_writes(text: str) -> None:
        ingest(session, account, inbound(reply_to="t1", text=text, at=clock.now()))
        session.commit()
        session.refresh(conversation)

    outbound.queue_reply(session, conversation=conversation, author=agent, text="A refund, today")
    session.commit()
    customer_writes("Hello?")  # refreshes the conversation's aggregates
    assert conversation.first_response_at is None
    assert (conversation.last_preview, conversation.last_preview_outbound) == ("Hello?", False)

    approval = approvals.pending(session, approver=approver)[0]
    approvals.reject(session, approval=approval, approver=approver, comment="no refunds")
    session.commit()
    customer_writes("Anyone there?")
    assert conversation.first_response_at is None
    assert conversation.last_preview == "Anyone there?"

    sent = outbound.queue_reply(session, conversation=conversation, author=agent, text="Sorry!")
    session.commit()
    session.refresh(conversation)
    assert conversation.first_response_at == sent.created_at
    assert (conversation.last_preview, conversation.last_preview_outbound) == ("Sorry!", True)


def test_an_approved_draft_answers_from_when_it_was_approved(
    session: Session, clock: FrozenClock, jobs: JobRunner, fake_x: RecordingConnector
) -> None:
    """The conversation's first response and its SLA clock agree: a held draft reached the
    customer when the approver let it go, not when it was written."""
    conversation, org = _setup(session, first_response_minutes=60)
    agent = accounts.member(session, org)
    approver = accounts.member(session, org, role=Role.APPROVER)
    session.commit()
    jobs.run_pending()  # the first-response clock starts
    held = outbound.queue_reply(
        session, conversation=conversation, author=agent, text="A refund, today"
    )
    session.commit()
    clock.advance(timedelta(minutes=40))
    approval = approvals.pending(session, approver=approver)[0]
    approvals.approve(session, approval=approval, approver=approver)
    session.commit()
    jobs.run_pending()
    session.expire_all()
    conversation = session.get_one(Conversation, conversation.id)
    approved_at = session.get_one(Approval, approval.id).decided_at
    assert approved_at == held.created_at + timedelta(minutes=40)
    assert conversation.first_response_at == approved_at
    first = session.scalars(
        select(SlaClock).where(
            SlaClock.conversation_id == conversation.id,
            SlaClock.target == Target.FIRST_RESPONSE.value,
        )
    ).one()
    assert first.stopped_at == conversation.first_response_at


def test_approvers_cannot_approve_their_own_drafts(
    session: Session, jobs: JobRunner, fake_x: RecordingConnector
) -> None:
    conversation, org = _setup(session)
    approver = accounts.member(session, org, role=Role.APPROVER)
    outbound.queue_reply(
        session, conversation=conversation, author=approver, text="A refund is on its way"
    )
    approval = approvals.pending(session, approver=approver)[0]
    with pytest.raises(PermissionDenied, match="someone other than the author"):
        approvals.approve(session, approval=approval, approver=approver)


def test_rejected_draft_is_never_sent(
    session: Session, jobs: JobRunner, fake_x: RecordingConnector
) -> None:
    conversation, org = _setup(session)
    agent = accounts.member(session, org)
    approver = accounts.member(session, org, role=Role.APPROVER)
    held = outbound.queue_reply(
        session, conversation=conversation, author=agent, text="Full refund, no questions"
    )
    approval = session.scalars(select(Approval)).one()
    approvals.reject(
        session, approval=approval, approver=approver, comment="We cannot promise that"
    )
    jobs.run_pending()
    assert fake_x.sent == []
    session.expire_all()
    rejected = session.get_one(Message, held.id)
    assert rejected.delivery_state == DeliveryState.REJECTED.value
    assert "We cannot promise that" in (rejected.delivery_error or "")


def test_policy_changed_after_queueing_is_applied_right_before_delivery(
    session: Session, jobs: JobRunner, fake_x: RecordingConnector
) -> None:
    conversation, org = _setup(session)
    agent = accounts.member(session, org)
    queued = outbound.queue_reply(
        session, conversation=conversation, author=agent, text="Lemonade for all"
    )
    session.commit()
    stricter = (
        MINISTRY
        + "  - id: no-lemonade\n    explain: Sponsor conflict.\n"
        + "    action: block\n    terms: [lemonade]\n"
    )
    policy_service.save(session, organization_id=org.id, yaml_text=stricter, author=agent)
    jobs.run_pending()
    assert fake_x.sent == []
    session.expire_all()
    assert "Sponsor conflict" in (session.get_one(Message, queued.id).delivery_error or "")


def test_bad_policy_is_refused_and_the_active_one_stays(session: Session) -> None:
    _conversation, org = _setup(session)
    before = policy_service.latest(session, organization_id=org.id, scope="org")
    with pytest.raises(Exception, match="action"):
        policy_service.save(
            session,
            organization_id=org.id,
            yaml_text="rules:\n  - id: x\n    explain: y\n    action: explode\n    terms: [a]\n",
            author=None,
        )
    session.rollback()
    assert policy_service.latest(session, organization_id=org.id, scope="org") == before


SRC = Path(__file__).resolve().parents[2] / "src" / "socialdesk"


def _calls(attribute: str) -> list[tuple[str, int]]:
    """Where the product calls ``<something>.<attribute>(...)``, connectors aside (they
    implement the calls), and the desk's own mail to its members (notifications/mail.py),
    which never reaches a customer."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        relative = path.relative_to(SRC).as_posix()
        if relative.startswith("connectors/") or relative == "notifications/mail.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == attribute
            ):
                found.append((relative, node.lineno))
    return found


def _function(relative: str, name: str) -> str:
    source = (SRC / relative).read_text()
    tree = ast.parse(source)
    node = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == name)
    return ast.get_source_segment(source, node) or ""


def test_no_code_path_delivers_without_the_gateway() -> None:
    """Only the send gateway calls a connector's send() or publish_poll(): the claim of a
    reply (outbound/service.py) or of a poll (polls/service.py) prepares the call after its
    last check, and the send runner (outbound/sending.py) makes it only after the claim. Any
    other call site would be a way out that skips the code of conduct."""
    sends = _calls("send")
    assert {relative for relative, _line in sends} == {
        "outbound/service.py",
        "outbound/sending.py",
    }, sends
    assert [relative for relative, _line in _calls("publish_poll")] == ["polls/service.py"]
    for relative, call in (
        ("outbound/service.py", "connector.send(context, request)"),
        ("polls/service.py", "publisher.publish_poll(context, request)"),
    ):
        claim = _function(relative, "_claim")
        assert claim.count(call) == 1, relative
        # The call is prepared after the last check, and only a claim that passed returns it.
        assert claim.index("check(session, account") < claim.index(call), relative
        assert (SRC / relative).read_text().count(call) == 1, relative
    run = _function("outbound/sending.py", "run")
    assert run.index("kind.claim(") < run.index("claim.send()")
    assert run.count(".send()") == 1


def test_a_policy_is_never_confused_with_another_that_has_the_same_version_id(
    session: Session, jobs: JobRunner, fake_x: RecordingConnector
) -> None:
    """Two organizations' first versions, and a database reset, give versions with equal ids
    or numbers; the checker must always use the policy's own content."""
    conversation, org = _setup(session)
    other = accounts.organization(session)
    policy_service.save(session, organization_id=other.id, yaml_text="rules: []\n", author=None)
    agent = accounts.member(session, org)
    session.commit()
    for org_id in (other.id, org.id, other.id):
        policy_service.active_for(
            session, organization_id=org_id, brand_account_id=conversation.brand_account_id
        )
    with pytest.raises(outbound.Blocked):
        outbound.queue_reply(session, conversation=conversation, author=agent, text="Free beer!")
