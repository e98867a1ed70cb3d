"""Running a rule's actions on a conversation (routing rules and automation rules alike).

Each action either does its work or says why it did not ("team 4 no longer exists",
"nobody on duty in Billing has room"); one action's failure does not stop the next. The
outcomes are returned for the trail and the automation run's record.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Team
from socialdesk.common.errors import DomainError
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Priority
from socialdesk.notifications import service as notifications_service
from socialdesk.routing import assignment, duty
from socialdesk.routing.conditions import (
    Action,
    AddTag,
    AssignTo,
    AutoAssign,
    Notify,
    NotifyTo,
    SetPriority,
    SetTeam,
)
from socialdesk.routing.models import Strategy


def assignment_strategy(strategy: str) -> Strategy:
    """The strategy an explicit auto-assign uses: the organization's, or round robin when the
    organization assigns by hand (a rule asking to auto-assign is asking for it anyway)."""
    chosen = Strategy(strategy)
    return Strategy.ROUND_ROBIN if chosen is Strategy.MANUAL else chosen


def run(
    session: Session,
    *,
    conversation: Conversation,
    actions: Sequence[Action],
    strategy: str,
    rule_name: str,
) -> list[str]:
    outcomes: list[str] = []
    for action in actions:
        try:
            outcomes.append(
                _run_one(
                    session,
                    conversation=conversation,
                    action=action,
                    strategy=strategy,
                    rule_name=rule_name,
                )
            )
        except DomainError as exc:
            outcomes.append(f"{action.type}: {exc.message}")
    return outcomes


def _team(session: Session, conversation: Conversation, team_id: int | None) -> Team | None:
    wanted = team_id if team_id is not None else conversation.team_id
    if wanted is None:
        return None
    team = session.get(Team, wanted)
    if team is None or team.organization_id != conversation.organization_id:
        return None
    return team


def _run_one(  # noqa: PLR0911
    session: Session,
    *,
    conversation: Conversation,
    action: Action,
    strategy: str,
    rule_name: str,
) -> str:
    if isinstance(action, SetTeam):
        conversations_service.set_team(
            session, conversation=conversation, team_id=action.team_id, actor=None
        )
        return f"team set to {action.team_id}"
    if isinstance(action, SetPriority):
        if action.priority < conversation.priority and not action.allow_lower:
            return "priority kept (rules raise it, never lower it unless told to)"
        conversations_service.set_priority(
            session, conversation=conversation, priority=Priority(action.priority), actor=None
        )
        return f"priority set to {Priority(action.priority).name.lower()}"
    if isinstance(action, AddTag):
        tag = conversations_service.add_tag(
            session, conversation=conversation, name=action.tag, actor=None
        )
        return f"tagged #{tag}"
    if isinstance(action, AssignTo):
        return _assign_to(session, conversation, action)
    if isinstance(action, AutoAssign):
        return _auto_assign(session, conversation, action, strategy)
    return _notify(session, conversation, action, rule_name)


def _assign_to(session: Session, conversation: Conversation, action: AssignTo) -> str:
    member = session.get(Member, action.member_id)
    if member is None or member.organization_id != conversation.organization_id:
        return f"member {action.member_id} no longer exists"
    if conversation.assignee_id == member.id:
        return f"already with {member.name}"
    # A conversation given to someone who is away would wait unseen: that is what routing
    # exists to prevent. It stays for auto-assignment instead.
    reason = duty.off_duty_reason(session, member=member)
    if reason is not None:
        return f"not assigned to {member.name}: {reason.removeprefix(member.name + ' ')}"
    assignment.give(session, conversation=conversation, member=member, actor=None)
    return f"assigned to {member.name}"


def _auto_assign(
    session: Session, conversation: Conversation, action: AutoAssign, strategy: str
) -> str:
    if conversation.assignee_id is not None:
        return "already assigned"
    team_id = action.team_id if action.team_id is not None else conversation.team_id
    if action.team_id is not None and _team(session, conversation, action.team_id) is None:
        return f"team {action.team_id} no longer exists"
    member = assignment.auto_assign(
        session,
        conversation=conversation,
        strategy=assignment_strategy(strategy),
        team_id=team_id,
    )
    if member is None:
        return "nobody on duty has room; waiting in the queue"
    return f"assigned to {member.name}"


def _notify(session: Session, conversation: Conversation, action: Notify, rule_name: str) -> str:
    team = _team(session, conversation, action.team_id)
    recipients: list[int] = []
    if action.to == NotifyTo.TEAM_LEAD:
        if team is not None and team.lead_member_id is not None:
            recipients = [team.lead_member_id]
    elif action.to == NotifyTo.TEAM:
        if team is not None:
            recipients = notifications_service.team_member_ids(session, team_id=team.id)
    elif action.to == NotifyTo.MEMBER:
        if action.member_id is not None:
            recipients = [action.member_id]
    elif conversation.assignee_id is not None:
        recipients = [conversation.assignee_id]
    title = action.message or f"{rule_name}: conversation #{conversation.id}"
    body = conversation.subject or conversation.last_preview
    link = f"/conversations/{conversation.id}"
    sent = notifications_service.notify(
        session,
        organization_id=conversation.organization_id,
        member_ids=recipients,
        kind="automation",
        title=title,
        body=body,
        conversation_id=conversation.id,
        link=link,
        data={"rule": rule_name},
        email=True,
    )
    posted = False
    if action.webhook and team is not None:
        posted = notifications_service.post_to_team(
            session,
            team=team,
            title=title,
            body=body,
            link=link,
            fields={"Rule": rule_name, "Priority": Priority(conversation.priority).name},
        )
    outcome = f"notified {len(sent)} " + ("person" if len(sent) == 1 else "people")
    if not sent:
        outcome = f"nobody to notify ({action.to})"
    return outcome + (" and the team's webhook" if posted else "")
