"""Load the demo organization through the desk's own services and flows.

Nothing is written behind the desk's back: members, teams, business hours and brand accounts
come from the accounts, schedules and channels services; routing, automation, SLA and
follow-up settings from theirs; every customer message goes through the ingest flow (website
chat messages as raw events, exactly as the chat page stores them); notes, tags, assignment,
priorities and statuses through the conversations service; requests to other teams through
the escalations service; replies on the website chat through the send gateway, delivered by
the delivery job; and promises are kept from replies and notes as the composer keeps them.
Each step runs with the clock set to the moment it happened, so timestamps, the activity trail
and the metrics' timestamps read like a real week. What the worker does meanwhile (routing new
conversations, SLA clocks, follow-ups, reminders, overdue notices...) is done at the moment it
would be, by :mod:`socialdesk.demo.worker`.

The network accounts (X, Mastodon, Bluesky, email) are not connected in the demo, so their
replies are ingested as the account's own history (``from_brand``). What the desk sends on
them through the send gateway while the demo loads goes to a stand-in for that network (see
:class:`_ScriptedNetwork`): the one reply a scene says was refused gets that refusal, and
follow-ups are accepted, so the delivery job records them as sent.

Loading is idempotent: when the demo organization exists, :func:`load` changes nothing, unless
asked to reset it, which removes the demo organization and everything in it first.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, delete, func, inspect, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import column, table

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import AuditEvent, Member, Organization, Team
from socialdesk.alerts import service as alerts_service
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.commitments import service as commitments_service
from socialdesk.common import clock
from socialdesk.common.clock import FrozenClock, use_clock
from socialdesk.common.errors import Conflict, NotFound
from socialdesk.connectors import registry
from socialdesk.connectors.base import (
    AccountContext,
    Capabilities,
    ChannelKind,
    Identity,
    InboundMessage,
    LengthCounting,
    OutboundRequest,
    PollLimits,
    PollRequest,
    PollTally,
    RawEvent,
    SendError,
    SendResult,
    UnsupportedEvent,
    Visibility,
)
from socialdesk.connectors.mastodon.polls import poll_limits_from
from socialdesk.connectors.mastodon.send import InstanceLimits
from socialdesk.connectors.web.connector import MESSAGE_EVENT
from socialdesk.connectors.x.polls import X_POLL_LIMITS
from socialdesk.contacts import service as contacts_service
from socialdesk.contacts.models import ContactIdentity
from socialdesk.conversations import flows
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Conversation, DeliveryState, Message, Status
from socialdesk.db.session import session_scope
from socialdesk.demo import data
from socialdesk.demo.data import (
    AnswerFails,
    Answers,
    Asks,
    Assigns,
    AwaitsCustomer,
    CancelsFollowUp,
    ComesBack,
    Done,
    GoesAway,
    Notes,
    Prioritises,
    RecognisesCustomer,
    Resolves,
    Routes,
    Says,
    Scene,
    Snoozes,
    Step,
    Tags,
)
from socialdesk.demo.worker import Worker, changed_fields, hours_changes, snapshot
from socialdesk.escalations import service as escalations_service
from socialdesk.escalations.models import EscalationRequest
from socialdesk.followups import service as followups_service
from socialdesk.jobs import queue as jobs_queue
from socialdesk.notifications import service as notifications_service
from socialdesk.notifications import teams as team_settings
from socialdesk.outbound import service as outbound_service
from socialdesk.policy import service as policy_service
from socialdesk.polls import service as polls_service
from socialdesk.routing import automation
from socialdesk.routing import service as routing_service
from socialdesk.routing.duty import Availability
from socialdesk.saved_replies import service as saved_replies_service
from socialdesk.schedules import service as schedules_service
from socialdesk.schedules.hours import WeeklyHours
from socialdesk.sla import alerts as sla_alerts
from socialdesk.sla import service as sla_service
from socialdesk.sla import tracking as sla_tracking
from socialdesk.sla.schemas import SlaPolicyCreate

# Kept in the organization's settings: marks the organization as the demo, so that --reset
# never removes an organization that merely happens to use the same slug. The version says
# which demo it is: an older one is left alone too (``--reset`` loads the current one).
DEMO_SETTING = "demo"
DEMO_VERSION = 6
# How long after a message was queued the delivery job ran.
DELIVERY_DELAY = timedelta(seconds=4)
# How often a member at work reads their notifications.
READ_EVERY = timedelta(minutes=30)
# Steps that make nothing fall due later for the worker (no clock, rule, follow-up, promise
# or request is timed from them).
_UNTIMED = (Assigns, Routes, Tags, Done, RecognisesCustomer, CancelsFollowUp)


class DemoError(Exception):
    """The demo cannot be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class Login:
    name: str
    email: str
    role: str
    team: str | None
    password: str


@dataclass(frozen=True)
class Loaded:
    created: bool  # False: the demo was already there and nothing changed
    organization_id: int
    organization_name: str
    logins: tuple[Login, ...] = ()
    conversations: int = 0
    channels: tuple[str, ...] = ()
    outdated: bool = False  # already there, loaded by an earlier version of the demo


def find(session: Session) -> Organization | None:
    return session.scalar(select(Organization).where(Organization.slug == data.ORGANIZATION_SLUG))


def is_demo(organization: Organization) -> bool:
    return DEMO_SETTING in (organization.settings or {})


def version_of(organization: Organization) -> int:
    marker = (organization.settings or {}).get(DEMO_SETTING)
    version = marker.get("version") if isinstance(marker, dict) else None
    return version if isinstance(version, int) else 1


def load(*, now: datetime | None = None, reset: bool = False) -> Loaded:
    """Load the demo organization into the configured database (already migrated).

    Returns what was loaded, with each member's generated password (they are stored hashed
    and cannot be shown again). When the demo is already loaded, nothing changes unless
    ``reset`` is true: then its content is cleared (see :func:`clear`) and loaded afresh, and
    its members get new passwords.
    """
    base = clock.require_aware(now or clock.now(), "now")
    with _scripted_networks(), session_scope() as session:
        organization = find(session)
        if organization is not None:
            if not is_demo(organization):
                raise DemoError(
                    f"an organization with the slug {data.ORGANIZATION_SLUG!r} exists and is not "
                    "the demo; the demo leaves it alone (use another database for the demo)"
                )
            if not reset:
                return Loaded(
                    created=False,
                    organization_id=organization.id,
                    organization_name=organization.name,
                    conversations=_count_conversations(session, organization.id),
                    outdated=version_of(organization) < DEMO_VERSION,
                )
            clear(session, organization_id=organization.id)
        taken = _taken_emails(session, organization)
        if taken:
            raise DemoError(
                f"the demo's member emails are already in use ({', '.join(taken)}); "
                "use another database for the demo"
            )
        builder = _Builder(session, base=base, organization=organization)
        builder.build()
    # The deliveries run as the delivery job does: after the commit, each in its own
    # transactions, at the moment the scene says (never after "now").
    with _scripted_networks() as networks:
        for delivery in sorted(builder.deliveries, key=lambda d: (d.at, d.id)):
            with use_clock(FrozenClock(min(delivery.at, base))):
                networks.script_next(delivery.refusal)
                jobs_queue.execute(outbound_service.DELIVER_JOB, {"message_id": delivery.id}, 1)
    # The polls that were posted: the posting job, then the counting job once they closed,
    # with the network's stand-in answering the final counts.
    with _scripted_networks() as networks:
        for poll_id, spec in builder.polls:
            if spec.votes is None:
                continue
            asked = base - spec.asked_ago
            if spec.post_id is not None:  # the scenes that answer it know its id
                networks.polls_on(spec.channel).post_ids[spec.question] = spec.post_id
            with use_clock(FrozenClock(asked + DELIVERY_DELAY)):
                jobs_queue.execute(polls_service.PUBLISH_JOB, {"poll_id": poll_id}, 1)
            networks.polls_on(spec.channel).final_votes = spec.votes
            closed = asked + timedelta(seconds=spec.seconds) + polls_service.COUNT_EVERY
            with use_clock(FrozenClock(min(closed, base))):
                polls_service.count(poll_id)
    refused = [d.id for d in builder.deliveries if d.refusal is not None]
    if refused:
        # What the jobs a refusal enqueues find to do: a refused reply answered nobody, so its
        # conversation's SLA clock runs again (sla.reconcile) and, long past due by now, is
        # breached (the SLA check), as a worker would find it at "now".
        with use_clock(FrozenClock(base)), session_scope() as session:
            for conversation_id in session.scalars(
                select(Message.conversation_id).where(Message.id.in_(refused)).distinct()
            ):
                sla_tracking.reconcile(session, conversation_id=conversation_id)
            sla_alerts.run(session)
    with session_scope(write=False) as session:
        count = _count_conversations(session, builder.organization_id)
    return Loaded(
        created=True,
        organization_id=builder.organization_id,
        organization_name=data.ORGANIZATION_NAME,
        logins=tuple(builder.logins),
        conversations=count,
        channels=tuple(str(a.kind) for a in data.ACCOUNTS),
    )


def _count_conversations(session: Session, organization_id: int) -> int:
    return int(
        session.scalar(
            select(func.count(Conversation.id)).where(
                Conversation.organization_id == organization_id
            )
        )
        or 0
    )


def _taken_emails(session: Session, demo: Organization | None) -> list[str]:
    """Member emails are unique across organizations: the demo's must be free elsewhere."""
    emails = [m.email for m in data.MEMBERS]
    query = select(Member.email).where(Member.email.in_(emails))
    if demo is not None:
        query = query.where(Member.organization_id != demo.id)
    return sorted(session.scalars(query))


# -- building -----------------------------------------------------------------------------


@dataclass
class _Delivery:
    id: int
    at: datetime
    refusal: str | None  # what the stand-in network answers; None: it accepts


@dataclass
class _SceneState:
    conversation: Conversation | None = None
    last_native_id: str | None = None
    root_native_id: str | None = None
    messages: int = 0
    requests: list[EscalationRequest] = field(default_factory=list)


@dataclass
class _Builder:
    session: Session
    base: datetime
    organization: Organization | None = None  # the demo's, kept by a reset
    organization_id: int = 0
    logins: list[Login] = field(default_factory=list)
    deliveries: list[_Delivery] = field(default_factory=list)
    members: dict[str, Member] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    accounts: dict[ChannelKind, BrandAccount] = field(default_factory=dict)
    known: set[int] = field(default_factory=set)  # conversations already created
    worker: Worker | None = None
    # The settings rows, held for the whole load: the session's identity map keeps an object
    # only while something refers to it, and every step reads them again.
    settings_rows: list[object] = field(default_factory=list)
    last_read: dict[int, datetime] = field(default_factory=dict)  # member id -> notifications
    polls: list[tuple[int, data.PollSpec]] = field(default_factory=list)  # asked, to post

    def build(self) -> None:
        start = self.base - data.SET_UP_AGO
        with use_clock(FrozenClock(start)):
            schedules = self._set_up()
        worker = self.worker = Worker(
            self.session,
            self.organization_id,
            hours_changes=hours_changes(schedules, start=start, end=self.base),
        )
        customers = {c.key: c for c in data.CUSTOMERS}
        states = [_SceneState() for _ in data.SCENES]
        # Scene steps, and members switching their availability, in time order.
        timeline: list[tuple[datetime, int, int]] = sorted(
            [
                (self.base - step.ago, i, j)
                for i, scene in enumerate(data.SCENES)
                for j, step in enumerate(scene.steps)
            ]
            + [(self.base - change.ago, -1, k) for k, change in enumerate(data.AVAILABILITY)]
        )
        reached, new_work = start, True
        for at, i, j in timeline:
            # The worker's minutes up to this moment, then what happened at it.
            worker.catch_up(at, since=reached, new_work=new_work)
            reached = at
            with use_clock(FrozenClock(at)):
                if i < 0:
                    self._availability(data.AVAILABILITY[j])
                    new_work = False
                    continue
                scene = data.SCENES[i]
                turn = _Turn(scene, i, states[i], customers[scene.customer], at)
                self._step(turn, scene.steps[j])
                new_work = not isinstance(scene.steps[j], _UNTIMED)
        # The worker's minute right at "now": what is due is done, and the queue handed out.
        worker.catch_up(self.base, since=reached)
        worker.run(self.base)
        worker.settle(self.base)
        self._ask_polls()
        self.deliveries += [
            _Delivery(f.message_id, f.at + DELIVERY_DELAY, None) for f in worker.follow_ups
        ]

    # -- the desk as an admin sets it up ------------------------------------------------------

    def _ask_polls(self) -> None:
        """The polls, asked as their authors would ask them, each at its own time: through
        the code of conduct, which holds the one that speaks of money in public."""
        for spec in data.POLLS:
            account = self.accounts[spec.channel]
            with use_clock(FrozenClock(self.base - spec.asked_ago)):
                poll = polls_service.create(
                    self.session,
                    author=self.members[spec.author],
                    draft=polls_service.Draft(
                        brand_account_id=account.id,
                        question=spec.question,
                        options=spec.options,
                        seconds=spec.seconds,
                    ),
                )
            self.polls.append((poll.id, spec))

    def _set_up(self) -> list[WeeklyHours]:
        """The organization, its people, accounts and settings. Returns the teams' business
        hours (the moments they open and close are when the worker hands work out and back)."""
        session = self.session
        org = self.organization
        if org is None:
            try:
                org = accounts_service.create_organization(
                    session,
                    name=data.ORGANIZATION_NAME,
                    slug=data.ORGANIZATION_SLUG,
                    timezone=data.ORGANIZATION_TIMEZONE,
                )
            except Conflict as exc:  # another process loaded it a moment ago
                raise DemoError(f"{exc.message}: the demo is being loaded elsewhere") from exc
        org.settings = {**org.settings, DEMO_SETTING: {"version": DEMO_VERSION}}
        self.organization_id = org.id
        self.settings_rows.append(org)
        hours = {
            spec.name: schedules_service.create(
                session,
                organization_id=org.id,
                name=spec.name,
                timezone=data.ORGANIZATION_TIMEZONE,
                intervals={day: [list(i) for i in spans] for day, spans in spec.intervals.items()},
                holidays=[
                    f"{year:04d}-{month:02d}-{day:02d}"
                    for year in (self.base.year, self.base.year + 1)
                    for month, day in spec.holidays
                ],
            )
            for spec in data.BUSINESS_HOURS
        }
        for team_spec in data.TEAMS:
            self.teams[team_spec.name] = accounts_service.create_team(
                session, organization_id=org.id, name=team_spec.name
            )
        self._members(org)
        for team_spec in data.TEAMS:
            team_settings.update(
                session,
                team=self.teams[team_spec.name],
                settings=team_settings.TeamNotificationSettings(
                    lead_member_id=self.members[team_spec.lead].id if team_spec.lead else None,
                    notify_email=None,
                    business_hours_id=hours[team_spec.hours].id if team_spec.hours else None,
                ),
            )
        for account in data.ACCOUNTS:
            self.accounts[account.kind] = channels_service.create(
                session,
                organization_id=org.id,
                kind=account.kind,
                handle=account.handle,
                display_name=account.display_name,
                settings=dict(account.settings),
            )
        self._routing(org.id)
        for alert in data.VOLUME_ALERTS:
            alerts_service.create(
                session,
                organization_id=org.id,
                spec=alerts_service.AlertSpec(
                    name=alert.name,
                    filters={
                        k: list(v) if isinstance(v, tuple) else v for k, v in alert.filters.items()
                    },
                    window_minutes=alert.window_minutes,
                    threshold=alert.threshold,
                    baseline_factor=alert.baseline_factor,
                    notify_to=alert.notify_to,
                    team_id=self.teams[alert.team].id if alert.team else None,
                ),
                actor=self.members["maren"],
            )
        for saved in data.SAVED_REPLIES:
            saved_replies_service.create(
                session,
                organization_id=org.id,
                draft=saved_replies_service.Draft(
                    saved.shortcut,
                    saved.title,
                    saved.text,
                    team_id=self.teams[saved.team].id if saved.team else None,
                ),
                actor=self.members["tomas"],
            )
        policy_service.save(
            session,
            organization_id=org.id,
            yaml_text=data.CODE_OF_CONDUCT,
            author=self.members["maren"],
            comment=data.CODE_OF_CONDUCT_COMMENT,
        )
        for position, sla in enumerate(data.SLA_POLICIES):
            sla_service.create(
                session,
                organization_id=org.id,
                data=SlaPolicyCreate(
                    name=sla.name,
                    position=position,
                    priority=sla.priority.value if sla.priority is not None else None,
                    first_response_minutes=sla.first_response,
                    next_response_minutes=sla.next_response,
                    resolution_minutes=sla.resolution,
                    business_hours_id=hours[sla.hours].id if sla.hours else None,
                    warn_before_minutes=sla.warn_before,
                ),
            )
        for follow_up in data.FOLLOW_UP_POLICIES:
            followups_service.save_policy(
                session,
                organization_id=org.id,
                actor=self.members["maren"],
                template=follow_up.template,
                channel=follow_up.channel.value if follow_up.channel else None,
                enabled=follow_up.enabled,
                delay_minutes=follow_up.delay_minutes,
                survey=follow_up.survey,
            )
        self.settings_rows += hours.values()
        return [WeeklyHours.from_row(row) for row in hours.values()]

    def _members(self, org: Organization) -> None:
        session = self.session
        kept = {
            m.email: m
            for m in session.scalars(select(Member).where(Member.organization_id == org.id))
        }
        for spec in data.MEMBERS:
            # Generated, never fixed: the demo may be reachable by others on the network.
            password = secrets.token_urlsafe(12)
            member = kept.get(spec.email)
            if member is None:
                member = accounts_service.create_member(
                    session,
                    organization_id=org.id,
                    email=spec.email,
                    name=spec.name,
                    role=spec.role,
                    password=password,
                )
            else:
                _restore(member, spec, password)
            if spec.team is not None:
                accounts_service.add_to_team(session, team=self.teams[spec.team], member=member)
            routing_service.set_member_duty(
                session, member=member, capacity=spec.capacity, languages=spec.languages
            )
            self.members[spec.key] = member
            self.logins.append(Login(spec.name, spec.email, spec.role.value, spec.team, password))

    def _routing(self, organization_id: int) -> None:
        session = self.session
        routing = data.ROUTING
        settings = routing_service.update_settings(
            session,
            organization_id=organization_id,
            strategy=routing.strategy.value,
            reassign_when_away=routing.reassign_when_away,
            reassign_after_minutes=routing.reassign_after_minutes,
        )
        self.settings_rows.append(settings)
        for rule in data.ROUTING_RULES:
            routing_service.create_rule(
                session,
                organization_id=organization_id,
                name=rule.name,
                conditions=[dict(c) for c in rule.conditions],
                actions=[self._with_ids(a) for a in rule.actions],
                stop=rule.stop,
            )
        for spec in data.AUTOMATION_RULES:
            automation.create_rule(
                session,
                organization_id=organization_id,
                name=spec.name,
                trigger=spec.trigger,
                delay_minutes=spec.delay_minutes,
                conditions=[dict(c) for c in spec.conditions],
                actions=[self._with_ids(a) for a in spec.actions],
            )

    def _with_ids(self, action: Any) -> dict[str, Any]:
        """A rule's action as the API takes it: named teams and members become their ids."""
        out = dict(action)
        if "team" in out:
            out["team_id"] = self.teams[out.pop("team")].id
        if "member" in out:
            out["member_id"] = self.members[out.pop("member")].id
        return out

    # -- the week -----------------------------------------------------------------------------

    def _availability(self, change: GoesAway | ComesBack) -> None:
        member = self.members[change.who]
        self._reads_notifications(member)
        wanted = Availability.AWAY if isinstance(change, GoesAway) else Availability.AVAILABLE
        routing_service.set_availability(
            self.session, member=member, availability=wanted.value, actor=member
        )

    def _step(self, turn: _Turn, step: Step) -> None:
        if isinstance(step, Says):
            self._customer_says(turn, step)
            return
        conversation = turn.state.conversation
        if conversation is None:
            raise DemoError(f"scene {turn.scene.key!r}: the customer must write first")
        actor = self.members[step.by]
        self._reads_notifications(actor)
        before = snapshot(conversation)
        message = False
        extra: tuple[str, ...] = ()
        if isinstance(step, Answers):
            self._brand_answers(turn, conversation, actor, step)
            message = True
        elif isinstance(step, AnswerFails):
            reply = outbound_service.queue_reply(
                self.session, conversation=conversation, author=actor, text=step.text
            )
            self._keep_promises(conversation, reply, actor, step.text)
            self.deliveries.append(_Delivery(reply.id, turn.at + DELIVERY_DELAY, step.reason))
            message = True
        elif isinstance(step, Notes):
            note = conversations_service.add_note(
                self.session, conversation=conversation, author=actor, text=step.text
            )
            self._keep_promises(conversation, note, actor, step.text)
        elif isinstance(step, RecognisesCustomer):
            self._join_contacts(turn.customer)
        elif isinstance(step, Asks):
            self._asks(turn, conversation, actor, step)
        elif isinstance(step, Done):
            self._done(turn, actor, step)
        elif isinstance(step, CancelsFollowUp):
            follow_up = followups_service.waiting_for(self.session, conversation=conversation)
            followups_service.cancel(self.session, follow_up=follow_up, actor=actor)
            extra = ("followup",)
        else:
            self._desk_action(turn, conversation, actor, step)
            if isinstance(step, Tags):
                extra = ("tags",)
        fields = changed_fields(before, snapshot(conversation)) | set(extra)
        self._worker.changed(conversation, fields=fields, message=message)

    def _reads_notifications(self, member: Member) -> None:
        """Someone at work in the desk has read what it told them (their badge shows what came
        since). Read now and then, as people do, not before every click."""
        now = clock.now()
        last = self.last_read.get(member.id)
        if last is None or now - last >= READ_EVERY:
            notifications_service.mark_all_read(self.session, member=member)
            self.last_read[member.id] = now

    @property
    def _worker(self) -> Worker:
        assert self.worker is not None
        return self.worker

    def _keep_promises(
        self, conversation: Conversation, message: Message, author: Member, text: str
    ) -> None:
        """What the composer does when a reply or note is sent: its promises are kept."""
        commitments_service.keep_promises(
            self.session, conversation=conversation, message=message, author=author, text=text
        )

    def _asks(self, turn: _Turn, conversation: Conversation, actor: Member, step: Asks) -> None:
        request = escalations_service.create(
            self.session,
            conversation=conversation,
            requested_by=actor,
            text=step.text,
            team_id=self.teams[step.team].id if step.team else None,
            member_id=self.members[step.member].id if step.member else None,
            due_at=turn.at + step.due_in if step.due_in is not None else None,
        )
        turn.state.requests.append(request)

    def _done(self, turn: _Turn, actor: Member, step: Done) -> None:
        open_ = [r for r in turn.state.requests if r.closed_at is None]
        if not open_:
            raise DemoError(f"scene {turn.scene.key!r}: Done needs an open request (Asks)")
        escalations_service.mark_done(
            self.session, request=open_[-1], actor=actor, resolution=step.resolution
        )

    def _desk_action(
        self,
        turn: _Turn,
        conversation: Conversation,
        actor: Member,
        step: Assigns | Routes | Tags | Prioritises | Resolves | AwaitsCustomer | Snoozes,
    ) -> None:
        session = self.session
        if isinstance(step, Assigns):
            if step.to == step.by:
                # "Assign to me": anyone on duty may take any conversation.
                routing_service.claim(session, conversation=conversation, member=actor)
            else:
                conversations_service.assign(
                    session,
                    conversation=conversation,
                    assignee_id=self.members[step.to].id,
                    actor=actor,
                )
        elif isinstance(step, Routes):
            conversations_service.set_team(
                session, conversation=conversation, team_id=self.teams[step.team].id, actor=actor
            )
        elif isinstance(step, Tags):
            for tag in step.tags:
                conversations_service.add_tag(
                    session, conversation=conversation, name=tag, actor=actor
                )
        elif isinstance(step, Prioritises):
            conversations_service.set_priority(
                session, conversation=conversation, priority=step.priority, actor=actor
            )
        elif isinstance(step, Snoozes):
            conversations_service.set_status(
                session,
                conversation=conversation,
                status=Status.SNOOZED,
                snoozed_until=self.base + step.until,
                actor=actor,
            )
        elif isinstance(step, Resolves):
            # The desk asks what happens to open promises before it resolves.
            try:
                commitments_service.settle_before_resolving(
                    session,
                    conversation=conversation,
                    actor=actor,
                    choice=step.promises,
                    note=step.note,
                )
            except commitments_service.OpenCommitments as exc:
                raise DemoError(
                    f"scene {turn.scene.key!r}: resolving needs promises= for its open "
                    f"promises ({exc.message})"
                ) from exc
            conversations_service.set_status(
                session, conversation=conversation, status=Status.RESOLVED, actor=actor
            )
        else:
            conversations_service.set_status(
                session, conversation=conversation, status=Status.PENDING, actor=actor
            )

    def _customer_says(self, turn: _Turn, step: Says) -> None:
        scene, state = turn.scene, turn.state
        previous = state.conversation
        before = snapshot(previous) if previous is not None else None
        account = self.accounts[scene.channel]
        identity = turn.customer.identities[scene.channel]
        native_id = _native_id(turn, identity.native_id)
        if scene.channel is ChannelKind.WEB:
            # The website chat's own path: the raw event is stored, then parsed and ingested.
            payload = {
                "visitor_id": identity.native_id,
                "message_id": native_id,
                "text": step.text,
                "name": turn.customer.name,
                "email": identity.handle or "",
                "sent_at": turn.at.isoformat(),
            }
            flows.store_event(
                self.session,
                account=account,
                event=RawEvent(
                    native_id=native_id, kind=MESSAGE_EVENT, payload=payload, received_at=turn.at
                ),
                process_now=True,
            )
            message = self.session.scalar(
                select(Message).where(
                    Message.brand_account_id == account.id, Message.native_id == native_id
                )
            )
            if message is None:
                raise DemoError(f"scene {scene.key!r}: the chat message was not ingested")
            conversation = self.session.get_one(Conversation, message.conversation_id)
        else:
            result = flows.ingest_message(
                self.session,
                account=account,
                message=InboundMessage(
                    native_id=native_id,
                    author=Identity(
                        identity.native_id, identity.handle, turn.customer.name or None
                    ),
                    text=step.text,
                    created_at=turn.at,
                    visibility=_visibility(scene),
                    reply_to_native_id=state.last_native_id or scene.answers_post,
                    reply_to_brand=state.last_native_id is None and scene.answers_post is not None,
                    thread_key=_thread_key(turn, identity.native_id, native_id),
                    subject=_subject(turn),
                    raw={"demo": scene.key},
                    attachments=step.attachments,
                ),
            )
            conversation, message = result.conversation, result.message
        state.conversation = conversation
        state.last_native_id = native_id
        state.root_native_id = state.root_native_id or native_id
        state.messages += 1
        # What the jobs this message enqueues do: route a new conversation, keep the clocks
        # in step (and the follow-up, when it reopened), run automation, read the message as
        # the answer to a follow-up (which may resolve it again).
        worker = self._worker
        if conversation.id not in self.known:
            self.known.add(conversation.id)
            before = snapshot(conversation)
            worker.conversation_created(conversation)
        elif before is None or previous is not conversation:
            before = snapshot(conversation)
        worker.changed(
            conversation, fields=changed_fields(before, snapshot(conversation)), message=True
        )
        worker.customer_wrote(conversation, message.id)

    def _brand_answers(
        self, turn: _Turn, conversation: Conversation, actor: Member, step: Answers
    ) -> None:
        scene, state = turn.scene, turn.state
        account = self.accounts[scene.channel]
        if scene.channel is ChannelKind.WEB:
            # The website chat needs no network: the reply goes through the send gateway and
            # the delivery job makes it visible to the visitor.
            message = outbound_service.queue_reply(
                self.session, conversation=conversation, author=actor, text=step.text
            )
            self._keep_promises(conversation, message, actor, step.text)
            if message.delivery_state != DeliveryState.HELD.value:  # held: waits for approval
                self.deliveries.append(_Delivery(message.id, turn.at + DELIVERY_DELAY, None))
            return
        brand = Identity(f"brand:{account.handle}", account.handle, account.display_name)
        native_id = _native_id(turn, brand.native_id)
        # The reply is part of the account's history; it was written in the desk all the
        # same, so the promises it makes are kept as the composer keeps them.
        result = flows.ingest_message(
            self.session,
            account=account,
            message=InboundMessage(
                native_id=native_id,
                author=brand,
                text=step.text,
                created_at=turn.at,
                visibility=_visibility(scene),
                reply_to_native_id=state.last_native_id,
                thread_key=_thread_key(
                    turn, turn.customer.identities[scene.channel].native_id, native_id
                ),
                from_brand=True,
                subject=_subject(turn),
                raw={"demo": scene.key},
            ),
        )
        self._keep_promises(conversation, result.message, actor, step.text)
        state.last_native_id = native_id
        state.messages += 1

    def _join_contacts(self, customer: data.CustomerSpec) -> None:
        """Join every contact behind the customer's identities into the first one seen."""
        wanted = {(str(kind), i.native_id) for kind, i in customer.identities.items()}
        found = [
            identity
            for identity in self.session.scalars(
                select(ContactIdentity)
                .where(
                    ContactIdentity.organization_id == self.organization_id,
                    ContactIdentity.native_id.in_([native for _, native in wanted]),
                )
                .order_by(ContactIdentity.id)
            )
            if (identity.channel, identity.native_id) in wanted
        ]
        if len(found) < 2:
            raise DemoError(
                f"customer {customer.key!r} is recognised before writing on two channels"
            )
        target_id = found[0].contact_id
        for identity in found[1:]:
            if identity.contact_id != target_id:
                contacts_service.merge(
                    self.session,
                    organization_id=self.organization_id,
                    source_id=identity.contact_id,
                    target_id=target_id,
                )


def _restore(member: Member, spec: data.MemberSpec, password: str) -> None:
    """A member kept by a reset (the audit trail refers to them) starts over as written."""
    member.name = spec.name
    member.initials = accounts_service.initials_of(spec.name)
    member.role = spec.role.value
    member.password_hash = accounts_service.hash_password(password)
    member.is_active, member.deactivated_at = True, None
    member.failed_logins, member.locked_until = 0, None
    member.totp_enabled, member.totp_secret_encrypted = False, None
    # Duty as a new member has it; the set-up gives them the demo's.
    member.availability, member.availability_changed_at = Availability.AVAILABLE.value, None
    member.last_assigned_at = None


@dataclass(frozen=True)
class _Turn:
    """Where a step happens: its scene, that scene's progress, the customer and the time."""

    scene: Scene
    index: int
    state: _SceneState
    customer: data.CustomerSpec
    at: datetime


# -- ids and threads, as each network shapes them ---------------------------------------------


def _native_id(turn: _Turn, author: str) -> str:
    scene = turn.scene
    n = turn.index * 100 + turn.state.messages
    if scene.channel is ChannelKind.X:
        return str(1_877_000_000_000_000_000 + n * 7919)  # snowflake-sized
    if scene.channel is ChannelKind.MASTODON:
        return str(113_900_000_000_000_000 + n * 7919)
    if scene.channel is ChannelKind.BLUESKY:
        who = author if author.startswith("did:") else "did:plc:kestreltransitdemo00000"
        return f"at://{who}/app.bsky.feed.post/3kv{n:07d}"
    if scene.channel is ChannelKind.EMAIL:
        domain = author.rpartition("@")[2] or "kestrelvalley.example"
        return f"<{scene.key}.{turn.state.messages}@{domain}>"
    # The chat page's own shape: the visitor, then the id of the form that sent it.
    return f"{author}:demo-{turn.index:02d}-{turn.state.messages}"


def _thread_key(turn: _Turn, customer_native_id: str, native_id: str) -> str | None:
    if turn.scene.channel is ChannelKind.EMAIL:
        return turn.state.root_native_id or native_id  # an email thread: its first message
    if turn.scene.direct:
        return f"dm:{customer_native_id}"  # one direct-message channel per customer
    return None  # public posts thread by reply ids alone


def _visibility(scene: Scene) -> Visibility:
    direct = scene.direct or scene.channel in (ChannelKind.EMAIL, ChannelKind.WEB)
    return Visibility.DIRECT if direct else Visibility.PUBLIC


def _subject(turn: _Turn) -> str | None:
    if turn.scene.subject is None:
        return None
    return turn.scene.subject if turn.state.messages == 0 else f"Re: {turn.scene.subject}"


# -- the networks, while the demo loads ------------------------------------------------------

# Used when no connector for the channel is installed; an installed one lends its own.
_FALLBACK_CAPABILITIES: dict[ChannelKind, Capabilities] = {
    ChannelKind.X: Capabilities(max_length=280, length_counting=LengthCounting.X_WEIGHTED),
    ChannelKind.MASTODON: Capabilities(max_length=500, length_counting=LengthCounting.MASTODON),
    ChannelKind.BLUESKY: Capabilities(max_length=300, length_counting=LengthCounting.GRAPHEMES),
    ChannelKind.EMAIL: Capabilities(max_length=None, length_counting=LengthCounting.NONE),
}


class _ScriptedNetwork:
    """Stands in for a network while the demo loads. The demo's network accounts are not
    connected, so nothing may reach a real provider. A reply that a scene says was refused is
    answered with that scene's refusal, so the real send gateway and delivery job record it as
    a failed delivery with its reason; anything else the desk sends (the follow-ups) is
    accepted with an id shaped like the network's, as if the account were connected."""

    kind: ClassVar[ChannelKind]
    capabilities: ClassVar[Capabilities]
    supported_events: ClassVar[frozenset[str]] = frozenset()
    ignored_events: ClassVar[frozenset[str]] = frozenset()

    def __init__(self) -> None:
        self.refusal: str | None = None

    def parse(self, event: RawEvent) -> list[InboundMessage]:
        raise UnsupportedEvent(f"the demo does not receive {self.kind} events")

    def send(self, account: AccountContext, request: OutboundRequest) -> SendResult:
        reason, self.refusal = self.refusal, None
        if reason is not None:
            raise SendError(reason, retryable=False)
        # The key ends with the message's id: "socialdesk-<install tag>-<id>".
        number = int(request.idempotency_key.rpartition("-")[2])
        return SendResult(native_id=_sent_id(self.kind, number), sent_at=clock.now())


# What the stand-ins of the networks that take polls allow: a Mastodon instance's defaults,
# X's own (the connectors' figures).
_POLL_LIMITS = {
    ChannelKind.MASTODON: poll_limits_from(InstanceLimits()),
    ChannelKind.X: X_POLL_LIMITS,
}


class _ScriptedPolls(_ScriptedNetwork):
    """The Mastodon and X stand-ins also take polls: they post them and answer
    ``final_votes`` as the closed poll's counts (each voter chose one)."""

    def __init__(self) -> None:
        super().__init__()
        self.final_votes: tuple[int, ...] = ()
        self.post_ids: dict[str, str] = {}  # question -> the post id the demo's data gives

    def poll_limits(self, account: AccountContext) -> PollLimits:
        return _POLL_LIMITS[self.kind]

    def publish_poll(self, account: AccountContext, request: PollRequest) -> PollTally:
        number = int(request.idempotency_key.rpartition("-")[2])
        post_id = self.post_ids.get(request.question) or _sent_id(self.kind, 50_000 + number)
        return PollTally(
            post_id=post_id,
            poll_id=str(number),
            closes_at=clock.now() + timedelta(seconds=request.seconds),
            closed=False,
            votes=tuple(0 for _ in request.options),
            votes_count=0,
            voters_count=0,
            url=(
                f"https://x.com/KestrelTransit/status/{post_id}"
                if self.kind is ChannelKind.X
                else f"https://social.kestrelvalley.example/@transit/{post_id}"
            ),
        )

    def read_poll(self, account: AccountContext, poll_id: str) -> PollTally:
        return PollTally(
            post_id="",
            poll_id=poll_id,
            closes_at=None,
            closed=True,
            votes=self.final_votes,
            votes_count=sum(self.final_votes),
            voters_count=sum(self.final_votes),
        )


def _sent_id(kind: ChannelKind, number: int) -> str:
    if kind is ChannelKind.X:
        return str(1_877_500_000_000_000_000 + number * 7919)
    if kind is ChannelKind.MASTODON:
        return str(113_950_000_000_000_000 + number * 7919)
    if kind is ChannelKind.BLUESKY:
        return f"at://did:plc:kestreltransitdemo00000/app.bsky.feed.post/3kw{number:07d}"
    return f"<sent.{number}@kestrelvalley.example>"


@dataclass
class _ScriptedNetworks:
    stand_ins: dict[ChannelKind, _ScriptedNetwork]

    def polls_on(self, kind: ChannelKind) -> _ScriptedPolls:
        stand_in = self.stand_ins[kind]
        assert isinstance(stand_in, _ScriptedPolls)
        return stand_in

    def script_next(self, refusal: str | None) -> None:
        """The next send is refused for ``refusal``; None: it is accepted."""
        for stand_in in self.stand_ins.values():
            stand_in.refusal = refusal


@contextmanager
def _scripted_networks() -> Iterator[_ScriptedNetworks]:
    """Stand-ins for the demo's network channels, registered for the time of the load only,
    then the registry is as it was."""
    stand_ins: dict[ChannelKind, _ScriptedNetwork] = {}
    for kind in sorted({a.kind for a in data.ACCOUNTS if a.kind is not ChannelKind.WEB}):
        try:
            capabilities = registry.get(kind).capabilities
        except NotFound:
            capabilities = _FALLBACK_CAPABILITIES[kind]
        cls: type[_ScriptedNetwork] = type(
            f"_Scripted{kind.value.title()}",
            (_ScriptedPolls if kind in _POLL_LIMITS else _ScriptedNetwork,),
            {"kind": kind, "capabilities": capabilities},
        )
        stand_ins[kind] = cls()
    with registry.override(*stand_ins.values()):
        yield _ScriptedNetworks(stand_ins)


# -- removal --------------------------------------------------------------------------------


def clear(session: Session, *, organization_id: int) -> None:
    """Delete everything an organization owns except the organization, its members and its
    audit trail, which the database keeps forever (it refuses to delete it, and it refers to
    the members). Every table of the live schema is covered, so tables that later migrations
    add are too: a table's rows belong to the organization through an ``organization_id``
    column or a foreign key to rows that do. Children go before their parents."""
    keep = {Organization.__tablename__, Member.__tablename__, AuditEvent.__tablename__}
    connection = session.connection()
    inspector = inspect(connection)
    names = [n for n in inspector.get_table_names() if n != "alembic_version"]
    columns = {n: [c["name"] for c in inspector.get_columns(n)] for n in names}
    foreign_keys = {
        n: [
            (fk["constrained_columns"][0], fk["referred_table"], fk["referred_columns"][0])
            for fk in inspector.get_foreign_keys(n)
            if len(fk["constrained_columns"]) == 1 and fk["referred_table"] in columns
        ]
        for n in names
    }
    tables = {n: table(n, *(column(c) for c in columns[n])) for n in names}
    scopes: dict[str, ColumnElement[bool] | None] = {}

    def scope(name: str, seen: frozenset[str] = frozenset()) -> ColumnElement[bool] | None:
        if name in scopes:
            return scopes[name]
        t = tables[name]
        clause: ColumnElement[bool] | None = None
        if name == Organization.__tablename__:
            clause = t.c.id == organization_id
        elif "organization_id" in t.c:
            clause = t.c.organization_id == organization_id
        else:
            parts: list[ColumnElement[bool]] = []
            for local, parent, remote in foreign_keys[name]:
                if parent == name or parent in seen:
                    continue
                parent_scope = scope(parent, seen | {name})
                if parent_scope is not None:
                    parts.append(
                        t.c[local].in_(select(tables[parent].c[remote]).where(parent_scope))
                    )
            if parts:
                clause = or_(*parts)
        scopes[name] = clause
        return clause

    owned = [n for n in names if n not in keep and scope(n) is not None]
    for name in _children_first(owned, foreign_keys):
        clause = scopes[name]
        assert clause is not None
        session.execute(delete(tables[name]).where(clause))
    session.expire_all()


def _children_first(
    names: list[str], foreign_keys: dict[str, list[tuple[str, str, str]]]
) -> list[str]:
    remaining = set(names)
    order: list[str] = []
    while remaining:
        # A table can go when no other remaining table points at it.
        ready = sorted(
            n
            for n in remaining
            if not any(
                parent == n and child != n
                for child in remaining
                for _local, parent, _remote in foreign_keys[child]
            )
        )
        if not ready:
            raise DemoError(
                "cannot clear the demo: foreign keys form a cycle between "
                + ", ".join(sorted(remaining))
            )
        order.extend(ready)
        remaining.difference_update(ready)
    return order
