"""Business hours as stored: canonical form, refusals that name the field, and deletion
refused while a team or an SLA policy uses them."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.common.errors import Conflict, NotFound, ValidationFailed
from socialdesk.schedules import service as schedules_service
from socialdesk.schedules.hours import ALWAYS
from socialdesk.sla import service as sla_service
from socialdesk.sla.schemas import SlaPolicyCreate
from tests.factories import accounts

OFFICE = {str(d): [["09:00", "17:00"]] for d in range(5)}


def test_create_stores_the_canonical_form(session: Session) -> None:
    org = accounts.organization(session)
    row = schedules_service.create(
        session,
        organization_id=org.id,
        name="  Office  ",
        timezone="Europe/Berlin",
        intervals={
            "4": [["13:00", "16:00"], ["8:30", "12:00"]],
            "0": [["09:00", "24:00"]],
            "6": [],
        },
        holidays=["2026-12-26", "2026-12-25", "2026-12-26"],
    )
    assert row.name == "Office"
    assert row.intervals == {
        "0": [["09:00", "24:00"]],
        "4": [["08:30", "12:00"], ["13:00", "16:00"]],
    }
    assert row.holidays == ["2026-12-25", "2026-12-26"]
    week = schedules_service.weekly(session, business_hours_id=row.id)
    assert week.zone.key == "Europe/Berlin"
    assert schedules_service.weekly(session, business_hours_id=None) is ALWAYS


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"timezone": "Europe/Atlantis"}, "timezone"),
        ({"intervals": {"0": [["25:00", "26:00"]]}}, "intervals"),
        ({"intervals": {"0": [["09:00", "08:00"]]}}, "intervals"),
        ({"intervals": {"0": [["09:00", "12:00"], ["11:00", "13:00"]]}}, "intervals"),
        ({"intervals": {"monday": [["09:00", "12:00"]]}}, "intervals"),
        ({"intervals": {"0": [["09:00"]]}}, "intervals"),
        ({"holidays": ["next friday"]}, "holidays"),
        ({"name": ""}, "name"),
        ({"name": "x" * 121}, "name"),
    ],
)
def test_bad_hours_name_the_field(session: Session, fields: dict[str, object], field: str) -> None:
    org = accounts.organization(session)
    values: dict[str, object] = {
        "name": "Office",
        "timezone": "UTC",
        "intervals": OFFICE,
        "holidays": [],
        **fields,
    }
    with pytest.raises(ValidationFailed) as refused:
        schedules_service.create(session, organization_id=org.id, **values)  # type: ignore[arg-type]
    assert refused.value.field == field


def test_names_are_unique_per_organization(session: Session) -> None:
    org, other = accounts.organization(session), accounts.organization(session)
    schedules_service.create(
        session, organization_id=org.id, name="Office", timezone="UTC", intervals=OFFICE
    )
    with pytest.raises(Conflict) as taken:
        schedules_service.create(
            session, organization_id=org.id, name="office", timezone="UTC", intervals=OFFICE
        )
    assert taken.value.field == "name"
    schedules_service.create(
        session, organization_id=other.id, name="Office", timezone="UTC", intervals=OFFICE
    )


def test_update_changes_only_what_is_given(session: Session) -> None:
    org = accounts.organization(session)
    row = schedules_service.create(
        session,
        organization_id=org.id,
        name="Office",
        timezone="UTC",
        intervals=OFFICE,
        holidays=["2026-01-01"],
    )
    schedules_service.update(session, hours=row, timezone="America/New_York")
    assert (row.timezone, row.intervals, row.holidays) == (
        "America/New_York",
        OFFICE,
        ["2026-01-01"],
    )
    with pytest.raises(ValidationFailed):
        schedules_service.update(session, hours=row, intervals={"0": [["10:00", "09:00"]]})


def test_in_use_hours_cannot_be_deleted(session: Session) -> None:
    org = accounts.organization(session)
    row = schedules_service.create(
        session, organization_id=org.id, name="Office", timezone="UTC", intervals=OFFICE
    )
    team = accounts_service.create_team(session, organization_id=org.id, name="Billing")
    team.business_hours_id = row.id
    policy = sla_service.create(
        session,
        organization_id=org.id,
        data=SlaPolicyCreate(
            name="Office SLA", first_response_minutes=60, business_hours_id=row.id
        ),
    )
    session.flush()
    with pytest.raises(Conflict) as refused:
        schedules_service.delete(session, hours=row)
    assert "team Billing" in refused.value.message
    assert "SLA policy Office SLA" in refused.value.message
    team.business_hours_id = None
    policy.business_hours_id = None
    session.flush()
    schedules_service.delete(session, hours=row)
    with pytest.raises(NotFound):
        schedules_service.get_or_raise(session, organization_id=org.id, business_hours_id=row.id)


def test_another_organizations_hours_are_not_found(session: Session) -> None:
    org, other = accounts.organization(session), accounts.organization(session)
    row = schedules_service.create(
        session, organization_id=org.id, name="Office", timezone="UTC", intervals=OFFICE
    )
    with pytest.raises(NotFound):
        schedules_service.get_or_raise(session, organization_id=other.id, business_hours_id=row.id)
