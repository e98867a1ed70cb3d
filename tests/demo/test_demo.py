"""The demo organization: it loads through the desk's own flows on SQLite and PostgreSQL, shows
every feature a newcomer should see (routing, SLA clocks, requests to other teams, promises,
follow-ups and the reports among them), leaves the worker nothing to do, and loading it again
changes nothing."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import AuditEvent, Member, Organization, Team
from socialdesk.alerts.models import AlertFiring, VolumeAlert
from socialdesk.channels.models import BrandAccount, EventStatus, InboundEvent
from socialdesk.commitments.models import Commitment, CommitmentStatus
from socialdesk.common.clock import FrozenClock, use_clock
from socialdesk.connectors import registry
from socialdesk.connectors.base import ChannelKind
from socialdesk.contacts.models import ContactIdentity
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import (
    Activity,
    Conversation,
    ConversationTag,
    DeliveryState,
    Direction,
    Message,
    Priority,
    Status,
)
from socialdesk.demo import data, loader
from socialdesk.demo.cli import demo
from socialdesk.demo.data import (
    AnswerFails,
    Answers,
    Asks,
    CancelsFollowUp,
    ComesBack,
    Done,
    GoesAway,
    RecognisesCustomer,
    Resolves,
    Says,
    Snoozes,
)
from socialdesk.escalations.models import EscalationRequest, RequestStatus
from socialdesk.followups import metrics as care_metrics
from socialdesk.followups.models import FollowUp, FollowUpPolicy, FollowUpStatus, Survey
from socialdesk.jobs import registry as jobs_registry
from socialdesk.jobs.models import JobIntent
from socialdesk.notifications.models import Notification
from socialdesk.policy import service as policy_service
from socialdesk.policy.models import ORG_SCOPE, Approval, ApprovalStatus
from socialdesk.polls import replies
from socialdesk.polls.models import Poll
from socialdesk.polls.results import choices
from socialdesk.routing import service as routing_service
from socialdesk.routing.models import AutomationRule, AutomationRun, RoutingRule, Strategy
from socialdesk.saved_replies import service as saved_replies_service
from socialdesk.schedules.models import BusinessHours
from socialdesk.sla import reports as sla_reports
from socialdesk.sla.models import SlaClock, SlaPolicy
from tests.conftest import reset_caches
from tests.factories.connectors import RecordingConnector

# A worker's minute: the periodic tasks the demo's week is made of, polling (switched off for
# the demo's accounts, which are not connected) and the recovery of interrupted sends and of
# inbound events whose job was lost.
WORKER_MINUTE = (
    "ingest.poll_all",
    "outbound.recover_interrupted",
    "ingest.recover_events",
    "conversations.wake_snoozed",
    "routing.reassign",
    "routing.automation_due",
    "sla.alerts",
    "followups.tick",
    "followups.sweep",
    "commitments.remind",
    "escalations.overdue",
    "alerts.check",
)
# Sunday 27 December 2026, 02:30 in Amsterdam: night, weekend and a holiday week.
HOLIDAY_NIGHT = datetime(2026, 12, 27, 1, 30, tzinfo=UTC)


@pytest.fixture
def db(database_url: str, clock: FrozenClock) -> Iterator[Session]:
    """A session for reading what the demo wrote (the loader commits on its own)."""
    from socialdesk.db.session import get_sessionmaker

    session = get_sessionmaker(write=False)()
    try:
        yield session
    finally:
        session.close()


def _row_counts(session: Session) -> dict[str, int]:
    """Rows per table, but for the job queue's record of the jobs still owed (job_intents),
    which the load's commit fills and the jobs empty as they run."""
    names = [
        n
        for n in inspect(session.connection()).get_table_names()
        if n not in {"alembic_version", "job_intents"} and not n.startswith("messages_fts")
    ]
    return {n: session.execute(text(f'SELECT count(*) FROM "{n}"')).scalar_one() for n in names}


def _demo_org(session: Session) -> Organization:
    org = session.scalar(select(Organization).where(Organization.slug == data.ORGANIZATION_SLUG))
    assert org is not None
    return org


def _leaves_the_worker_nothing_to_do(db: Session) -> None:
    """The jobs the load's commit enqueued, then a worker's first minute: nothing changes."""
    from socialdesk.jobs import catalog  # noqa: F401 - registers the periodic tasks
    from socialdesk.jobs.queue import get_queue

    counts = _row_counts(db)
    db.rollback()
    get_queue().run_pending()
    tasks = {spec.name: spec for spec in jobs_registry.all_periodic()}
    for name in WORKER_MINUTE:
        tasks[name].handler()
    get_queue().run_pending()
    after = _row_counts(db)
    owed = db.scalar(select(func.count()).select_from(JobIntent))
    db.rollback()
    assert {k: v for k, v in after.items() if counts[k] != v} == {}
    assert owed == 0  # every job the load queued has run


def _shows_the_desk_at_work(db: Session, org: Organization, now: datetime) -> None:
    """Teams' hours and leads, duty, routing, automation, SLA clocks and the report, requests
    to other teams, promises, follow-ups and the care report, as a newcomer should see them.
    Everything asserted here holds whatever the time of day the demo is loaded at."""
    conversations = {
        c.id: c
        for c in db.scalars(select(Conversation).where(Conversation.organization_id == org.id))
    }
    members = {m.id: m for m in db.scalars(select(Member).where(Member.organization_id == org.id))}

    # Teams with leads and working hours; Billing closes on holidays.
    teams = {t.name: t for t in db.scalars(select(Team).where(Team.organization_id == org.id))}
    assert all(t.lead_member_id is not None for t in teams.values())
    hours = {
        h.id: h
        for h in db.scalars(select(BusinessHours).where(BusinessHours.organization_id == org.id))
    }
    worked = {
        t.name: hours[t.business_hours_id].name for t in teams.values() if t.business_hours_id
    }
    assert worked == {"Customer support": "Customer care", "Tickets & billing": "Billing office"}
    billing = next(h for h in hours.values() if h.name == "Billing office")
    assert f"{now.year}-12-25" in billing.holidays
    assert billing.intervals["0"] == [["09:00", "17:00"]]
    assert "5" not in billing.intervals

    # Duty: capacities and languages set, some members away, someone on duty.
    assert {m.capacity for m in members.values()} > {0}
    board = routing_service.duty_board(db, organization_id=org.id)
    assert any(r.why_not and r.why_not.endswith("went away") for r in board)
    assert any(r.on_duty for r in board)

    # Routing: least loaded, the rules in order, every conversation routed, every rule used.
    assert routing_service.get_settings(db, organization_id=org.id).strategy == "least_loaded"
    rules = db.scalars(
        select(RoutingRule)
        .where(RoutingRule.organization_id == org.id)
        .order_by(RoutingRule.position)
    ).all()
    assert [r.name for r in rules] == [r.name for r in data.ROUTING_RULES]
    routed = db.scalars(
        select(Activity).where(Activity.organization_id == org.id, Activity.kind == "routed")
    ).all()
    assert {a.conversation_id for a in routed} == set(conversations)
    matched = {name for a in routed for name in str(a.data["rules"]).split(", ")}
    assert {r.name for r in rules} <= matched
    spanish = [c for c in conversations.values() if c.language == "es"]
    assert spanish
    assert all(c.assignee_id and "es" in members[c.assignee_id].languages for c in spanish)

    # Automation: "angry on X, no reply in 15 minutes" told the lead.
    automation_rules = db.scalars(
        select(AutomationRule).where(AutomationRule.organization_id == org.id)
    ).all()
    assert [r.trigger for r in automation_rules] == ["no_reply"]
    outcomes = db.scalars(
        select(AutomationRun.outcome).where(AutomationRun.organization_id == org.id)
    ).all()
    assert any((o or "").startswith("fired: notified 1 person") for o in outcomes)
    notified = db.scalars(select(Notification).where(Notification.organization_id == org.id)).all()
    assert {
        "automation",
        "sla.warning",
        "sla.breach",
        "escalation.requested",
        "escalation.done",
        "escalation.overdue",
        "commitment.reminder",
        "commitment.overdue",
        "followup.negative",
    } <= {n.kind for n in notified}
    # Members read what arrived before they last worked; the rest waits for them.
    assert any(n.read_at is None for n in notified)
    assert any(n.read_at is not None and n.read_at <= now for n in notified)

    # SLA: the policies in order; clocks met, missed, running overdue and about to be due.
    policies = db.scalars(
        select(SlaPolicy).where(SlaPolicy.organization_id == org.id).order_by(SlaPolicy.position)
    ).all()
    assert [p.name for p in policies] == [p.name for p in data.SLA_POLICIES]
    clocks = db.scalars(select(SlaClock).where(SlaClock.organization_id == org.id)).all()
    running = [k for k in clocks if k.stopped_at is None and k.paused_at is None]
    assert any(k.due_at < now and k.breached_at == k.due_at for k in running), "one overdue"
    assert any(now < k.due_at <= now + timedelta(minutes=30) for k in running), "one soon"
    assert any(k.warned_at is not None for k in running if k.due_at > now)
    stopped = [k for k in clocks if k.stopped_at is not None]
    assert any(k.breached_at is None and k.elapsed_seconds is not None for k in stopped)
    assert any(k.breached_at is not None for k in stopped)
    for conversation in conversations.values():
        mine = [k for k in clocks if k.conversation_id == conversation.id]
        due = [k.due_at for k in mine if k.stopped_at is None and k.paused_at is None]
        assert conversation.sla_due_at == (min(due) if due else None), conversation.id
        assert conversation.sla_breached == any(k.breached_at for k in mine), conversation.id
    today = now.astimezone(ZoneInfo(data.ORGANIZATION_TIMEZONE)).date()
    month = (today - timedelta(days=29), today)
    report = sla_reports.sla_report(
        db, organization_id=org.id, start=month[0], end=month[1], now=now
    )
    assert report.total.conversations >= 30
    assert report.total.within > 0
    assert report.total.breached > 0
    assert report.total.first_response.count > 0
    assert report.total.resolution.count > 0

    # Requests to other teams: one done, one open and overdue (announced), one open and due.
    requests = db.scalars(
        select(EscalationRequest).where(EscalationRequest.organization_id == org.id)
    ).all()
    open_ = [r for r in requests if r.status == RequestStatus.OPEN.value]
    assert any(r.status == RequestStatus.DONE.value and r.resolution for r in requests)
    assert any(r.due_at and r.due_at <= now and r.overdue_notified_at for r in open_)
    assert any(r.due_at and r.due_at > now and r.overdue_notified_at is None for r in open_)

    # Promises kept from replies and notes: kept, overdue (announced), due soon.
    promises = db.scalars(select(Commitment).where(Commitment.organization_id == org.id)).all()
    pending = [c for c in promises if c.status == CommitmentStatus.OPEN.value]
    assert any(c.status == CommitmentStatus.KEPT.value and c.evidence for c in promises)
    assert any(c.due_at < now and c.overdue_notified_at is not None for c in pending)
    assert any(now < c.due_at <= now + timedelta(days=3) for c in pending)
    assert all(c.source == "detected" and c.message_id for c in promises)

    # Follow-ups: the organization's default and the website's survey; sent, answered with a
    # score, answered "not fixed", cancelled by a person, and one still to go out.
    follow_up_policies = db.scalars(
        select(FollowUpPolicy).where(FollowUpPolicy.organization_id == org.id)
    ).all()
    assert {(p.channel, p.delay_minutes, p.survey) for p in follow_up_policies} == {
        (None, 24 * 60, "none"),
        ("web", 60, "scale"),
    }
    follow_ups = db.scalars(select(FollowUp).where(FollowUp.organization_id == org.id)).all()
    answered = [f for f in follow_ups if f.status == FollowUpStatus.ANSWERED.value]
    assert len([f for f in answered if f.satisfaction is not None]) >= 2
    assert {f.answer for f in answered} >= {"positive", "negative"}
    assert all(f.sent_at and f.answered_at and f.sent_at <= f.answered_at for f in answered)
    assert any(f.status == FollowUpStatus.CANCELLED.value for f in follow_ups)
    assert any(f.status == FollowUpStatus.SCHEDULED.value and f.due_at > now for f in follow_ups)
    for follow_up in follow_ups:
        if follow_up.message_id is not None:
            message = db.get_one(Message, follow_up.message_id)
            assert message.delivery_state == DeliveryState.SENT.value, follow_up.id
            assert message.sent_at is not None
            assert message.sent_at <= now
    care = care_metrics.care_report(
        db, organization_id=org.id, start=month[0], end=month[1], now=now
    ).total
    assert care.followup_rate
    assert care.answer_rate
    assert care.average_satisfaction
    assert care.promise_kept_rate
    assert care.commitments_overdue >= 1

    # Volume alerts: the tram 4 outage went over once, told Communications' lead, and calmed.
    alerts = {
        a.name: a
        for a in db.scalars(select(VolumeAlert).where(VolumeAlert.organization_id == org.id))
    }
    assert set(alerts) == {a.name for a in data.VOLUME_ALERTS}
    for alert in alerts.values():
        assert alert.firing_since is None
        assert alert.last_checked_at == now
        firings = db.scalars(select(AlertFiring).where(AlertFiring.alert_id == alert.id)).all()
        assert len(firings) == 1, alert.name
        (firing,) = firings
        assert firing.ended_at is not None
        assert firing.started_at < firing.ended_at < now
        assert firing.notified >= 1
        assert set(firing.conversation_ids) <= set(conversations)
    told = db.scalars(
        select(Notification.member_id).where(
            Notification.organization_id == org.id, Notification.kind == "alert.volume"
        )
    ).all()
    assert teams["Communications"].lead_member_id in told

    # Polls: one asked days ago, posted and closed with its counts, its author told the result;
    # one about money in public, held for an approver, who is told.
    closed, on_x, held = db.scalars(
        select(Poll).where(Poll.organization_id == org.id).order_by(Poll.id)
    ).all()
    assert (closed.state, on_x.state, held.state) == ("closed", "closed", "held")
    assert closed.votes == [118, 291, 164]
    accounts_of = {a.id: a.kind for a in db.scalars(select(BrandAccount))}
    assert accounts_of[on_x.brand_account_id] == "x"
    assert on_x.votes == [412, 655, 287, 96]
    assert on_x.url is not None
    assert on_x.url.startswith("https://x.com/KestrelTransit/status/")
    assert [c.title for c in choices(on_x) if c.leading] == ["The Kestrel app"]
    # Two people answered it in words: each is a conversation of their own.
    poll_replies = replies.of(db, poll=on_x)
    assert poll_replies.count == 2
    assert len({r.conversation_id for r in poll_replies.newest}) == 2
    assert {r.author_name for r in poll_replies.newest} == {"Milo Grant", "Rosa Kaya"}
    assert replies.mood(db, poll=on_x).triaged == 2
    assert closed.url is not None
    assert closed.posted_at is not None
    assert closed.counted_at is not None
    assert closed.posted_at < closed.counted_at < now
    assert [c.title for c in choices(closed) if c.leading] == ["01:30"]
    result = db.scalars(
        select(Notification).where(
            Notification.kind == "poll.closed", Notification.member_id == closed.created_by_id
        )
    ).one()
    assert result.title == "Your poll closed: “01:30” won (51%)"
    assert (
        "Your poll closed: “The Kestrel app” won (45%)"
        in db.scalars(select(Notification.title).where(Notification.kind == "poll.closed")).all()
    )
    assert [r["rule"] for r in held.reasons] == ["no-money-in-public"]
    asked = db.scalars(
        select(Notification.member_id).where(Notification.kind == "approval.poll")
    ).all()
    assert {members[m].role for m in asked} == {"owner", "admin"}


@pytest.fixture
def desk_client(database_url: str) -> Iterator[TestClient]:
    from socialdesk.app import create_app

    with TestClient(create_app(), follow_redirects=False) as client:
        yield client


def _pages_show_it(
    client: TestClient,
    login: loader.Login,
    *,
    spanish_id: int,
    asked_id: int,
    appeal_id: int,
) -> None:
    """The pages a newcomer opens, as the owner: nothing empty, nothing broken."""
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    signed_in = client.post(
        "/login",
        data={"email": login.email, "password": login.password, "csrf_token": token.group(1)},
    )
    assert signed_in.status_code == 303, signed_in.text
    expected = {
        # The inbox by time left: live SLA chips, overdue and about to be due.
        "/?sort=sla": ["chip-sla-overdue", "chip-sla-soon", "data-sla-due"],
        "/reports": ["Customer support"],
        "/reports/care": ["Tickets &amp; billing"],
        # The tram 4 outage of three hours ago is what customers talk about.
        "/reports/topics?period=6h": ['data-term="tram 4"'],
        "/reports/polls": ["Service changes and delays", "The Kestrel app"],
        # Elif's appeal came with a photo of her pass and her bank statement.
        f"/conversations/{appeal_id}": [
            'alt="Elif&#39;s monthly pass, valid for the whole month"',
            ">statement-october.pdf</a>",
        ],
        "/admin/routing": [r.name for r in data.ROUTING_RULES] + ["went away"],
        "/admin/automation": ["Angry on X, no reply in 15 minutes"],
        "/admin/alerts": [a.name for a in data.VOLUME_ALERTS],
        "/admin/sla": [p.name for p in data.SLA_POLICIES],
        "/admin/business-hours": [h.name for h in data.BUSINESS_HOURS],
        "/admin/follow-ups": ["checking in"],
        f"/conversations/{asked_id}/panels/escalations": ["When will line 4 run again?"],
        f"/conversations/{asked_id}/panels/commitments": ["as soon as line 4 is back"],
        "/notifications": ["SLA"],
        f"/conversations/{spanish_id}/panels/sla": ["Urgent: answer within 30 minutes"],
    }
    for path, texts in expected.items():
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        for wanted in texts:
            assert wanted in response.text, (path, wanted)
    assert "Nothing measured in this range." not in client.get("/reports").text
    assert "Nothing in this range." not in client.get("/reports/care").text


# -- the script itself --------------------------------------------------------------------


def test_every_scene_is_coherent() -> None:
    members = {m.key for m in data.MEMBERS}
    customers = {c.key: c for c in data.CUSTOMERS}
    accounts = {a.kind for a in data.ACCOUNTS}
    assert accounts == {
        ChannelKind.WEB,
        ChannelKind.X,
        ChannelKind.MASTODON,
        ChannelKind.BLUESKY,
        ChannelKind.EMAIL,
    }
    teams = {t.name for t in data.TEAMS}
    assert {m.team for m in data.MEMBERS if m.team} <= teams
    assert len({m.email for m in data.MEMBERS}) == len(data.MEMBERS)
    for scene in data.SCENES:
        where = f"scene {scene.key}"
        assert scene.channel in accounts, where
        assert isinstance(scene.steps[0], Says), f"{where}: the customer writes first"
        agos = [step.ago for step in scene.steps]
        assert agos == sorted(agos, reverse=True), f"{where}: steps are not in time order"
        assert all(a >= timedelta(0) for a in agos), f"{where}: a step is in the future"
        assert scene.channel in customers[scene.customer].identities, where
        assert (scene.subject is not None) == (scene.channel is ChannelKind.EMAIL), where
        for step in scene.steps:
            by = getattr(step, "by", None)
            assert by is None or by in members, f"{where}: unknown member {by}"
            assert getattr(step, "to", None) in (None, *members), where
            assert getattr(step, "team", None) in (None, *teams), where
            assert getattr(step, "member", None) in (None, *members), where
            for tag in getattr(step, "tags", ()):
                assert conversations_service.normalise_tag(tag) == tag, f"{where}: tag {tag}"
            if isinstance(step, Snoozes):
                assert step.until > timedelta(0), f"{where}: snoozes into the past"
            if isinstance(step, RecognisesCustomer):
                assert len(customers[scene.customer].identities) >= 2, where
            if isinstance(step, Asks):
                assert (step.team, step.member) != (None, None), f"{where}: asks nobody"
                assert step.member != step.by, f"{where}: asks themselves"
                assert step.due_in is None or step.due_in > timedelta(0), where
        kinds = [type(step) for step in scene.steps]
        # A request is done after it was asked; a follow-up is cancelled after a resolution.
        for later, earlier in ((Done, Asks), (CancelsFollowUp, Resolves)):
            for index, kind in enumerate(kinds):
                if kind is later:
                    assert earlier in kinds[:index], f"{where}: {later.__name__} first"
    assert len({s.key for s in data.SCENES}) == len(data.SCENES)
    assert len(data.SCENES) >= 30


def test_the_desk_is_set_up_coherently() -> None:
    """Teams, hours, rules, SLA and follow-up policies name only what the demo has."""
    members = {m.key: m for m in data.MEMBERS}
    teams = {t.name for t in data.TEAMS}
    hours = {h.name for h in data.BUSINESS_HOURS}
    for team in data.TEAMS:
        assert team.hours in (None, *hours), team
        if team.lead is not None:  # a lead is a member of the team
            assert members[team.lead].team == team.name, team
    for spec in data.BUSINESS_HOURS:
        assert set(spec.intervals) <= {str(d) for d in range(7)}, spec.name
        assert all(1 <= month <= 12 and 1 <= day <= 31 for month, day in spec.holidays)
    named = [(r.name, r.actions) for r in data.ROUTING_RULES] + [
        (r.name, r.actions) for r in data.AUTOMATION_RULES
    ]
    for name, actions in named:
        for action in actions:
            assert action.get("team") in (None, *teams), name
            assert action.get("member") in (None, *members), name
    assert [a.trigger for a in data.AUTOMATION_RULES] == ["no_reply"]
    assert data.ROUTING.strategy is Strategy.LEAST_LOADED
    # The demo's worker times what the demo uses; reassigning after N minutes is not timed.
    assert data.ROUTING.reassign_after_minutes is None
    for sla in data.SLA_POLICIES:
        assert sla.hours in (None, *hours), sla.name
    priorities = [sla.priority for sla in data.SLA_POLICIES]
    assert priorities[-1] is None, "the last policy catches every conversation"
    assert [p.channel for p in data.FOLLOW_UP_POLICIES].count(None) == 1
    surveys = {p.channel: p.survey for p in data.FOLLOW_UP_POLICIES}
    assert surveys[ChannelKind.WEB] is Survey.SCALE
    agos = [change.ago for change in data.AVAILABILITY]
    assert agos == sorted(agos, reverse=True)
    away: set[str] = set()
    for change in data.AVAILABILITY:
        assert change.who in members
        if isinstance(change, GoesAway):
            away.add(change.who)
        else:
            assert isinstance(change, ComesBack)
            away.discard(change.who)
    assert away, "the duty board shows someone away"
    assert set(members) - away, "and someone on duty"


# -- loading ------------------------------------------------------------------------------


def test_demo_loads_with_every_feature_and_only_once(
    db: Session, clock: FrozenClock, desk_client: TestClient
) -> None:
    before = dict(registry._extra)
    loaded = loader.load()
    assert registry._extra == before, "the scripted network must not outlive the load"
    now = clock.now()

    assert loaded.created
    org = _demo_org(db)
    assert loader.is_demo(org)
    conversations = list(
        db.scalars(select(Conversation).where(Conversation.organization_id == org.id))
    )
    assert loaded.conversations == len(conversations) >= 30

    # Members: every role a desk needs, each with a generated password that works.
    roles = Counter(login.role for login in loaded.logins)
    assert roles["owner"] == 1
    assert roles["admin"] == 1
    assert roles["agent"] >= 4
    passwords = [login.password for login in loaded.logins]
    assert len(set(passwords)) == len(passwords)
    assert all(len(p) >= accounts_service.MIN_PASSWORD_LENGTH for p in passwords)
    teams = {login.team for login in loaded.logins if login.team}
    assert {"Customer support", "Tickets & billing", "Field service", "Communications"} <= teams
    with db.begin_nested():
        member = accounts_service.authenticate(
            db, email=loaded.logins[2].email, password=loaded.logins[2].password
        )
        assert member.organization_id == org.id
    db.rollback()

    # Brand accounts on five channels, conversations on every one of them.
    accounts = {
        a.id: a.kind
        for a in db.scalars(select(BrandAccount).where(BrandAccount.organization_id == org.id))
    }
    assert set(accounts.values()) == {"web", "x", "mastodon", "bluesky", "email"}
    assert {accounts[c.brand_account_id] for c in conversations} == set(accounts.values())

    messages = list(db.scalars(select(Message).where(Message.organization_id == org.id)))
    by_id = {m.id: m for m in messages}

    # Threads with replies: public reply chains inside one conversation.
    chained = [
        m
        for m in messages
        if m.native_reply_to_id
        and any(
            o.native_id == m.native_reply_to_id and o.conversation_id == m.conversation_id
            for o in messages
        )
    ]
    assert any(m.visibility == "public" for m in chained)
    assert any(c.message_count >= 4 for c in conversations)
    # Direct messages on a network, not only on email and the website chat.
    direct_networks = {
        accounts[m.brand_account_id]
        for m in messages
        if m.visibility == "direct" and m.direction == Direction.INBOUND.value
    }
    assert {"x", "mastodon", "email", "web"} <= direct_networks

    # One customer, two channels: one contact with two identities, conversations on both.
    identities = Counter(
        db.scalars(
            select(ContactIdentity.contact_id).where(ContactIdentity.organization_id == org.id)
        )
    )
    two_channel = [contact for contact, n in identities.items() if n >= 2]
    assert two_channel
    channels_of = {
        accounts[c.brand_account_id] for c in conversations if c.contact_id == two_channel[0]
    }
    assert len(channels_of) >= 2

    # Notes, tags, assignment, teams, priorities, every status, snoozed into the future.
    assert sum(m.visibility == "note" for m in messages) >= 5
    tags = set(
        db.scalars(select(ConversationTag.name).where(ConversationTag.organization_id == org.id))
    )
    assert {"outage", "complaint", "question", "praise", "idea"} <= tags
    open_ = [c for c in conversations if c.status == Status.OPEN.value]
    assert any(c.assignee_id is not None for c in open_)
    assert any(c.assignee_id is None for c in open_)
    assert any(c.team_id is not None for c in conversations)
    assert {c.priority for c in conversations} == {p.value for p in Priority}
    statuses = Counter(c.status for c in conversations)
    assert all(statuses[s.value] >= 1 for s in Status), statuses
    snoozed = [c for c in conversations if c.status == Status.SNOOZED.value]
    assert all(c.snoozed_until is not None and c.snoozed_until > now for c in snoozed)

    # Replies on the website chat went through the gateway and the delivery job.
    web_replies = [
        m
        for m in messages
        if accounts[m.brand_account_id] == "web"
        and m.direction == Direction.OUTBOUND.value
        and m.visibility != "note"
    ]
    assert web_replies
    # The code of conduct is in place, every reply passed it, and one draft (an injury) waits
    # for an approver, with the clause that held it.
    policy = policy_service.latest(db, organization_id=org.id, scope=ORG_SCOPE)
    assert policy is not None
    assert policy.yaml == data.CODE_OF_CONDUCT
    # Saved replies are there, and the code of conduct would ask an approver for the one that
    # promises money in public, before anyone sends it.
    saved = saved_replies_service.search(db, organization_id=org.id)
    assert sorted(r.shortcut for r in saved) == sorted(r.shortcut for r in data.SAVED_REPLIES)
    judged = saved_replies_service.conduct(db, organization_id=org.id, replies=saved)
    assert {r.shortcut: str(judged[r.id].outcome) for r in saved} == {
        "lost-property": "allow",
        "refund": "approve",
        "replacement-bus": "allow",
        "season-ticket-pause": "allow",
    }
    org_teams = db.scalars(select(Team).where(Team.organization_id == org.id)).all()
    team_of = {r.shortcut: r.team_id for r in saved}
    assert team_of["season-ticket-pause"] == next(
        t.id for t in org_teams if t.name == "Tickets & billing"
    )
    assert team_of["refund"] is None
    held = [m for m in messages if m.delivery_state == DeliveryState.HELD.value]
    assert [m.text for m in held] == [
        s.text
        for scene in data.SCENES
        if scene.key == "web-hard-braking"
        for s in scene.steps
        if isinstance(s, Answers)
    ]
    approval = db.scalars(select(Approval).where(Approval.organization_id == org.id)).one()
    assert approval.status == ApprovalStatus.PENDING.value
    assert approval.message_id == held[0].id
    assert [r["rule"] for r in approval.reasons] == ["incidents-go-through-communications"]
    assert held[0].sent_at is None
    assert held[0].native_id is None
    for reply in web_replies:
        if reply in held:
            continue
        assert reply.author_member_id is not None
        assert reply.delivery_state == DeliveryState.SENT.value
        assert reply.native_id is not None
        assert reply.sent_at is not None
        assert reply.created_at < reply.sent_at < now
    # A reply the network refused, kept with its reason, signed by its author.
    failed = [m for m in messages if m.delivery_state == DeliveryState.FAILED.value]
    assert len(failed) == sum(
        isinstance(s, AnswerFails) for scene in data.SCENES for s in scene.steps
    )
    assert all(m.delivery_error and "refused" in m.delivery_error for m in failed)
    assert all(m.author_member_id is not None and m.signature for m in failed)
    # Network replies are the accounts' history: sent, from the brand.
    history = [
        m
        for m in messages
        if accounts[m.brand_account_id] != "web"
        and m.direction == Direction.OUTBOUND.value
        and m.visibility != "note"
        and m.delivery_state == DeliveryState.SENT.value
    ]
    assert len(history) >= 15

    # The website chat's messages came in as raw events through the ingest flow.
    events = list(db.scalars(select(InboundEvent).where(InboundEvent.organization_id == org.id)))
    assert events
    assert all(e.status == EventStatus.PROCESSED.value for e in events)

    # Customers coming back: one reopens a resolved conversation, one starts a new one.
    kinds = set(db.scalars(select(Activity.kind).where(Activity.organization_id == org.id)))
    assert {"reopened_by_customer", "follows", "assigned", "tagged", "note_added"} <= kinds

    # Times spread over the last days, none in the future; first responses were recorded.
    created = [m.created_at for m in messages]
    assert max(created) < now
    assert now - min(created) >= timedelta(days=5)
    assert now - min(created) <= timedelta(days=8)
    assert len({m.created_at.date() for m in messages}) >= 5
    answered = [c for c in conversations if c.first_response_at is not None]
    assert len(answered) >= 20
    assert all(c.first_inbound_at is not None for c in conversations)
    assert all(m.conversation_id in {c.id for c in conversations} for m in by_id.values())

    _shows_the_desk_at_work(db, org, now)
    db.rollback()
    spanish = next(c.id for c in conversations if c.language == "es")
    asked = db.scalars(
        select(EscalationRequest.conversation_id).where(
            EscalationRequest.status == RequestStatus.DONE.value
        )
    ).one()
    appeal = next(c.id for c in conversations if (c.subject or "").startswith("Penalty fare"))
    db.rollback()
    _pages_show_it(
        desk_client, loaded.logins[0], spanish_id=spanish, asked_id=asked, appeal_id=appeal
    )

    # Loading again changes nothing, and the delivery jobs the load enqueued (already run in
    # the load) find nothing left to do.
    counts = _row_counts(db)
    states = dict(db.execute(select(Message.id, Message.delivery_state)).all())
    db.rollback()
    again = loader.load()
    assert not again.created
    assert again.logins == ()
    assert again.organization_id == loaded.organization_id
    assert again.conversations == loaded.conversations
    from socialdesk.jobs.queue import get_queue

    assert get_queue().run_pending() >= len(web_replies)
    assert _row_counts(db) == counts
    assert dict(db.execute(select(Message.id, Message.delivery_state)).all()) == states
    # Nor does a worker's first minute: the load did what it would have done.
    _leaves_the_worker_nothing_to_do(db)


def test_demo_holds_together_on_a_holiday_night(db: Session) -> None:
    """Loaded at night, on a weekend in the week of Christmas: the clocks, promises, requests
    and follow-ups tell the same story, and only the teams that work at night are on duty."""
    with use_clock(FrozenClock(HOLIDAY_NIGHT)):
        loaded = loader.load()
        org = _demo_org(db)
        _shows_the_desk_at_work(db, org, HOLIDAY_NIGHT)
        board = {r.member.name: r for r in routing_service.duty_board(db, organization_id=org.id)}
        assert board["Aisha Okafor"].why_not == "Aisha Okafor's working hours ended"
        assert board["Priya Shah"].why_not == "Priya Shah's working hours ended"
        assert board["Hannah Lee"].on_duty
        db.rollback()
        _leaves_the_worker_nothing_to_do(db)
    assert loaded.conversations >= 30


def test_a_demo_loaded_by_an_earlier_version_is_left_alone_and_the_cli_says_so(
    db: Session, tmp_path: Path
) -> None:
    from socialdesk.db.session import session_scope

    with session_scope() as session:
        org = accounts_service.create_organization(
            session, name=data.ORGANIZATION_NAME, slug=data.ORGANIZATION_SLUG
        )
        org.settings = {loader.DEMO_SETTING: {"version": 1}}
    loaded = loader.load()
    assert not loaded.created
    assert loaded.outdated
    result = CliRunner().invoke(demo, [])
    assert result.exit_code == 0, result.output
    assert "nothing changed" in result.output
    assert "earlier version of the demo" in result.output
    assert db.scalar(select(func.count(Conversation.id))) == 0


@pytest.fixture
def installed_x() -> Iterator[RecordingConnector]:
    """An X connector installed in the registry, as a real one would be."""
    connector = RecordingConnector()
    previous = registry._extra.get("x")
    registry.register(connector)
    yield connector
    if previous is None:
        registry._extra.pop("x", None)
    else:
        registry.register(previous)


def test_reset_loads_again_and_keeps_members_and_their_audit_trail(
    db: Session, installed_x: RecordingConnector
) -> None:
    first = loader.load()
    # With the X connector installed, the demo still sends nothing to the network, and the
    # registry is handed back as it was.
    assert installed_x.sent == []
    assert registry.get("x") is installed_x
    content = {
        k: v for k, v in _row_counts(db).items() if k not in {"audit_events", "event_records"}
    }
    db.rollback()
    owner = first.logins[0]
    from socialdesk.db.session import session_scope

    with session_scope() as session:  # someone used the demo: the audit trail has a login
        accounts_service.authenticate(session, email=owner.email, password=owner.password)
    audited = db.scalar(select(func.count(AuditEvent.id)))
    assert audited
    db.rollback()

    again = loader.load(reset=True)

    assert again.created
    assert again.organization_id == first.organization_id
    assert again.conversations == first.conversations
    assert installed_x.sent == []
    assert registry.get("x") is installed_x
    after = {k: v for k, v in _row_counts(db).items() if k not in {"audit_events", "event_records"}}
    assert after == content
    assert db.scalar(select(func.count(AuditEvent.id))) >= audited
    member_ids = set(db.scalars(select(Member.id)))
    db.rollback()
    new_owner = again.logins[0]
    assert new_owner.password != owner.password
    with session_scope() as session:
        member = accounts_service.authenticate(
            session, email=new_owner.email, password=new_owner.password
        )
        assert member.id in member_ids
        with pytest.raises(accounts_service.LoginFailed):
            accounts_service.authenticate(session, email=owner.email, password=owner.password)


def test_an_organization_that_only_shares_the_slug_is_left_alone(db: Session) -> None:
    from socialdesk.db.session import session_scope

    with session_scope() as session:
        accounts_service.create_organization(
            session, name="Someone else", slug=data.ORGANIZATION_SLUG
        )
    with pytest.raises(loader.DemoError, match="is not the demo"):
        loader.load(reset=True)
    assert db.scalar(select(func.count(Conversation.id))) == 0


def test_cli_migrates_a_fresh_database_loads_once_and_prints_logins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FrozenClock
) -> None:
    monkeypatch.setenv("SOCIALDESK_DATABASE_URL", f"sqlite:///{tmp_path / 'fresh.db'}")
    monkeypatch.setenv("SOCIALDESK_VAR_DIR", str(tmp_path / "var"))
    reset_caches()
    try:
        runner = CliRunner()
        result = runner.invoke(demo, [])
        assert result.exit_code == 0, result.output
        for member in data.MEMBERS:
            assert member.email in result.output
        assert "/login" in result.output

        again = runner.invoke(demo, [])
        assert again.exit_code == 0, again.output
        assert "already loaded" in again.output
        assert "nothing changed" in again.output
        assert "earlier version" not in again.output
        for member in data.MEMBERS:
            assert member.email not in again.output
    finally:
        reset_caches()
