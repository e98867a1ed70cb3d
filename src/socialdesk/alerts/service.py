"""Volume alerts: keeping them, and checking them.

A check counts the customer messages that match an alert's filters and were written in the
last ``window_minutes``. The alert is *over* when that count reaches ``threshold`` and, when
``baseline_factor`` is set, is also at least that many times the usual count of such a window
(the matching messages of the 7 days before the window, spread over windows of that length,
worked out at most once an hour). Going over opens a firing and tells people once; coming back
below closes it. Going over again within one window of the close reopens the same firing
without telling anyone again, so a count that hovers at the threshold does not page people
every minute.

Messages count by the time the customer wrote them, and only once triage has read them (triage
runs on every incoming message as it is stored), so an import of old messages never looks like
a surge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, func, select
from sqlalchemy import delete as sql_delete
from sqlalchemy import update as sql_update
from sqlalchemy.orm import Session

from socialdesk.accounts import audit
from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member
from socialdesk.alerts.models import AlertFiring, NotifyTo, VolumeAlert
from socialdesk.channels import service as channels_service
from socialdesk.common import clock
from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.common.pagination import MAX_ROW_ID
from socialdesk.conversations.models import Message
from socialdesk.notifications import service as notifications_service
from socialdesk.notifications.models import Notification
from socialdesk.topics import service as topics_service
from socialdesk.triage import selection

MAX_ALERTS = 50
MIN_WINDOW, MAX_WINDOW = 5, 24 * 60
MAX_THRESHOLD = 100_000
MIN_FACTOR, MAX_FACTOR = 1.0, 100.0
BASELINE_SPAN = timedelta(days=7)
BASELINE_REFRESH = timedelta(hours=1)
EXAMPLES = 5
TOPICS = 3
NOTIFICATION_KIND = "alert.volume"


@dataclass(frozen=True)
class AlertSpec:
    """What a person writes when adding or changing an alert."""

    name: str
    window_minutes: int
    threshold: int
    notify_to: str
    filters: dict[str, Any]
    baseline_factor: float | None = None
    team_id: int | None = None
    member_id: int | None = None
    webhook: bool = False
    enabled: bool = True


# -- keeping ---------------------------------------------------------------------------------


def _validate(session: Session, *, organization_id: int, spec: AlertSpec) -> AlertSpec:
    name = " ".join(spec.name.split())
    if not name:
        raise ValidationFailed("an alert needs a name", field="name")
    if len(name) > 120:
        raise ValidationFailed("the name is longer than 120 characters", field="name")
    if not MIN_WINDOW <= spec.window_minutes <= MAX_WINDOW:
        raise ValidationFailed(
            f"window_minutes must be between {MIN_WINDOW} and {MAX_WINDOW}, "
            f"not {spec.window_minutes}",
            field="window_minutes",
        )
    if not 1 <= spec.threshold <= MAX_THRESHOLD:
        raise ValidationFailed(
            f"threshold must be between 1 and {MAX_THRESHOLD}, not {spec.threshold}",
            field="threshold",
        )
    factor = spec.baseline_factor
    if factor is not None and not (math.isfinite(factor) and MIN_FACTOR <= factor <= MAX_FACTOR):
        raise ValidationFailed(
            f"baseline_factor must be between {MIN_FACTOR:g} and {MAX_FACTOR:g} (or empty), "
            f"not {factor}",
            field="baseline_factor",
        )
    to, team_id, member_id = _recipient_fields(session, organization_id, spec)
    return AlertSpec(
        name=name,
        window_minutes=spec.window_minutes,
        threshold=spec.threshold,
        notify_to=to,
        filters=selection.clean_filters(spec.filters),
        baseline_factor=factor,
        team_id=team_id,
        member_id=member_id,
        webhook=spec.webhook,
        enabled=spec.enabled,
    )


def _recipient_fields(
    session: Session, organization_id: int, spec: AlertSpec
) -> tuple[str, int | None, int | None]:
    """notify_to, team_id and member_id, checked: the team and member are the organization's."""
    try:
        to = NotifyTo(spec.notify_to)
    except ValueError:
        raise ValidationFailed(
            f"notify_to must be one of {', '.join(t.value for t in NotifyTo)}, "
            f"not {spec.notify_to!r}",
            field="notify_to",
        ) from None
    team_id, member_id = spec.team_id, spec.member_id
    if to in (NotifyTo.TEAM_LEAD, NotifyTo.TEAM) and team_id is None:
        who = "the lead of a team" if to is NotifyTo.TEAM_LEAD else "a team"
        raise ValidationFailed(
            f"choose the team: the alert tells {who} (notify_to {to.value} needs a team_id)",
            field="team_id",
        )
    if spec.webhook and team_id is None:
        raise ValidationFailed("the webhook is a team's: choose the team", field="team_id")
    if team_id is not None:
        try:
            accounts_service.get_team(session, organization_id=organization_id, team_id=team_id)
        except NotFound as exc:
            raise ValidationFailed(exc.message, field="team_id") from None
    if to is not NotifyTo.MEMBER:
        return to.value, team_id, None
    if member_id is None:
        raise ValidationFailed(
            "choose the member to tell (notify_to member needs a member_id)", field="member_id"
        )
    try:
        member = accounts_service.get_member(
            session, organization_id=organization_id, member_id=member_id
        )
    except NotFound as exc:
        raise ValidationFailed(exc.message, field="member_id") from None
    if not member.is_active:
        raise ValidationFailed(f"{member.name} has left the organization", field="member_id")
    return to.value, team_id, member_id


def _snapshot(alert: VolumeAlert) -> dict[str, Any]:
    return {
        "name": alert.name,
        "enabled": alert.enabled,
        "filters": alert.filters,
        "window_minutes": alert.window_minutes,
        "threshold": alert.threshold,
        "baseline_factor": alert.baseline_factor,
        "notify_to": alert.notify_to,
        "team_id": alert.team_id,
        "member_id": alert.member_id,
        "webhook": alert.webhook,
    }


def _apply(alert: VolumeAlert, spec: AlertSpec) -> None:
    criteria_changed = (
        alert.filters != spec.filters
        or alert.window_minutes != spec.window_minutes
        or alert.threshold != spec.threshold
        or alert.baseline_factor != spec.baseline_factor
    )
    alert.name = spec.name
    alert.enabled = spec.enabled
    alert.filters = spec.filters
    alert.window_minutes = spec.window_minutes
    alert.threshold = spec.threshold
    alert.baseline_factor = spec.baseline_factor
    alert.notify_to = spec.notify_to
    alert.team_id = spec.team_id
    alert.member_id = spec.member_id
    alert.webhook = spec.webhook
    if criteria_changed:
        alert.baseline = alert.baseline_at = None  # worked out again at the next check


def create(
    session: Session, *, organization_id: int, spec: AlertSpec, actor: Member | None
) -> VolumeAlert:
    clean = _validate(session, organization_id=organization_id, spec=spec)
    existing = session.scalar(
        select(func.count())
        .select_from(VolumeAlert)
        .where(VolumeAlert.organization_id == organization_id)
    )
    if (existing or 0) >= MAX_ALERTS:
        raise ValidationFailed(f"an organization has at most {MAX_ALERTS} volume alerts")
    now = clock.now()
    alert = VolumeAlert(organization_id=organization_id, created_at=now, updated_at=now)
    _apply(alert, clean)
    session.add(alert)
    session.flush()
    _audit(session, alert, actor, after=_snapshot(alert))
    return alert


def update(
    session: Session, *, alert: VolumeAlert, spec: AlertSpec, actor: Member | None
) -> VolumeAlert:
    clean = _validate(session, organization_id=alert.organization_id, spec=spec)
    before = _snapshot(alert)
    _apply(alert, clean)
    now = clock.now()
    if not alert.enabled:
        _close(session, alert, now)
    alert.updated_at = now
    session.flush()
    _audit(session, alert, actor, before=before, after=_snapshot(alert))
    return alert


def delete(session: Session, *, alert: VolumeAlert, actor: Member | None) -> None:
    _audit(session, alert, actor, before=_snapshot(alert))
    session.execute(sql_delete(AlertFiring).where(AlertFiring.alert_id == alert.id))
    session.delete(alert)
    session.flush()


def _audit(
    session: Session,
    alert: VolumeAlert,
    actor: Member | None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """An alert added (no ``before``), changed, or deleted (no ``after``). Written here rather
    than by the settings listener (audit.track_settings): an alert also holds the state of its
    checks (last count, firing since, baseline), which changes every minute and is not a
    setting anyone changed."""
    audit.record(
        session,
        organization_id=alert.organization_id,
        action="settings_changed",
        actor=actor,
        target=("volume_alert", alert.id),
        before=before,
        after=after,
    )


def get(session: Session, *, organization_id: int, alert_id: int) -> VolumeAlert:
    # Past a 64-bit row id the databases cannot even look it up: it names no alert.
    alert = session.get(VolumeAlert, alert_id) if 0 < alert_id <= MAX_ROW_ID else None
    if alert is None or alert.organization_id != organization_id:
        raise NotFound(f"volume alert {alert_id} does not exist")
    return alert


def list_alerts(session: Session, *, organization_id: int) -> list[VolumeAlert]:
    return list(
        session.scalars(
            select(VolumeAlert)
            .where(VolumeAlert.organization_id == organization_id)
            .order_by(VolumeAlert.name, VolumeAlert.id)
        )
    )


def firings(session: Session, *, alert: VolumeAlert, limit: int = 20) -> list[AlertFiring]:
    return list(
        session.scalars(
            select(AlertFiring)
            .where(AlertFiring.alert_id == alert.id)
            .order_by(AlertFiring.started_at.desc(), AlertFiring.id.desc())
            .limit(limit)
        )
    )


# -- counting ---------------------------------------------------------------------------------


def _matching(alert: VolumeAlert, start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    """Conditions for the customer messages the alert counts, written in (start, end]."""
    return selection.conditions(
        organization_id=alert.organization_id, filters=alert.filters or {}, start=start, end=end
    )


def count(session: Session, alert: VolumeAlert, start: datetime, end: datetime) -> int:
    """How many matching customer messages were written in (start, end]."""
    counted = selection.joined(select(func.count()), _matching(alert, start, end))
    return int(session.scalar(counted) or 0)


def _examples(session: Session, alert: VolumeAlert, start: datetime, end: datetime) -> list[int]:
    rows = session.execute(
        selection.joined(select(Message.conversation_id), _matching(alert, start, end))
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(EXAMPLES * 4)
    ).scalars()
    seen: list[int] = []
    for conversation_id in rows:
        if conversation_id not in seen:
            seen.append(conversation_id)
        if len(seen) == EXAMPLES:
            break
    return seen


def _baseline_due(alert: VolumeAlert, now: datetime) -> bool:
    """Whether the usual level must be worked out (again): it is kept an hour."""
    if alert.baseline_factor is None:
        return False
    fresh = alert.baseline_at is not None and now - alert.baseline_at < BASELINE_REFRESH
    return alert.baseline is None or not fresh


def _usual(session: Session, alert: VolumeAlert, now: datetime) -> float:
    """The usual count of a window: the matching messages of the 7 days before the window,
    per window of that length."""
    window = timedelta(minutes=alert.window_minutes)
    end = now - window
    return count(session, alert, end - BASELINE_SPAN, end) / (BASELINE_SPAN / window)


@dataclass(frozen=True)
class Reading:
    """What a check reads before it writes: the window's count, the usual level when it was
    due, and what stands out when the alert is about to fire. Read in a read-only transaction
    (:func:`read`), it keeps the slow counts out of the write lock."""

    at: datetime
    count: int
    usual: float | None  # worked out again; None when the kept one is fresh or not used
    topics: list[str] | None  # None unless the alert is about to fire


def read(session: Session, alert: VolumeAlert, *, now: datetime | None = None) -> Reading:
    """Everything :func:`check` needs to read, without writing."""
    at = clock.require_aware(now or clock.now(), "now")
    window = timedelta(minutes=alert.window_minutes)
    seen = count(session, alert, at - window, at)
    usual = _usual(session, alert, at) if _baseline_due(alert, at) else None
    baseline = usual if usual is not None else alert.baseline
    topics = None
    if alert.firing_since is None and _over(alert, seen, baseline):
        topics = _standing_out(session, alert, at - window, at)
    return Reading(at=at, count=seen, usual=usual, topics=topics)


def _over(alert: VolumeAlert, seen: int, baseline: float | None) -> bool:
    if seen < alert.threshold:
        return False
    if alert.baseline_factor is None or baseline is None:
        return True
    return seen >= alert.baseline_factor * baseline


def _standing_out(
    session: Session, alert: VolumeAlert, start: datetime, end: datetime
) -> list[str]:
    surge = topics_service.between(
        session,
        organization_id=alert.organization_id,
        start=start,
        end=end,
        filters=alert.filters,
        limit=TOPICS,
    )
    return topics_service.names(surge.topics, TOPICS)


# -- checking ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checked:
    alert_id: int
    count: int
    baseline: float | None
    over: bool
    outcome: str  # "quiet", "fired", "still over", "calmed"


def check(
    session: Session,
    alert: VolumeAlert,
    *,
    now: datetime | None = None,
    reading: Reading | None = None,
) -> Checked:
    """Count the alert's window, and open or close its firing. The caller commits. With a
    ``reading`` (see :func:`read`) taken just before, its counts are used, not read again."""
    if reading is None:
        reading = read(session, alert, now=now)
    at = reading.at
    window = timedelta(minutes=alert.window_minutes)
    seen = reading.count
    if reading.usual is not None:
        alert.baseline, alert.baseline_at = reading.usual, at
    baseline = alert.baseline if alert.baseline_factor is not None else None
    over = _over(alert, seen, baseline)
    alert.last_count = seen
    alert.last_checked_at = at
    if not over:
        outcome = "calmed" if _close(session, alert, at) else "quiet"
        session.flush()
        return Checked(alert.id, seen, baseline, over, outcome)
    if alert.firing_since is not None:
        _open_firing(session, alert, seen)
        session.flush()
        return Checked(alert.id, seen, baseline, over, "still over")
    # Claimed with a conditional write, so two workers checking at once fire it once.
    claimed = session.execute(
        sql_update(VolumeAlert)
        .where(VolumeAlert.id == alert.id, VolumeAlert.firing_since.is_(None))
        .values(firing_since=at)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]  # CursorResult has rowcount
        session.refresh(alert)
        return Checked(alert.id, seen, baseline, over, "still over")
    alert.firing_since = at
    last = session.scalar(
        select(AlertFiring)
        .where(AlertFiring.alert_id == alert.id)
        .order_by(AlertFiring.started_at.desc(), AlertFiring.id.desc())
        .limit(1)
    )
    if last is not None and last.ended_at is not None and at - last.ended_at < window:
        # Back over within a window of calming down: the same surge, told once already.
        last.ended_at = None
        last.peak = max(last.peak, seen)
        alert.firing_since = last.started_at
        session.flush()
        return Checked(alert.id, seen, baseline, over, "still over")
    examples = _examples(session, alert, at - window, at)
    standing_out = (
        reading.topics
        if reading.topics is not None
        else _standing_out(session, alert, at - window, at)
    )
    firing = AlertFiring(
        organization_id=alert.organization_id,
        alert_id=alert.id,
        started_at=at,
        count=seen,
        peak=seen,
        baseline=baseline,
        conversation_ids=examples,
        topics=standing_out,
    )
    session.add(firing)
    session.flush()
    firing.notified = _tell(session, alert, firing)
    session.flush()
    return Checked(alert.id, seen, baseline, over, "fired")


def current_firing(session: Session, alert: VolumeAlert) -> AlertFiring | None:
    """The firing still open, while the alert is over."""
    if alert.firing_since is None:
        return None
    return session.scalar(
        select(AlertFiring)
        .where(AlertFiring.alert_id == alert.id, AlertFiring.ended_at.is_(None))
        .order_by(AlertFiring.started_at.desc())
        .limit(1)
    )


def _open_firing(session: Session, alert: VolumeAlert, seen: int) -> None:
    firing = current_firing(session, alert)
    if firing is not None:
        firing.peak = max(firing.peak, seen)


def _close(session: Session, alert: VolumeAlert, at: datetime) -> bool:
    if alert.firing_since is None:
        return False
    alert.firing_since = None
    for firing in session.scalars(
        select(AlertFiring).where(AlertFiring.alert_id == alert.id, AlertFiring.ended_at.is_(None))
    ):
        firing.ended_at = at
    return True


def describe(alert: VolumeAlert) -> str:
    """The filters in words: "complaints, negative, on X, mentioning “fare” or “price”"."""
    filters = alert.filters or {}
    parts: list[str] = []
    if filters.get("complaint") is True:
        parts.append("complaints")
    elif filters.get("complaint") is False:
        parts.append("not complaints")
    if "intent" in filters:
        parts.append(f"intent {filters['intent']}")
    if "sentiment" in filters:
        parts.append(str(filters["sentiment"]))
    if "channel" in filters:
        parts.append(f"on {channels_service.channel_name(str(filters['channel']))}")
    words = filters.get("words") or []
    if words:
        parts.append("mentioning " + " or ".join(f"“{w}”" for w in words))
    return ", ".join(parts) if parts else "every customer message"


def inbox_link(alert: VolumeAlert) -> str:
    """The inbox filtered as closely as it can be to what the alert counts."""
    filters = alert.filters or {}
    query: dict[str, str] = {"status": "all"}
    if filters.get("complaint") is True:
        query["complaint"] = "1"
    for key in ("intent", "sentiment"):
        if key in filters:
            query[key] = str(filters[key])
    if "channel" in filters:
        query["channel"] = f"kind:{filters['channel']}"
    words = filters.get("words") or []
    if len(words) == 1:
        query["q"] = words[0]
    return "/?" + urlencode(query)


def _recipients(session: Session, alert: VolumeAlert) -> list[int]:
    to = NotifyTo(alert.notify_to)
    if to is NotifyTo.ADMINS:
        return notifications_service.admin_ids(session, organization_id=alert.organization_id)
    if to is NotifyTo.MEMBER:
        return [alert.member_id] if alert.member_id is not None else []
    if alert.team_id is None:
        return []
    if to is NotifyTo.TEAM:
        return notifications_service.team_member_ids(session, team_id=alert.team_id)
    team = accounts_service.get_team(
        session, organization_id=alert.organization_id, team_id=alert.team_id
    )
    return [team.lead_member_id] if team.lead_member_id is not None else []


def _tell(session: Session, alert: VolumeAlert, firing: AlertFiring) -> int:
    usual = f" (usually {firing.baseline:.1f})" if firing.baseline is not None else ""
    title = f"{alert.name}: {firing.count} messages in {alert.window_minutes} minutes{usual}"
    body = f"Counting {describe(alert)}; the alert is set at {alert.threshold}."
    if firing.topics:
        body += " Standing out: " + ", ".join(f"“{t}”" for t in firing.topics) + "."
    link = inbox_link(alert)

    def tell(member_ids: list[int]) -> list[Notification]:
        return notifications_service.notify(
            session,
            organization_id=alert.organization_id,
            member_ids=member_ids,
            kind=NOTIFICATION_KIND,
            title=title,
            body=body,
            link=link,
            data={
                "alert_id": alert.id,
                "firing_id": firing.id,
                "count": firing.count,
                "topics": firing.topics,
            },
        )

    # Nobody to tell (a team without a lead, a member who has left) must not swallow the
    # alert: the owners and admins hear of it instead.
    sent = tell(_recipients(session, alert)) or tell(
        notifications_service.admin_ids(session, organization_id=alert.organization_id)
    )
    if alert.webhook and alert.team_id is not None:
        team = accounts_service.get_team(
            session, organization_id=alert.organization_id, team_id=alert.team_id
        )
        notifications_service.post_to_team(
            session,
            team=team,
            title=title,
            body=body,
            link=link,
            fields={
                "Alert": alert.name,
                "Messages": str(firing.count),
                **({"Topics": ", ".join(firing.topics)} if firing.topics else {}),
            },
        )
    return len(sent)


def due(session: Session) -> list[int]:
    """Every enabled alert's id, oldest first."""
    return list(
        session.scalars(
            select(VolumeAlert.id).where(VolumeAlert.enabled.is_(True)).order_by(VolumeAlert.id)
        )
    )
