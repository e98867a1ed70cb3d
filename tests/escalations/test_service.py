"""Escalation requests: asking another team or person keeps the conversation with its owner,
tells the right people (a team's lead first), is tracked through done or cancelled, and an
overdue request is announced exactly once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.accounts import flows
from socialdesk.accounts.models import Member, Role
from socialdesk.common import clock
from socialdesk.common.clock import FrozenClock
from socialdesk.common.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from socialdesk.conversations.models import Activity, Conversation
from socialdesk.db.session import session_scope
from socialdesk.escalations import service
from socialdesk.escalations.models import EscalationRequest
from socialdesk.events.models import EventRecord
from socialdesk.jobs import registry
from socialdesk.notifications import service as notifications_service
from socialdesk.notifications.models import Notification
from tests.conftest import JobRunner
from tests.escalations.conftest import Desk
from tests.factories import accounts


def _notes(session: Session, kind: str | None = None) -> list[Notification]:
    session.expire_all()
    stmt = select(Notification).order_by(Notification.id)
    if kind:
        stmt = stmt.where(Notification.kind == kind)
    return list(session.scalars(stmt))


def _trail(session: Session, desk: Desk) -> list[Activity]:
    return list(
        session.scalars(
            select(Activity)
            .where(
                Activity.conversation_id == desk.conversation.id,
                Activity.kind.like("escalation%"),
            )
            .order_by(Activity.id)
        )
    )


def _ask_billing(session: Session, desk: Desk, **extra: object) -> EscalationRequest:
    request = service.create(
        session,
        conversation=desk.conversation,
        requested_by=desk.alex,
        text="Please refund order 123",
        team_id=desk.billing.id,
        **extra,  # type: ignore[arg-type]  # create's keyword arguments
    )
    session.commit()
    return request


def test_asking_a_team_keeps_the_owner_and_tells_the_team_lead_first(
    session: Session, desk: Desk
) -> None:
    due = clock.now() + timedelta(hours=4)
    request = _ask_billing(session, desk, due_at=due)
    conversation = session.get_one(Conversation, desk.conversation.id)
    assert (conversation.assignee_id, conversation.team_id) == (desk.alex.id, desk.care.id)
    assert request.status == "open"
    assert request.due_at == due
    told = _notes(session, "escalation.requested")
    assert [n.member_id for n in told] == [desk.lena.id, desk.bo.id]  # the lead first
    assert told[0].title == "Alex Agent asks Billing: Please refund order 123"
    assert "Due: Mon 05 Jan 2026, 13:00 (UTC)" in told[0].body
    assert told[0].link == f"/conversations/{desk.conversation.id}"
    assert told[0].data == {"request_id": request.id}
    (activity,) = _trail(session, desk)
    assert activity.kind == "escalation_requested"
    assert activity.actor_member_id == desk.alex.id
    assert activity.data["team_id"] == desk.billing.id
    assert activity.data["text"] == "Please refund order 123"
    event = session.scalars(
        select(EventRecord).where(EventRecord.kind == "escalation.created")
    ).one()
    assert event.payload == {
        "conversation_id": desk.conversation.id,
        "request_id": request.id,
        "requested_by_id": desk.alex.id,
        "team_id": desk.billing.id,
        "member_id": None,
    }


def test_asking_a_person_tells_only_them_and_never_the_asker(session: Session, desk: Desk) -> None:
    service.create(
        session,
        conversation=desk.conversation,
        requested_by=desk.alex,
        text="Can you check the charge?",
        member_id=desk.bo.id,
    )
    # A member of the team asking their own team: everyone else in it hears, not them.
    service.create(
        session,
        conversation=desk.conversation,
        requested_by=desk.bo,
        text="Lena, please approve",
        team_id=desk.billing.id,
    )
    session.commit()
    told = [(n.member_id, n.title) for n in _notes(session, "escalation.requested")]
    assert told == [
        (desk.bo.id, "Alex Agent asks you: Can you check the charge?"),
        (desk.lena.id, "Bo Billing asks Billing: Lena, please approve"),
    ]


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"text": "x"}, "choose a team or a person"),
        ({"text": "  ", "team_id": "billing"}, "say what you need"),
        ({"text": "x" * 4001, "team_id": "billing"}, "keep it under 4000"),
        ({"text": "x", "member_id": "alex"}, "cannot ask yourself"),
        ({"text": "x", "team_id": "billing", "due_at": -1}, "must be in the future"),
        ({"text": "x", "team_id": "field"}, "nobody would hear of this"),
    ],
)
def test_requests_that_cannot_work_are_refused(
    session: Session, desk: Desk, fields: dict[str, object], says: str
) -> None:
    names = {"billing": desk.billing.id, "field": desk.field.id, "alex": desk.alex.id}
    kwargs = {
        k: names.get(v, v) if isinstance(v, str) and k != "text" else v for k, v in fields.items()
    }
    if kwargs.get("due_at") == -1:
        kwargs["due_at"] = clock.now() - timedelta(minutes=1)
    with pytest.raises(ValidationFailed) as refused:
        service.create(
            session,
            conversation=desk.conversation,
            requested_by=desk.alex,
            **kwargs,  # type: ignore[arg-type]
        )
    assert says in refused.value.message
    session.rollback()
    assert session.scalars(select(EscalationRequest)).all() == []


def test_other_organizations_people_and_deactivated_people_cannot_be_asked(
    session: Session, desk: Desk
) -> None:
    with pytest.raises(NotFound, match="does not exist") as unknown:
        service.create(
            session,
            conversation=desk.conversation,
            requested_by=desk.alex,
            text="x",
            member_id=desk.stranger.id,
        )
    assert unknown.value.field == "member_id"
    with pytest.raises(NotFound, match="team 999999 does not exist") as unknown:
        service.create(
            session,
            conversation=desk.conversation,
            requested_by=desk.alex,
            text="x",
            team_id=999_999,
        )
    assert unknown.value.field == "team_id"
    desk.bo.is_active = False
    with pytest.raises(ValidationFailed, match="deactivated"):
        service.create(
            session,
            conversation=desk.conversation,
            requested_by=desk.alex,
            text="x",
            member_id=desk.bo.id,
        )
    with pytest.raises(NotFound):
        service.create(
            session,
            conversation=desk.other_conversation,
            requested_by=desk.alex,
            text="x",
            team_id=desk.billing.id,
        )


def test_a_team_with_only_a_webhook_can_be_asked_and_hears_by_webhook(
    session: Session, desk: Desk, jobs: JobRunner
) -> None:
    notifications_service.set_team_webhook(desk.field, "https://hooks.example.com/field")
    session.commit()
    request = service.create(
        session,
        conversation=desk.conversation,
        requested_by=desk.alex,
        text="Send a technician",
        team_id=desk.field.id,
    )
    session.commit()
    assert request.id
    queued = jobs.huey.pending()
    assert len(queued) == 1
    name, payload = queued[0].args[:2]
    assert name == notifications_service.WEBHOOK_JOB
    assert payload["team_id"] == desk.field.id
    assert payload["payload"]["text"].startswith("Alex Agent asks Field: Send a technician")
    fields = payload["payload"]["blocks"][2]["fields"]
    assert {"type": "mrkdwn", "text": "*Asked by*\nAlex Agent"} in fields
    jobs.flush()


def test_done_tells_the_requester_and_the_owner_who_answer_the_customer(
    session: Session, desk: Desk
) -> None:
    # Olivia asked on Alex's conversation; Bo in Billing does it.
    request = service.create(
        session,
        conversation=desk.conversation,
        requested_by=desk.owner,
        text="Please refund order 123",
        team_id=desk.billing.id,
    )
    session.commit()
    service.mark_done(session, request=request, actor=desk.bo, resolution="Refunded 42.00")
    session.commit()
    assert request.status == "done"
    assert request.closed_by_id == desk.bo.id
    assert request.closed_at == clock.now()
    assert request.resolution == "Refunded 42.00"
    done = _notes(session, "escalation.done")
    assert sorted(n.member_id for n in done) == sorted([desk.owner.id, desk.alex.id])
    assert done[0].title == "Done by Bo Billing: Please refund order 123"
    assert done[0].body.startswith("Refunded 42.00")
    assert "is still yours: answer the customer" in done[0].body
    conversation = session.get_one(Conversation, desk.conversation.id)
    assert conversation.assignee_id == desk.alex.id  # the owner never changed
    assert [a.kind for a in _trail(session, desk)] == ["escalation_requested", "escalation_done"]
    assert session.scalars(
        select(EventRecord.payload).where(EventRecord.kind == "escalation.closed")
    ).one() == {
        "conversation_id": desk.conversation.id,
        "request_id": request.id,
        "status": "done",
        "closed_by_id": desk.bo.id,
    }
    with pytest.raises(Conflict, match="already done"):
        service.cancel(session, request=request, actor=desk.alex)


def test_done_needs_a_note_and_the_requester_closing_it_is_not_told(
    session: Session, desk: Desk
) -> None:
    request = _ask_billing(session, desk)
    with pytest.raises(ValidationFailed, match="say what was done"):
        service.mark_done(session, request=request, actor=desk.bo, resolution="  ")
    service.mark_done(session, request=request, actor=desk.alex, resolution="Sorted by phone")
    session.commit()
    assert _notes(session, "escalation.done") == []  # Alex did it and owns it


def test_cancelling_tells_whoever_was_asked(session: Session, desk: Desk) -> None:
    request = _ask_billing(session, desk)
    service.cancel(session, request=request, actor=desk.alex, reason="Customer withdrew")
    session.commit()
    assert request.status == "cancelled"
    assert request.resolution == "Customer withdrew"
    cancelled = _notes(session, "escalation.cancelled")
    assert sorted(n.member_id for n in cancelled) == sorted([desk.lena.id, desk.bo.id])
    assert cancelled[0].body.startswith("Why: Customer withdrew")
    with pytest.raises(Conflict):
        service.mark_done(session, request=request, actor=desk.bo, resolution="done anyway")


def test_only_those_asked_the_asker_the_owner_and_admins_may_close_a_request(
    session: Session, desk: Desk
) -> None:
    pat = accounts.member(session, desk.org, role=Role.AGENT, name="Pat Bystander")
    session.commit()
    request = _ask_billing(session, desk)  # Alex asks Billing (Lena leads, Bo is a member)
    conversation = desk.conversation

    def rights(member: Member) -> tuple[bool, bool]:
        found = service.close_rights(
            session,
            request=request,
            actor=member,
            conversation=conversation,
        )
        return found.done, found.cancel

    assert rights(pat) == (False, False)  # neither asked, nor asking, nor owning
    assert rights(desk.bo) == (True, False)  # asked: may do it, not drop it
    assert rights(desk.lena) == (True, False)  # the asked team's lead
    assert rights(desk.alex) == (True, True)  # asked, and owns the conversation
    assert rights(desk.owner) == (True, True)  # an admin
    assert rights(desk.stranger) == (False, False)

    with pytest.raises(PermissionDenied, match="marked done by whoever was asked"):
        service.mark_done(session, request=request, actor=pat, resolution="Refunded")
    with pytest.raises(PermissionDenied, match="cancelled by whoever asked"):
        service.cancel(session, request=request, actor=desk.bo)
    session.rollback()
    assert session.get_one(EscalationRequest, request.id).status == "open"
    assert _trail(session, desk)[-1].kind == "escalation_requested"  # nothing half-written
    service.mark_done(session, request=request, actor=desk.lena, resolution="Refunded 42.00")
    session.commit()
    assert request.closed_by_id == desk.lena.id


# -- overdue ------------------------------------------------------------------------------


def test_an_overdue_request_is_announced_to_owner_and_team_once(
    session: Session, desk: Desk, clock: FrozenClock
) -> None:
    request = _ask_billing(session, desk, due_at=clock.now() + timedelta(hours=1))
    on_time = service.create(
        session,
        conversation=desk.conversation,
        requested_by=desk.alex,
        text="Not urgent",
        member_id=desk.bo.id,
        due_at=clock.now() + timedelta(hours=3),
    )
    session.commit()
    assert service.overdue_candidates(session, now=clock.now()) == []
    clock.advance(timedelta(hours=1, minutes=1))
    assert service.overdue_candidates(session, now=clock.now()) == [request.id]
    assert service.is_overdue(request)
    assert not service.is_overdue(on_time)

    handler = next(p for p in registry.all_periodic() if p.name == "escalations.overdue")
    session.commit()
    handler.handler()
    handler.handler()  # the next minute: nothing new
    overdue = _notes(session, "escalation.overdue")
    assert sorted(n.member_id for n in overdue) == sorted([desk.alex.id, desk.lena.id, desk.bo.id])
    owners = [n for n in overdue if n.member_id == desk.alex.id]
    assert owners[0].title == "Your request is overdue: Please refund order 123"
    assert "was due Mon 05 Jan 2026, 10:00 (UTC)" in owners[0].body
    assert [a.kind for a in _trail(session, desk)].count("escalation_overdue") == 1
    assert service.overdue_candidates(session, now=clock.now()) == []
    assert not service.notify_overdue(session, request_id=request.id, now=clock.now())

    # A request closed before it fell due is never announced.
    clock.advance(timedelta(hours=5))
    service.mark_done(session, request=on_time, actor=desk.bo, resolution="checked")
    session.commit()
    handler.handler()
    assert len(_notes(session, "escalation.overdue")) == 3


def test_two_workers_announcing_at_once_announce_once(
    session: Session, desk: Desk, clock: FrozenClock
) -> None:
    request = _ask_billing(session, desk, due_at=clock.now() + timedelta(minutes=30))
    session.commit()
    clock.advance(timedelta(hours=1))
    start = threading.Barrier(4)
    results: list[bool] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            start.wait(timeout=10)
            with session_scope() as s:
                results.append(service.notify_overdue(s, request_id=request.id, now=clock.now()))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert sorted(results) == [False, False, False, True]
    assert len(_notes(session, "escalation.overdue")) == 3  # Alex, Lena, Bo: once each


# -- lists --------------------------------------------------------------------------------


def test_requests_for_me_for_my_teams_and_by_me(
    session: Session, desk: Desk, clock: FrozenClock
) -> None:
    to_team = _ask_billing(session, desk)
    clock.advance(timedelta(minutes=1))
    to_bo = service.create(
        session,
        conversation=desk.conversation,
        requested_by=desk.alex,
        text="Bo, a look please",
        member_id=desk.bo.id,
    )
    clock.advance(timedelta(minutes=1))
    by_bo = service.create(
        session,
        conversation=desk.conversation,
        requested_by=desk.bo,
        text="Alex, the order number?",
        member_id=desk.alex.id,
    )
    session.commit()

    def ids(member: object, scope: service.Scope, status: str = "open") -> list[int]:
        found = service.page(session, member=member, scope=scope, status=status)  # type: ignore[arg-type]
        return [r.id for r in found.items]

    assert ids(desk.bo, service.Scope.FOR_ME) == [to_bo.id]
    assert ids(desk.bo, service.Scope.FOR_MY_TEAMS) == [to_team.id]
    assert ids(desk.bo, service.Scope.ASKED_BY_ME) == [by_bo.id]
    assert ids(desk.alex, service.Scope.ASKED_BY_ME) == [to_bo.id, to_team.id]  # newest first
    assert ids(desk.alex, service.Scope.FOR_MY_TEAMS) == []
    # A lead outside the team's membership still sees the team's requests.
    assert service.team_ids_of(session, member=desk.lena) == [desk.billing.id]
    service.mark_done(session, request=to_team, actor=desk.bo, resolution="ok")
    session.commit()
    assert ids(desk.lena, service.Scope.FOR_MY_TEAMS) == []
    assert ids(desk.lena, service.Scope.FOR_MY_TEAMS, "done") == [to_team.id]
    assert ids(desk.lena, service.Scope.FOR_MY_TEAMS, "all") == [to_team.id]
    with pytest.raises(ValidationFailed, match="status must be one of"):
        ids(desk.lena, service.Scope.FOR_ME, "late")


# -- offboarding --------------------------------------------------------------------------


def test_requests_to_someone_who_leaves_go_to_their_successor(
    session: Session, desk: Desk, jobs: JobRunner
) -> None:
    request = service.create(
        session,
        conversation=desk.conversation,
        requested_by=desk.alex,
        text="Bo, refund please",
        member_id=desk.bo.id,
    )
    session.commit()
    flows.deactivate(session, member=desk.bo, actor=desk.owner, hand_to_member_id=desk.lena.id)
    session.commit()
    jobs.run_pending()
    session.expire_all()
    assert session.get_one(EscalationRequest, request.id).member_id == desk.lena.id
    handed = _notes(session, "escalation.handed_over")
    assert [n.member_id for n in handed] == [desk.lena.id]
    assert handed[0].title == "Bo Billing's request is now yours: Bo, refund please"
    assert _trail(session, desk)[-1].kind == "escalation_handed_over"


def test_without_a_successor_the_owner_is_told_to_ask_someone_else(
    session: Session, desk: Desk, jobs: JobRunner
) -> None:
    request = service.create(
        session,
        conversation=desk.conversation,
        requested_by=desk.alex,
        text="Bo, refund please",
        member_id=desk.bo.id,
    )
    session.commit()
    flows.deactivate(session, member=desk.bo, actor=desk.owner)
    session.commit()
    jobs.run_pending()
    session.expire_all()
    assert session.get_one(EscalationRequest, request.id).member_id == desk.bo.id
    (told,) = _notes(session, "escalation.handed_over")
    assert told.member_id == desk.alex.id
    assert "Cancel it and ask someone else" in told.body
