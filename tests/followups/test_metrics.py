"""The care report on a constructed month, every figure computed by hand (see the comments)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import pytest
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Member, Organization
from socialdesk.commitments.models import Commitment
from socialdesk.common.clock import FrozenClock
from socialdesk.common.errors import ValidationFailed
from socialdesk.conversations.models import Activity, Conversation
from socialdesk.followups import metrics
from socialdesk.followups.models import FollowUp
from tests.factories import accounts, channels


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Month:
    """January 2026 of an organization in New York (UTC-5 all month)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.org = accounts.organization(session, name="Acme")
        self.org.timezone = "America/New_York"
        self.ann = accounts.member(session, self.org, name="Ann")
        self.ben = accounts.member(session, self.org, name="Ben")
        self.billing = accounts_service.create_team(
            session, organization_id=self.org.id, name="Billing"
        )
        self.field = accounts_service.create_team(
            session, organization_id=self.org.id, name="Field"
        )
        self.account = channels.brand_account(session, self.org, kind="web")
        session.flush()

    def conversation(self, team_id: int | None) -> Conversation:
        c = Conversation(
            organization_id=self.org.id,
            brand_account_id=self.account.id,
            team_id=team_id,
            status="resolved",
            created_at=at("2025-12-30T12:00:00"),
            last_activity_at=at("2026-01-30T12:00:00"),
        )
        self.session.add(c)
        self.session.flush()
        return c

    def status(self, c: Conversation, when: str, by: Member | None, to: str = "resolved") -> None:
        self.session.add(
            Activity(
                organization_id=self.org.id,
                conversation_id=c.id,
                actor_member_id=by.id if by else None,
                kind="status_changed",
                data={"from": "open", "to": to},
                created_at=at(when),
            )
        )

    def follow_up(
        self,
        c: Conversation,
        by: Member | None,
        *,
        status: str,
        sent: str | None = None,
        score: int | None = None,
    ) -> None:
        self.session.add(
            FollowUp(
                organization_id=self.org.id,
                conversation_id=c.id,
                brand_account_id=self.account.id,
                member_id=by.id if by else None,
                team_id=c.team_id,
                resolved_at=at("2026-01-01T12:00:00"),
                due_at=at("2026-01-02T12:00:00"),
                status=status,
                sent_at=at(sent) if sent else None,
                answer="positive" if status == "answered" else None,
                satisfaction=score,
                created_at=at("2026-01-01T12:00:00"),
            )
        )

    def commitment(
        self,
        owner: Member,
        team_id: int | None,
        *,
        status: str,
        closed: str | None = None,
        due: str = "2026-01-02T12:00:00",
    ) -> None:
        c = self.conversation(team_id)
        self.session.add(
            Commitment(
                organization_id=self.org.id,
                conversation_id=c.id,
                owner_id=owner.id,
                team_id=team_id,
                text="we will call you",
                due_at=at(due),
                status=status,
                closed_at=at(closed) if closed else None,
                created_at=at("2026-01-01T09:00:00"),
            )
        )


@pytest.fixture
def month(session: Session, clock: FrozenClock) -> Month:
    clock.set(at("2026-02-05T09:00:00"))
    m = Month(session)
    ann, ben, billing, field = m.ann, m.ben, m.billing.id, m.field.id
    c1 = m.conversation(billing)
    m.status(c1, "2026-01-10T15:00:00", ann)
    m.status(c1, "2026-01-12T15:00:00", ann)  # resolved twice: counts once
    m.follow_up(c1, ann, status="answered", sent="2026-01-11T15:00:00", score=5)
    c2 = m.conversation(billing)
    m.status(c2, "2026-01-15T15:00:00", ann)
    m.follow_up(c2, ann, status="sent", sent="2026-01-16T15:00:00")
    c3 = m.conversation(field)
    m.status(c3, "2026-01-20T15:00:00", ben)
    m.follow_up(c3, ben, status="skipped")  # opted out: never sent
    c4 = m.conversation(field)
    m.status(c4, "2026-01-20T16:00:00", ben)
    m.status(c4, "2026-01-21T16:00:00", ann, to="open")  # not a resolution
    m.status(c4, "2026-01-22T16:00:00", ann)
    m.follow_up(c4, ann, status="answered", sent="2026-01-23T16:00:00", score=2)
    c5 = m.conversation(None)
    m.status(c5, "2026-01-25T16:00:00", None)  # an automation resolved it
    m.follow_up(c5, None, status="task")
    c6 = m.conversation(billing)
    m.status(c6, "2026-02-01T04:30:00", ann)  # 23:30 on Jan 31 in New York: in range
    c7 = m.conversation(billing)
    m.status(c7, "2026-02-01T05:30:00", ann)  # 00:30 on Feb 1 in New York: out
    m.follow_up(c7, ann, status="sent", sent="2026-02-01T06:00:00")
    c8 = m.conversation(billing)
    m.status(c8, "2026-01-01T04:59:00", ann)  # 23:59 on Dec 31 in New York: out
    m.commitment(ann, billing, status="kept", closed="2026-01-05T12:00:00")
    m.commitment(ann, billing, status="broken", closed="2026-01-06T12:00:00")
    m.commitment(ann, billing, status="kept", closed="2026-01-07T12:00:00")
    m.commitment(ben, field, status="kept", closed="2026-01-08T12:00:00")
    m.commitment(ben, None, status="broken", closed="2025-12-20T12:00:00")  # out of range
    m.commitment(ben, field, status="open", due="2026-02-01T12:00:00")  # overdue now
    m.commitment(ann, billing, status="open", due="2026-02-10T12:00:00")  # not yet due
    m.commitment(ann, None, status="open", due="2026-01-03T12:00:00")  # overdue now
    m.commitment(ben, field, status="cancelled", closed="2026-01-09T12:00:00")
    # Another organization's month must not leak in.
    other = Month(session)
    oc = other.conversation(None)
    other.status(oc, "2026-01-10T15:00:00", other.ann)
    other.follow_up(oc, other.ann, status="answered", sent="2026-01-11T15:00:00", score=1)
    other.commitment(other.ann, None, status="broken", closed="2026-01-05T12:00:00")
    session.commit()
    return m


def _report(month: Month) -> metrics.CareReport:
    return metrics.care_report(
        month.session, organization_id=month.org.id, start=date(2026, 1, 1), end=date(2026, 1, 31)
    )


def test_the_organization_total(month: Month) -> None:
    total = _report(month).total
    # Resolved in January (New York): c1 c2 c3 c4 c5 c6.
    assert total.conversations_resolved == 6
    # Sent in January: c1 c2 c4 -> 3 / 6; answered c1 c4 -> 2 / 3.
    assert (total.followups_sent, total.followup_rate) == (3, 0.5)
    assert (total.followups_answered, total.answer_rate) == (2, 0.6667)
    # Scores 5 and 2.
    assert total.satisfaction == {1: 0, 2: 1, 3: 0, 4: 0, 5: 1}
    assert total.average_satisfaction == 3.5
    # Kept k1 k3 k4, broken k2 -> 3 / 4; overdue now: Ben's (Field) and Ann's (no team).
    assert (total.commitments_kept, total.commitments_broken) == (3, 1)
    assert total.promise_kept_rate == 0.75
    assert total.commitments_overdue == 2


def test_per_team(month: Month) -> None:
    teams = {row.name: row.figures for row in _report(month).teams}
    assert list(teams) == ["Billing", "Field", "No team"]
    billing, field, none = teams["Billing"], teams["Field"], teams["No team"]
    # Billing: c1 c2 c6 resolved; c1 c2 sent; c1 answered (5); k1 k3 kept, k2 broken.
    assert (billing.conversations_resolved, billing.followups_sent, billing.followup_rate) == (
        3,
        2,
        0.6667,
    )
    assert (billing.answer_rate, billing.average_satisfaction) == (0.5, 5.0)
    assert (billing.promise_kept_rate, billing.commitments_overdue) == (0.6667, 0)
    # Field: c3 c4 resolved; c4 sent and answered (2); k4 kept; Ben's overdue one.
    assert (field.conversations_resolved, field.followup_rate, field.answer_rate) == (2, 0.5, 1.0)
    assert (field.average_satisfaction, field.promise_kept_rate, field.commitments_overdue) == (
        2.0,
        1.0,
        1,
    )
    # No team: c5 resolved, nothing sent; Ann's overdue one without a team.
    assert (none.conversations_resolved, none.followup_rate, none.answer_rate) == (1, 0.0, None)
    assert (none.promise_kept_rate, none.commitments_overdue) == (None, 1)


def test_per_member(month: Month) -> None:
    members = {row.name: row.figures for row in _report(month).members}
    assert list(members) == ["Ann", "Ben", "Nobody (automation)"]
    ann, ben, nobody = members["Ann"], members["Ben"], members["Nobody (automation)"]
    # Ann resolved c1 c2 c4 c6; her follow-ups c1 c2 c4 went out, c1 c4 answered (5, 2).
    assert (ann.conversations_resolved, ann.followups_sent, ann.followup_rate) == (4, 3, 0.75)
    assert (ann.answer_rate, ann.average_satisfaction) == (0.6667, 3.5)
    assert (ann.promise_kept_rate, ann.commitments_overdue) == (0.6667, 1)
    # Ben resolved c3 c4; nothing of his went out; k4 kept; one overdue.
    assert (ben.conversations_resolved, ben.followup_rate, ben.answer_rate) == (2, 0.0, None)
    assert (ben.promise_kept_rate, ben.commitments_overdue) == (1.0, 1)
    assert (nobody.conversations_resolved, nobody.followups_sent) == (1, 0)


def test_csv_export(month: Month) -> None:
    rows = list(csv.DictReader(io.StringIO(metrics.to_csv(_report(month)))))
    assert [(r["scope"], r["name"]) for r in rows] == [
        ("organization", "All"),
        ("team", "Billing"),
        ("team", "Field"),
        ("team", "No team"),
        ("member", "Ann"),
        ("member", "Ben"),
        ("member", "Nobody (automation)"),
    ]
    total = rows[0]
    assert total["followup_rate"] == "0.5"
    assert total["promise_kept_rate"] == "0.75"
    assert (total["satisfaction_2"], total["satisfaction_5"], total["satisfaction_3"]) == (
        "1",
        "1",
        "0",
    )
    assert rows[3]["answer_rate"] == ""  # nothing to count
    assert rows[4]["id"] == str(month.ann.id)


def test_a_name_that_looks_like_a_formula_is_kept_as_text(month: Month) -> None:
    month.ann.name = "=HYPERLINK(1)"
    month.session.commit()
    text = metrics.to_csv(_report(month))
    assert "'=HYPERLINK(1)" in text


def test_ranges_are_checked(month: Month) -> None:
    with pytest.raises(ValidationFailed, match="ends before it starts"):
        metrics.care_report(
            month.session,
            organization_id=month.org.id,
            start=date(2026, 2, 1),
            end=date(2026, 1, 1),
        )
    with pytest.raises(ValidationFailed, match="at most 366 days"):
        metrics.care_report(
            month.session,
            organization_id=month.org.id,
            start=date(2024, 1, 1),
            end=date(2026, 1, 1),
        )


def test_an_empty_organization_has_no_rates(session: Session, clock: FrozenClock) -> None:
    org: Organization = accounts.organization(session)
    session.commit()
    report = metrics.care_report(
        session, organization_id=org.id, start=date(2026, 1, 1), end=date(2026, 1, 5)
    )
    assert report.teams == report.members == []
    assert report.total.followup_rate is None
    assert report.total.average_satisfaction is None
    assert metrics.resolve_range(session, organization_id=org.id, start=None, end=None) == (
        date(2025, 12, 7),
        date(2026, 1, 5),
    )
