"""Volume alerts: counting the right customer messages over a sliding window, firing once per
surge, calming down, the usual level as a bar, and telling the right people."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from socialdesk.alerts import jobs as alerts_jobs
from socialdesk.alerts import service
from socialdesk.alerts.models import AlertFiring, VolumeAlert
from socialdesk.common import clock
from socialdesk.common.errors import ValidationFailed
from socialdesk.conversations.models import Message
from socialdesk.notifications.models import Notification
from socialdesk.triage import selection
from socialdesk.triage.models import MessageTriage
from tests.alerts.conftest import Desk

FARES = "The new fares are far too expensive"


def _alert(desk: Desk, **overrides: object) -> VolumeAlert:
    desk.care.lead_member_id = desk.ana.id
    fields: dict[str, object] = {
        "name": "Fare change backlash",
        "window_minutes": 15,
        "threshold": 3,
        "notify_to": "team_lead",
        "team_id": desk.care.id,
        "filters": {"words": ["fare"]},
    }
    fields.update(overrides)
    alert = service.create(
        desk.session,
        organization_id=desk.org.id,
        spec=service.AlertSpec(**fields),  # type: ignore[arg-type]
        actor=desk.owner,
    )
    desk.session.commit()
    return alert


def _check(desk: Desk, alert: VolumeAlert) -> service.Checked:
    desk.session.refresh(alert)
    checked = service.check(desk.session, alert)
    desk.session.commit()
    return checked


def _notifications(session: Session) -> list[Notification]:
    return list(
        session.scalars(select(Notification).where(Notification.kind == service.NOTIFICATION_KIND))
    )


def test_a_surge_fires_once_then_calms_down(desk: Desk) -> None:
    alert = _alert(desk)
    desk.write(f"{FARES}!", route=False)
    desk.write("Why did the FARE go up again", route=False)
    desk.write("Is line 4 running?", route=False)  # not about fares
    assert _check(desk, alert).outcome == "quiet"
    assert alert.last_count == 2

    desk.write("fares fares fares", route=False)
    checked = _check(desk, alert)
    assert (checked.outcome, checked.count) == ("fired", 3)
    assert alert.firing_since == clock.now()
    told = _notifications(desk.session)
    assert [n.member_id for n in told] == [desk.ana.id]  # the care team's lead
    assert told[0].title == "Fare change backlash: 3 messages in 15 minutes"
    assert "mentioning “fare”" in told[0].body
    assert told[0].link == "/?status=all&q=fare"
    firing = desk.session.scalars(select(AlertFiring)).one()
    assert (firing.count, firing.peak, firing.notified) == (3, 3, 1)
    assert len(firing.conversation_ids) == 3
    assert firing.conversation_ids[0] == desk.conversations[-1]  # newest first

    # Still over: the peak grows, nobody is told again.
    desk.advance(minutes=1)
    desk.write(FARES, route=False)
    assert _check(desk, alert).outcome == "still over"
    assert len(_notifications(desk.session)) == 1
    desk.session.refresh(firing)
    assert firing.peak == 4

    # The window slides past the messages: calm again, the firing is closed.
    desk.advance(minutes=15)
    assert _check(desk, alert).outcome == "calmed"
    desk.session.refresh(firing)
    assert firing.ended_at == clock.now()
    assert alert.firing_since is None

    # A new surge after a quiet window is a new firing, told again.
    desk.advance(minutes=30)
    for _ in range(3):
        desk.write(FARES, route=False)
    assert _check(desk, alert).outcome == "fired"
    assert len(_notifications(desk.session)) == 2
    assert len(list(desk.session.scalars(select(AlertFiring)))) == 2


def test_a_count_hovering_at_the_threshold_tells_people_once(desk: Desk) -> None:
    alert = _alert(desk)
    for _ in range(3):
        desk.write(FARES, route=False)
    assert _check(desk, alert).outcome == "fired"
    desk.advance(minutes=15, seconds=1)  # the three slide out
    assert _check(desk, alert).outcome == "calmed"
    desk.advance(minutes=2)
    for _ in range(3):
        desk.write(FARES, route=False)
    # Back over within a window of calming down: the same surge, reopened quietly.
    assert _check(desk, alert).outcome == "still over"
    firing = desk.session.scalars(select(AlertFiring)).one()
    assert firing.ended_at is None
    assert alert.firing_since == firing.started_at
    assert len(_notifications(desk.session)) == 1


def test_the_usual_level_is_the_bar_when_asked(desk: Desk) -> None:
    # A day's window; the week before held 14 such messages: usually 2 a day.
    alert = _alert(desk, window_minutes=24 * 60, threshold=1, baseline_factor=2.0)
    for day in range(1, 8):
        for hour in (9, 15):
            desk.write(FARES, at=clock.now() - timedelta(days=day, hours=hour), route=False)
    for _ in range(3):
        desk.write(FARES, route=False)
    checked = _check(desk, alert)
    assert checked.baseline == pytest.approx(14 / 7)
    assert (checked.count, checked.over) == (3, False)  # 3 is not twice the usual 2
    desk.write(FARES, route=False)
    checked = _check(desk, alert)
    assert (checked.count, checked.outcome) == (4, "fired")
    assert _notifications(desk.session)[0].title.endswith("(usually 2.0)")
    # Kept for an hour, then worked out again.
    assert alert.baseline_at == clock.now()
    desk.advance(minutes=30)
    _check(desk, alert)
    assert alert.baseline_at == clock.now() - timedelta(minutes=30)
    desk.advance(minutes=31)
    _check(desk, alert)
    assert alert.baseline_at == clock.now()


def test_an_import_of_old_messages_is_no_surge(desk: Desk) -> None:
    alert = _alert(desk)
    for hours in range(1, 6):
        desk.write(FARES, at=clock.now() - timedelta(hours=hours), route=False)
    assert _check(desk, alert).count == 0


def test_filters_count_only_what_they_name(desk: Desk) -> None:
    labels = [
        # (text, account, complaint, intent, sentiment)
        ("a 50% fare rise, unbelievable", desk.x, True, "complaint", "negative"),
        ("the fare app crashed", desk.web, True, "complaint", "negative"),
        ("fare question: do kids ride free?", desk.x, False, "question", "neutral"),
        ("love the new trams", desk.x, False, "praise", "positive"),
    ]
    for text, account, *_ in labels:
        desk.write(text, account=account, route=False)
    # Labels set as a model might have given them, so the test is about filtering only.
    messages = list(desk.session.scalars(select(Message).order_by(Message.id)))
    for message, (_, _, complaint, intent, sentiment) in zip(messages, labels, strict=True):
        desk.session.execute(
            update(MessageTriage)
            .where(MessageTriage.message_id == message.id)
            .values(complaint=complaint, intent=intent, sentiment=sentiment)
        )
    desk.session.commit()

    def counted(**filters: object) -> int:
        alert = VolumeAlert(
            organization_id=desk.org.id, window_minutes=60, filters=selection.clean_filters(filters)
        )
        now = clock.now()
        return service.count(desk.session, alert, now - timedelta(minutes=60), now)

    assert counted() == 4
    assert counted(complaint=True) == 2
    assert counted(complaint=False) == 2
    assert counted(intent="question") == 1
    assert counted(sentiment="negative", channel="x") == 1
    assert counted(channel="web") == 1
    assert counted(words=["FARE"]) == 3
    assert counted(words=["50%"]) == 1  # % and _ are the words', not LIKE's
    assert counted(words=["5_%"]) == 0
    assert counted(words=["trams", "kids"]) == 2
    assert counted(complaint=True, words=["app"]) == 1


def test_other_organizations_messages_never_count(desk: Desk) -> None:
    from tests.factories import accounts, channels
    from tests.factories.conversations import inbound, ingest

    alert = _alert(desk, threshold=1)
    other = accounts.organization(desk.session, name="Other")
    web = channels.brand_account(desk.session, other, kind="web")
    for n in range(3):
        ingest(desk.session, web, inbound(text=FARES, author=f"o{n}", at=clock.now()))
    desk.session.commit()
    assert _check(desk, alert).count == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "  "}, "name"),
        ({"window_minutes": 4}, "window_minutes"),
        ({"window_minutes": 1441}, "window_minutes"),
        ({"threshold": 0}, "threshold"),
        ({"baseline_factor": 0.5}, "baseline_factor"),
        ({"baseline_factor": float("nan")}, "baseline_factor"),
        ({"notify_to": "everyone"}, "notify_to"),
        ({"team_id": None}, "team_id"),
        ({"team_id": 999_999}, "team_id"),
        ({"notify_to": "member"}, "member_id"),
        ({"notify_to": "member", "member_id": 999_999}, "member_id"),
        ({"filters": {"mood": "angry"}}, "filters"),
        ({"filters": {"intent": "rant"}}, "intent"),
        ({"filters": {"channel": "myspace"}}, "channel"),
        ({"filters": {"complaint": "yes"}}, "complaint"),
        ({"filters": {"words": "fare"}}, "words"),
        ({"filters": {"words": ["x" * 101]}}, "words"),
        ({"filters": {"words": [f"w{n}" for n in range(21)]}}, "words"),
        ({"filters": {"words": ["late, again"]}}, "words"),
    ],
)
def test_a_wrong_alert_is_refused_naming_the_field(
    desk: Desk, change: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        _alert(desk, **change)
    assert refused.value.field == field
    desk.session.rollback()
    assert desk.session.scalars(select(VolumeAlert)).all() == []


def test_another_organizations_team_cannot_be_told(desk: Desk) -> None:
    from socialdesk.accounts import service as accounts_service
    from tests.factories import accounts

    other = accounts.organization(desk.session, name="Other")
    team = accounts_service.create_team(desk.session, organization_id=other.id, name="Theirs")
    desk.session.commit()
    with pytest.raises(ValidationFailed) as refused:
        _alert(desk, team_id=team.id)
    assert refused.value.field == "team_id"


def test_a_second_worker_checking_at_once_does_not_tell_people_twice(desk: Desk) -> None:
    alert = _alert(desk)
    for _ in range(3):
        desk.write(FARES, route=False)
    desk.session.refresh(alert)
    # Another worker fired it a moment ago; this one still holds the row as it was.
    desk.session.execute(
        update(VolumeAlert)
        .where(VolumeAlert.id == alert.id)
        .values(firing_since=clock.now())
        .execution_options(synchronize_session=False)
    )
    assert alert.firing_since is None
    assert service.check(desk.session, alert).outcome == "still over"
    desk.session.commit()
    assert _notifications(desk.session) == []


def test_switching_an_alert_off_closes_its_firing(desk: Desk) -> None:
    alert = _alert(desk)
    for _ in range(3):
        desk.write(FARES, route=False)
    assert _check(desk, alert).outcome == "fired"
    spec = service.AlertSpec(
        name=alert.name,
        window_minutes=15,
        threshold=3,
        notify_to="team_lead",
        team_id=desk.care.id,
        filters={"words": ["fare"]},
        enabled=False,
    )
    service.update(desk.session, alert=alert, spec=spec, actor=desk.owner)
    desk.session.commit()
    assert alert.firing_since is None
    assert desk.session.scalars(select(AlertFiring)).one().ended_at == clock.now()


def test_the_minute_task_checks_every_enabled_alert(desk: Desk) -> None:
    fares = _alert(desk)
    off = _alert(desk, name="Switched off", enabled=False)
    everyone = _alert(desk, name="Everything", threshold=2, filters={}, notify_to="admins")
    for _ in range(3):
        desk.write(FARES, route=False)
    alerts_jobs.check_alerts()
    desk.fresh(fares, off, everyone)
    assert fares.firing_since is not None
    assert off.last_checked_at is None
    assert everyone.firing_since is not None
    told = {(n.member_id, n.title.split(":")[0]) for n in _notifications(desk.session)}
    assert told == {(desk.ana.id, "Fare change backlash"), (desk.owner.id, "Everything")}


def test_a_team_without_a_lead_does_not_swallow_the_alert(desk: Desk) -> None:
    alert = _alert(desk, team_id=desk.billing.id)  # Billing has no lead
    for _ in range(3):
        desk.write(FARES, route=False)
    assert _check(desk, alert).outcome == "fired"
    assert [n.member_id for n in _notifications(desk.session)] == [desk.owner.id]


def test_a_member_who_left_does_not_swallow_the_alert(desk: Desk) -> None:
    alert = _alert(desk, notify_to="member", member_id=desk.cy.id, team_id=None)
    desk.cy.is_active = False
    desk.session.commit()
    for _ in range(3):
        desk.write(FARES, route=False)
    assert _check(desk, alert).outcome == "fired"
    assert [n.member_id for n in _notifications(desk.session)] == [desk.owner.id]


def test_deleting_an_alert_takes_its_firings_and_is_audited(desk: Desk) -> None:
    from socialdesk.accounts.models import AuditEvent

    alert = _alert(desk)
    for _ in range(3):
        desk.write(FARES, route=False)
    assert _check(desk, alert).outcome == "fired"
    alert_id = alert.id
    service.delete(desk.session, alert=alert, actor=desk.owner)
    desk.session.commit()
    assert desk.session.scalars(select(AlertFiring)).all() == []
    assert desk.session.get(VolumeAlert, alert_id) is None
    trail = desk.session.scalars(
        select(AuditEvent).where(AuditEvent.target_id == str(alert_id))
    ).all()
    assert [(e.before is None, e.after is None) for e in trail] == [(True, False), (False, True)]


def test_a_firing_says_what_the_surge_talks_about(desk: Desk) -> None:
    from tests.topics.test_service import SURGE

    alert = _alert(desk, filters={"words": ["signal"]}, threshold=len(SURGE))
    for text in SURGE:
        desk.write(text, route=False)
    assert _check(desk, alert).outcome == "fired"
    firing = desk.session.scalars(select(AlertFiring)).one()
    assert firing.topics[0] == "signal failure"
    assert len(firing.topics) <= service.TOPICS
    told = _notifications(desk.session)[0]
    assert "Standing out: “signal failure”" in told.body
    assert told.data["topics"] == firing.topics


def test_a_check_given_a_reading_writes_without_counting_again(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The minute task reads the counts (the usual level, what stands out) in a read-only
    transaction first; the write transaction only applies them."""
    from tests.topics.test_service import SURGE

    alert = _alert(desk, filters={"words": ["signal"]}, threshold=3, baseline_factor=2.0)
    for text in SURGE:
        desk.write(text, route=False)
    desk.session.refresh(alert)
    reading = service.read(desk.session, alert)
    desk.session.commit()
    assert reading.count == len(SURGE)
    assert reading.usual == 0.0  # due: never worked out
    assert reading.topics is not None
    assert reading.topics[0] == "signal failure"

    def must_not_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("the write transaction read the messages again")

    monkeypatch.setattr(service, "count", must_not_read)
    monkeypatch.setattr("socialdesk.topics.service.between", must_not_read)
    checked = service.check(desk.session, alert, reading=reading)
    desk.session.commit()
    assert checked.outcome == "fired"
    assert (alert.baseline, alert.baseline_at) == (0.0, reading.at)
    firing = desk.session.scalars(select(AlertFiring)).one()
    assert firing.topics == reading.topics
    # The next minute, the kept usual level is fresh: a reading does not count it again.
    desk.advance(minutes=1)
    monkeypatch.undo()
    assert service.read(desk.session, alert).usual is None
    desk.session.commit()
