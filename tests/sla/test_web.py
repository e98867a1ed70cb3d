"""The SLA pages: business hours and policies (admins), the conversation's SLA panel, the
report and its CSV (anyone who reads conversations)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts.models import Member, Role
from socialdesk.common.clock import FrozenClock
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Status
from socialdesk.outbound import service as outbound
from socialdesk.schedules import service as schedules_service
from socialdesk.sla import service as sla_service
from tests.conftest import JobRunner
from tests.factories import accounts
from tests.sla.conftest import World, customer_writes, fresh, office_hours, policy
from tests.web.conftest import login

BERLIN = ZoneInfo("Europe/Berlin")


def sign_in(client: TestClient, session: Session, member: Member) -> str:
    """Log in through the form; the test's session first lets go of SQLite's write lock
    (reading an expired member would take it again in the middle of the login)."""
    session.refresh(member)
    session.commit()
    return login(client, member)


WEEK = {f"day_{d}": "09:00-17:00" if d < 5 else "" for d in range(7)}


def test_business_hours_page_creates_and_explains_mistakes(
    client: TestClient, session: Session, world: World
) -> None:
    csrf = sign_in(client, session, world.owner)
    page = client.get("/admin/business-hours")
    assert page.status_code == 200
    assert "No business hours yet" in page.text
    made = client.post(
        "/admin/business-hours",
        data={
            "csrf_token": csrf,
            "name": "Office",
            "timezone": "Europe/Berlin",
            **WEEK,
            "day_0": "13:00-17:00, 9:00-12:00",
            "holidays": "2026-12-25\n2026-12-24",
        },
    )
    assert made.status_code == 303, made.text
    (row,) = schedules_service.list_hours(session, organization_id=world.org.id)
    session.commit()
    assert row.intervals["0"] == [["09:00", "12:00"], ["13:00", "17:00"]]
    assert row.holidays == ["2026-12-24", "2026-12-25"]
    listed = client.get("/admin/business-hours").text
    assert "Office" in listed
    assert "Europe/Berlin" in listed

    bad_time = client.post(
        "/admin/business-hours",
        data={
            "csrf_token": csrf,
            "name": "Late",
            "timezone": "UTC",
            **WEEK,
            "day_1": "09:00-25:00",
        },
    )
    assert bad_time.status_code == 422
    assert "Tuesday: &#39;25:00&#39; is not a time of day" in bad_time.text
    assert 'value="09:00-25:00"' in bad_time.text  # what was typed stays in the form

    bad_text = client.post(
        "/admin/business-hours",
        data={"csrf_token": csrf, "name": "Vague", "timezone": "UTC", **WEEK, "day_2": "9 to 5"},
    )
    assert bad_text.status_code == 422
    assert "Wednesday: &#39;9 to 5&#39; is not an interval like 09:00-17:00" in bad_text.text

    bad_zone = client.post(
        "/admin/business-hours",
        data={"csrf_token": csrf, "name": "Nowhere", "timezone": "Atlantis/City", **WEEK},
    )
    assert bad_zone.status_code == 422
    assert "unknown time zone" in bad_zone.text

    overlap = client.post(
        "/admin/business-hours",
        data={
            "csrf_token": csrf,
            "name": "Twice",
            "timezone": "UTC",
            **WEEK,
            "day_4": "09:00-13:00, 12:00-17:00",
        },
    )
    assert overlap.status_code == 422
    assert "Friday: 09:00-13:00 overlaps 12:00-17:00" in overlap.text

    bad_day = client.post(
        "/admin/business-hours",
        data={
            "csrf_token": csrf,
            "name": "Dates",
            "timezone": "UTC",
            **WEEK,
            "holidays": "25/12/2026",
        },
    )
    assert bad_day.status_code == 422
    assert "holiday &#39;25/12/2026&#39; is not a date" in bad_day.text


def test_business_hours_edit_and_delete(client: TestClient, session: Session, world: World) -> None:
    hours = office_hours(session, world.org, timezone="Europe/Berlin")
    csrf = sign_in(client, session, world.owner)
    edit = client.get(f"/admin/business-hours/{hours.id}")
    assert edit.status_code == 200
    assert 'value="09:00-17:00"' in edit.text
    saved = client.post(
        f"/admin/business-hours/{hours.id}",
        data={
            "csrf_token": csrf,
            "name": "Office",
            "timezone": "America/New_York",
            **WEEK,
            "day_5": "10:00-14:00",
        },
    )
    assert saved.status_code == 303
    session.expire_all()
    again = schedules_service.get_or_raise(
        session, organization_id=world.org.id, business_hours_id=hours.id
    )
    assert (again.name, again.timezone, again.intervals["5"]) == (
        "Office",
        "America/New_York",
        [["10:00", "14:00"]],
    )
    session.commit()

    world.team.business_hours_id = hours.id
    session.commit()
    refused = client.post(f"/admin/business-hours/{hours.id}/delete", data={"csrf_token": csrf})
    assert refused.status_code == 422
    assert "in use by team Care" in refused.text
    world.team.business_hours_id = None
    session.commit()
    deleted = client.post(f"/admin/business-hours/{hours.id}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    assert schedules_service.list_hours(session, organization_id=world.org.id) == []
    session.commit()


def test_sla_page_creates_orders_edits_and_deletes_policies(
    client: TestClient, session: Session, world: World
) -> None:
    csrf = sign_in(client, session, world.owner)
    assert "No SLA policies yet" in client.get("/admin/sla").text
    base = {"csrf_token": csrf, "enabled": "1", "warn_before_minutes": "15m"}
    first = client.post(
        "/admin/sla/policies",
        data={
            **base,
            "name": "Everything",
            "first_response_minutes": "1h 30m",
            "resolution_minutes": "2d",
        },
    )
    assert first.status_code == 303, first.text
    second = client.post(
        "/admin/sla/policies",
        data={**base, "name": "Urgent", "priority": "3", "first_response_minutes": "15"},
    )
    assert second.status_code == 303
    everything, urgent = sla_service.list_policies(session, organization_id=world.org.id)
    session.commit()
    assert (everything.first_response_minutes, everything.resolution_minutes) == (90, 2880)
    assert (urgent.priority, urgent.first_response_minutes) == (3, 15)
    page = client.get("/admin/sla").text
    assert "1h 30m" in page
    assert "priority urgent" in page

    moved = client.post(
        f"/admin/sla/policies/{urgent.id}/move", data={"csrf_token": csrf, "direction": "up"}
    )
    assert moved.status_code == 303
    assert [p.name for p in sla_service.list_policies(session, organization_id=world.org.id)] == [
        "Urgent",
        "Everything",
    ]
    session.commit()

    assert client.get(f"/admin/sla/policies/{urgent.id}").status_code == 200
    bad = client.post(
        f"/admin/sla/policies/{urgent.id}",
        data={**base, "name": "Urgent", "priority": "3", "first_response_minutes": "soon"},
    )
    assert bad.status_code == 422
    assert "is not a duration" in bad.text
    disabled = client.post(
        f"/admin/sla/policies/{urgent.id}",
        data={
            "csrf_token": csrf,
            "name": "Urgent",
            "priority": "3",
            "first_response_minutes": "20",
        },
    )
    assert disabled.status_code == 303
    session.expire_all()
    urgent = sla_service.get_or_raise(session, organization_id=world.org.id, policy_id=urgent.id)
    assert (urgent.enabled, urgent.first_response_minutes, urgent.warn_before_minutes) == (
        False,
        20,
        0,
    )
    session.commit()

    none_set = client.post("/admin/sla/policies", data={**base, "name": "Empty"})
    assert none_set.status_code == 422
    assert "set at least one target" in none_set.text

    gone = client.post(f"/admin/sla/policies/{urgent.id}/delete", data={"csrf_token": csrf})
    assert gone.status_code == 303
    assert [p.name for p in sla_service.list_policies(session, organization_id=world.org.id)] == [
        "Everything"
    ]
    session.commit()


def test_admin_pages_are_for_routing_admins_only(
    client: TestClient, session: Session, world: World
) -> None:
    hours = office_hours(session, world.org, timezone="UTC")
    made = policy(session, world.org)
    sign_in(client, session, world.agent)
    for path in (
        "/admin/business-hours",
        f"/admin/business-hours/{hours.id}",
        "/admin/sla",
        f"/admin/sla/policies/{made.id}",
    ):
        assert client.get(path).status_code == 403, path


def test_panel_counts_down_then_shows_history(
    client: TestClient, session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    policy(session, world.org, name="Standard", first_response_minutes=60, warn_before_minutes=15)
    clock.advance(timedelta(minutes=1))
    conversation = customer_writes(session, jobs, world)
    viewer = accounts.member(session, world.org, role=Role.VIEWER)
    session.commit()
    sign_in(client, session, viewer)
    clock.advance(timedelta(minutes=50))
    panel = client.get(f"/conversations/{conversation.id}/panels/sla")
    assert panel.status_code == 200
    html = panel.text
    assert "Standard" in html
    assert "around the clock" in html
    assert "First response" in html
    assert "10m left" in html
    assert "chip-sla-soon" in html  # within the 15-minute warning
    assert 'data-sla-due="' in html

    clock.advance(timedelta(minutes=5))
    outbound.queue_reply(
        session, conversation=fresh(session, conversation.id), author=world.agent, text="Done!"
    )
    session.commit()
    jobs.run_pending()
    html = client.get(f"/conversations/{conversation.id}/panels/sla").text
    assert "met</span> in 55m" in html

    conversations_service.set_status(
        session,
        conversation=fresh(session, conversation.id),
        status=Status.PENDING,
        actor=world.agent,
    )
    session.commit()
    jobs.run_pending()
    html = client.get(f"/conversations/{conversation.id}/panels/sla").text
    assert "paused" in html
    assert "waiting on the customer" in html


def test_panel_says_when_business_hours_are_closed(
    client: TestClient, session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    world.org.timezone = "Europe/Berlin"
    session.commit()
    hours = office_hours(session, world.org, timezone="Europe/Berlin")
    policy(session, world.org, business_hours_id=hours.id, first_response_minutes=120)
    clock.set(datetime(2026, 1, 9, 18, 0, tzinfo=BERLIN))  # Friday evening
    conversation = customer_writes(session, jobs, world)
    sign_in(client, session, world.agent)
    html = client.get(f"/conversations/{conversation.id}/panels/sla").text
    assert "counts Office Europe/Berlin (Europe/Berlin)" in html
    assert "Closed now: the clocks resume Mon 12 Jan 2026, 09:00" in html
    assert "2h 00m of business time" in html


def test_panel_of_another_organization_is_not_found(
    client: TestClient, session: Session, jobs: JobRunner, world: World
) -> None:
    conversation = customer_writes(session, jobs, world)
    other = accounts.organization(session)
    stranger = accounts.member(session, other, role=Role.OWNER)
    session.commit()
    sign_in(client, session, stranger)
    assert client.get(f"/conversations/{conversation.id}/panels/sla").status_code == 404


def test_reports_page_and_csv_for_readers(
    client: TestClient, session: Session, jobs: JobRunner, world: World, clock: FrozenClock
) -> None:
    policy(session, world.org, first_response_minutes=60)
    clock.advance(timedelta(minutes=1))
    conversation = customer_writes(session, jobs, world)
    clock.advance(timedelta(minutes=12))
    outbound.queue_reply(
        session, conversation=fresh(session, conversation.id), author=world.agent, text="Hi!"
    )
    session.commit()
    jobs.run_pending()
    viewer = accounts.member(session, world.org, role=Role.VIEWER)
    session.commit()
    sign_in(client, session, viewer)
    page = client.get("/reports?start=2026-01-05&end=2026-01-05")
    assert page.status_code == 200
    assert "SLA report" in page.text
    assert 'data-dimension="team"' in page.text
    assert "12m" in page.text  # the first-response median
    exported = client.get("/reports/sla.csv?start=2026-01-05&end=2026-01-05")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert 'filename="sla-2026-01-05-2026-01-05.csv"' in exported.headers["content-disposition"]
    total = next(csv.DictReader(io.StringIO(exported.text)))
    assert (total["conversations"], total["within"], total["first_response_median_seconds"]) == (
        "1",
        "0",  # its resolution clock still runs: in progress
        "720",
    )
    assert total["in_progress"] == "1"
    bad = client.get("/reports?start=2026-01-05&end=2025-01-01")
    assert bad.status_code == 422
    assert "ends" in bad.text


def test_reports_need_a_login(client: TestClient) -> None:
    assert client.get("/reports").status_code == 303
    assert client.get("/reports/sla.csv").status_code == 303
