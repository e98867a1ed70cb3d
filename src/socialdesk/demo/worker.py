"""What the desk's worker does while the demo's week goes by, done at the moment it would be.

In a running desk, listeners enqueue jobs after each commit (route a new conversation, keep its
SLA clocks in step, schedule a follow-up, read a customer's answer...) and periodic tasks run
every minute (breach SLA clocks, fire delayed automation rules, send due follow-ups, remind of
promises, announce overdue requests, hand work back and out as teams' hours end and begin).
The demo loads its week in one transaction, so none of that runs on its own: this module
calls the same service functions those jobs and tasks call, in the load's transaction, with
the clock at the moment they would have run. The jobs that the load's commit enqueues then
find nothing left to do, and neither does a real worker's first minute.

A periodic task runs at the moments it has work (a clock's warning or due time, a scheduled
rule, a follow-up, a promise's reminder or due time, a request's due time, a snooze ending, a
team's hours opening or closing) rather than every minute of the week: a minute with nothing
due changes nothing, and loading stays fast. The SLA, promise and snooze tasks are the
product's own, which look at every organization: in a database shared with other
organizations they also do, a little early, what a worker would have done for those.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, literal, select, union_all
from sqlalchemy.orm import Session

from socialdesk.alerts import service as alerts_service
from socialdesk.commitments import service as commitments_service
from socialdesk.commitments.models import Commitment, CommitmentStatus
from socialdesk.common.clock import FrozenClock, use_clock
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, Direction, Message, Status
from socialdesk.escalations import service as escalations_service
from socialdesk.escalations.models import EscalationRequest, RequestStatus
from socialdesk.followups import service as followups_service
from socialdesk.followups.models import FollowUp, FollowUpStatus
from socialdesk.routing import automation
from socialdesk.routing import service as routing_service
from socialdesk.routing.models import AutomationRun
from socialdesk.schedules.hours import WeeklyHours
from socialdesk.sla import alerts, tracking
from socialdesk.sla.jobs import CLOCK_FIELDS
from socialdesk.sla.models import SlaClock

# Business hours are looked at in steps this long when finding where they open and close.
HOURS_STEP = timedelta(minutes=15)


class Task(enum.Enum):
    """The periodic tasks, by what they look at."""

    SNOOZES = "conversations.wake_snoozed"
    ROUTING = "routing.reassign"
    AUTOMATION = "routing.automation_due"
    SLA = "sla.alerts"
    FOLLOW_UPS = "followups.tick"
    PROMISES = "commitments.remind"
    REQUESTS = "escalations.overdue"
    ALERTS = "alerts.check"


# What the listeners compare: a conversation's fields that others react to.
Snapshot = tuple[str, datetime | None, datetime | None, int, int | None, int | None]


def snapshot(conversation: Conversation) -> Snapshot:
    return (
        conversation.status,
        conversation.resolved_at,
        conversation.snoozed_until,
        conversation.priority,
        conversation.assignee_id,
        conversation.team_id,
    )


def changed_fields(before: Snapshot, after: Snapshot) -> set[str]:
    """The ``ConversationChanged`` fields between two snapshots."""
    names = ("status", "status", "status", "priority", "assignee", "team_id")
    return {name for name, a, b in zip(names, before, after, strict=True) if a != b}


@dataclass(frozen=True)
class QueuedFollowUp:
    """A follow-up message the gateway queued: delivered after the load commits."""

    message_id: int
    at: datetime


@dataclass
class Worker:
    session: Session
    organization_id: int
    # When some team's hours open or close: the routing task hands work back and out then.
    hours_changes: list[datetime] = field(default_factory=list)
    follow_ups: list[QueuedFollowUp] = field(default_factory=list)
    # When each task last ran: what fell due by then has been handled.
    last_run: dict[Task, datetime] = field(default_factory=dict)
    _changes: int = 0
    _watching_changes: bool | None = None
    _agenda: list[tuple[datetime, Task]] | None = None

    def _watches_changes(self) -> bool:
        """Whether any enabled automation rule fires on conversation.changed (the demo's
        rules are set up before its week starts and stay as they are)."""
        if self._watching_changes is None:
            self._watching_changes = any(
                rule.enabled and rule.trigger == automation.Trigger.CONVERSATION_CHANGED.value
                for rule in automation.list_rules(
                    self.session, organization_id=self.organization_id
                )
            )
        return self._watching_changes

    # -- what the listeners' jobs do ----------------------------------------------------------

    def conversation_created(self, conversation: Conversation) -> None:
        """routing.route: the rules, auto-assignment, then conversation.created automation."""
        result = routing_service.route(self.session, conversation=conversation)
        if not result.already_routed:
            automation.on_event(
                self.session,
                trigger=automation.Trigger.CONVERSATION_CREATED,
                conversation=conversation,
                occurrence="created",
            )

    def customer_wrote(self, conversation: Conversation, message_id: int) -> None:
        """routing.automation for message.created, then followups.answer (which may resolve
        the conversation again)."""
        automation.on_event(
            self.session,
            trigger=automation.Trigger.MESSAGE_CREATED,
            conversation=conversation,
            occurrence=f"message:{message_id}",
        )
        before = snapshot(conversation)
        followups_service.record_answer(self.session, message_id=message_id)
        self.changed(conversation, fields=changed_fields(before, snapshot(conversation)))

    def changed(
        self, conversation: Conversation, *, fields: Iterable[str], message: bool = False
    ) -> None:
        """The jobs a ``ConversationChanged`` with ``fields`` (and a ``MessageCreated``, with
        ``message``) enqueue: sla.reconcile for a message or a status or priority change;
        followups.sync and routing.pick_up for a status change; conversation.changed
        automation for any change."""
        names = set(fields)
        if message or names & CLOCK_FIELDS:
            tracking.reconcile(self.session, conversation_id=conversation.id)
        if "status" in names:
            followups_service.sync(self.session, conversation_id=conversation.id)
            routing_service.pick_up_waiting(self.session, organization_id=self.organization_id)
        if names and self._watches_changes():
            self._changes += 1
            automation.on_event(
                self.session,
                trigger=automation.Trigger.CONVERSATION_CHANGED,
                conversation=conversation,
                occurrence=f"changed:demo-{self._changes}",
            )

    # -- what the periodic tasks do -----------------------------------------------------------

    def catch_up(self, until: datetime, *, since: datetime, new_work: bool = True) -> None:
        """Run each task at the moments it has work, up to ``until``. Nothing runs before
        ``since`` (where the demo has got to): what fell due earlier is done then, as by a
        worker that was behind. ``new_work`` says whether what happened since the last call
        may have made work due (a message, a status change, a promise, a request...); if not,
        the moments found then still stand."""
        if new_work or self._agenda is None:
            self._agenda = self._due_moments()
        while True:
            found = self._next(self._agenda, since)
            if found is None or found[0] > until:
                return
            at, tasks = found
            if self.run(at, tasks):
                self._agenda = self._due_moments()
            since = at

    def run(self, at: datetime, tasks: Iterable[Task] = tuple(Task)) -> bool:
        """Run ``tasks`` as the worker's minute at ``at`` does, and what the changes they make
        set off. True when a conversation's status or priority changed (its clocks may have
        new due times)."""
        session, org = self.session, self.organization_id
        wanted = set(tasks)
        more = False
        with use_clock(FrozenClock(at)):
            if wanted & {Task.SNOOZES, Task.ROUTING}:
                # Waking a conversation and handing it over are changes the listeners see.
                watched = [
                    (c, snapshot(c))
                    for c in session.scalars(
                        select(Conversation).where(
                            Conversation.organization_id == org,
                            Conversation.status.in_((Status.OPEN.value, Status.SNOOZED.value)),
                        )
                    )
                ]
                if Task.SNOOZES in wanted:
                    conversations_service.wake_snoozed(session, now=at)
                if Task.ROUTING in wanted:
                    routing_service.reassign_off_duty(session, organization_id=org, at=at)
                    routing_service.reassign_unanswered(session, organization_id=org, at=at)
                    routing_service.pick_up_waiting(session, organization_id=org)
                for conversation, before in watched:
                    more = self._changed_by_task(conversation, before) or more
            if Task.AUTOMATION in wanted:
                more = self._fire_automation(at) or more
            if Task.SLA in wanted:
                alerts.run(session, now=at)
            if Task.FOLLOW_UPS in wanted:
                self._send_follow_ups(at)
            if Task.PROMISES in wanted:
                commitments_service.send_due_reminders(session, now=at)
                commitments_service.notify_overdue(session, now=at)
            if Task.ALERTS in wanted:
                self._check_alerts(at)
            if Task.REQUESTS in wanted:
                self._announce_overdue_requests(at)
        for task in wanted:
            self.last_run[task] = at
        return more

    def _check_alerts(self, at: datetime) -> None:
        for alert in alerts_service.list_alerts(self.session, organization_id=self.organization_id):
            if alert.enabled:
                alerts_service.check(self.session, alert, now=at)

    def _announce_overdue_requests(self, at: datetime) -> None:
        for request_id in escalations_service.overdue_candidates(self.session, now=at):
            request = self.session.get_one(EscalationRequest, request_id)
            if request.organization_id == self.organization_id:
                escalations_service.notify_overdue(self.session, request_id=request_id, now=at)

    def _changed_by_task(self, conversation: Conversation, before: Snapshot) -> bool:
        fields = changed_fields(before, snapshot(conversation))
        self.changed(conversation, fields=fields)
        return bool(fields & CLOCK_FIELDS)

    def settle(self, at: datetime) -> None:
        """What the jobs the load's commit enqueues find to do when they run right after it:
        the SLA reconciles bring each running clock's snapshot (team, assignee) up to the
        conversation's, which routing may have changed since its last message or status."""
        with use_clock(FrozenClock(at)):
            for conversation_id in self.session.scalars(
                select(SlaClock.conversation_id)
                .where(
                    SlaClock.organization_id == self.organization_id,
                    SlaClock.stopped_at.is_(None),
                )
                .distinct()
                .order_by(SlaClock.conversation_id)
            ).all():
                tracking.reconcile(self.session, conversation_id=conversation_id)

    def _fire_automation(self, at: datetime) -> bool:
        session = self.session
        run_ids = session.scalars(
            select(AutomationRun.id)
            .where(
                AutomationRun.organization_id == self.organization_id,
                AutomationRun.ran_at.is_(None),
                AutomationRun.due_at <= at,
            )
            .order_by(AutomationRun.due_at, AutomationRun.id)
        ).all()
        more = False
        for run_id in run_ids:
            run = session.get_one(AutomationRun, run_id)
            conversation = session.get_one(Conversation, run.conversation_id)
            before = snapshot(conversation)
            automation.fire_due_run(session, run_id=run_id)
            more = self._changed_by_task(conversation, before) or more
        return more

    def _send_follow_ups(self, at: datetime) -> None:
        session = self.session
        for follow_up_id in followups_service.due_ids(session, now=at):
            if session.get_one(FollowUp, follow_up_id).organization_id != self.organization_id:
                continue
            sent = followups_service.send_one(session, follow_up_id=follow_up_id, now=at)
            if sent is not None and sent.message_id is not None:
                self.follow_ups.append(QueuedFollowUp(sent.message_id, at))
                conversation = session.get_one(Conversation, sent.conversation_id)
                self.changed(conversation, fields=(), message=True)

    # -- when there is work ---------------------------------------------------------------------

    def _next(
        self, agenda: list[tuple[datetime, Task]], since: datetime
    ) -> tuple[datetime, set[Task]] | None:
        """The first moment (not before ``since``) at which some task has work it has not
        done, and every task with work due by then."""
        pending = [
            (max(due, since), task)
            for due, task in agenda
            if task not in self.last_run or due > self.last_run[task]
        ]
        if not pending:
            return None
        at = min(moment for moment, _ in pending)
        return at, {task for moment, task in pending if moment <= at}

    def _due_moments(self) -> list[tuple[datetime, Task]]:
        return sorted(self._due(), key=lambda item: item[0])

    def _due(self) -> Iterator[tuple[datetime, Task]]:
        """Every moment at which a task has work, read in one statement."""
        org = self.organization_id
        for change in self.hours_changes:
            yield change, Task.ROUTING

        def moments(when: Any, task: Task, *where: Any) -> Select[Any]:
            return select(when.label("at"), literal(task.name).label("task")).where(*where)

        open_promise = (
            Commitment.organization_id == org,
            Commitment.status == CommitmentStatus.OPEN.value,
        )
        running_clock = (
            SlaClock.organization_id == org,
            SlaClock.stopped_at.is_(None),
            SlaClock.paused_at.is_(None),
            SlaClock.breached_at.is_(None),
        )
        statement = union_all(
            moments(
                Conversation.snoozed_until,
                Task.SNOOZES,
                Conversation.organization_id == org,
                Conversation.status == Status.SNOOZED.value,
            ),
            moments(
                AutomationRun.due_at,
                Task.AUTOMATION,
                AutomationRun.organization_id == org,
                AutomationRun.ran_at.is_(None),
            ),
            moments(
                FollowUp.due_at,
                Task.FOLLOW_UPS,
                FollowUp.organization_id == org,
                FollowUp.status == FollowUpStatus.SCHEDULED.value,
            ),
            moments(
                EscalationRequest.due_at,
                Task.REQUESTS,
                EscalationRequest.organization_id == org,
                EscalationRequest.status == RequestStatus.OPEN.value,
                EscalationRequest.overdue_notified_at.is_(None),
            ),
            moments(
                Commitment.remind_at,
                Task.PROMISES,
                *open_promise,
                Commitment.reminded_at.is_(None),
            ),
            moments(
                Commitment.due_at,
                Task.PROMISES,
                *open_promise,
                Commitment.overdue_notified_at.is_(None),
            ),
            moments(SlaClock.due_at, Task.SLA, *running_clock),
            moments(SlaClock.warn_at, Task.SLA, *running_clock, alerts.unwarned()),
        )
        for at, task in self.session.execute(statement):
            if at is None:
                continue
            yield _aware(at), Task[task]
        yield from self._alert_moments()

    def _alert_moments(self) -> Iterator[tuple[datetime, Task]]:
        """Volume alerts have work when a customer writes (the count may go over) and when
        a message leaves an alert's window (it may come back down)."""
        windows = {
            timedelta(minutes=alert.window_minutes)
            for alert in alerts_service.list_alerts(
                self.session, organization_id=self.organization_id
            )
            if alert.enabled
        }
        if not windows:
            return
        for written in self.session.scalars(
            select(Message.created_at).where(
                Message.organization_id == self.organization_id,
                Message.direction == Direction.INBOUND.value,
            )
        ):
            yield _aware(written), Task.ALERTS
            for window in windows:
                yield _aware(written) + window, Task.ALERTS


def _aware(value: datetime) -> datetime:
    """A time read through a UNION comes back as the driver gives it: naive UTC on SQLite."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def hours_changes(
    schedules: Iterable[WeeklyHours], *, start: datetime, end: datetime
) -> list[datetime]:
    """The moments in [start, end] at which one of ``schedules`` opens or closes (to the
    quarter hour, which is how the demo's hours are written)."""
    moments: set[datetime] = set()
    first = start.replace(minute=start.minute - start.minute % 15, second=0, microsecond=0)
    for hours in schedules:
        at = first
        was_open = hours.is_open(at)
        while at < end:
            at += HOURS_STEP
            now_open = hours.is_open(at)
            if now_open != was_open and start <= at <= end:
                moments.add(at)
            was_open = now_open
    return sorted(moments)
