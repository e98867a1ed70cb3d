"""Scheduling on resolve, policies (most specific wins), cancelling on reopen, and the sweep
that catches a lost scheduling job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from socialdesk.common.errors import NotFound, ValidationFailed
from socialdesk.conversations import service as conversations_service
from socialdesk.conversations.models import Activity, Status
from socialdesk.followups import jobs as followups_jobs
from socialdesk.followups import service
from socialdesk.followups.models import FollowUpStatus, Survey
from tests.factories import channels
from tests.followups.conftest import Care


def test_resolving_schedules_one_follow_up_due_after_the_default_day(care: Care) -> None:
    resolved_at = care.clock.now()
    care.resolve()
    follow_up = care.only()
    assert follow_up.status == FollowUpStatus.SCHEDULED.value
    assert follow_up.resolved_at == resolved_at
    assert follow_up.due_at == resolved_at + timedelta(hours=24)
    assert follow_up.member_id == care.agent.id  # the one who resolved it
    assert follow_up.contact_id == care.conversation.contact_id
    assert follow_up.survey == Survey.NONE.value
    # Running the scheduling again (a retried job, the sweep) changes nothing.
    with care.session.begin_nested():
        service.sync(care.session, conversation_id=care.conversation.id)
    care.session.commit()
    assert len(care.follow_ups()) == 1


def test_the_most_specific_policy_wins(care: Care) -> None:
    s, org = care.session, care.org
    other = channels.brand_account(s, org, kind="x")
    service.save_policy(s, organization_id=org.id, actor=care.admin, template="Hi {name}")
    service.save_policy(
        s,
        organization_id=org.id,
        actor=care.admin,
        channel="x",
        template="Hello {handle}",
        delay_minutes=120,
        survey=Survey.THUMBS,
    )
    service.save_policy(
        s,
        organization_id=org.id,
        actor=care.admin,
        brand_account_id=care.account.id,
        template="Hey {name}, {agent} here",
        delay_minutes=30,
        survey="scale",
    )
    s.commit()
    mine = service.effective_policy(s, account=care.account)
    assert (mine.source, mine.delay_minutes, mine.survey) == ("brand account", 30, Survey.SCALE)
    theirs = service.effective_policy(s, account=other)
    assert (theirs.source, theirs.delay_minutes, theirs.template) == (
        "channel",
        120,
        "Hello {handle}",
    )
    web = channels.brand_account(s, org, kind="web")
    assert service.effective_policy(s, account=web).source == "organization"
    service.delete_policy(
        s, organization_id=org.id, actor=care.admin, brand_account_id=care.account.id
    )
    s.commit()
    assert service.effective_policy(s, account=care.account).source == "channel"
    # Saving a scope again replaces its policy rather than adding a second one.
    service.save_policy(s, organization_id=org.id, actor=care.admin, channel="x", template="Yo")
    s.commit()
    assert [p.template for p in service.list_policies(s, organization_id=org.id)] == [
        "Hi {name}",
        "Yo",
    ]
    care.resolve()
    assert care.only().due_at == care.clock.now() + timedelta(minutes=24 * 60)


def test_a_policy_takes_a_brand_account_or_a_channel_of_the_same_organization(care: Care) -> None:
    with pytest.raises(ValidationFailed, match="not both"):
        service.save_policy(
            care.session,
            organization_id=care.org.id,
            actor=care.admin,
            brand_account_id=care.account.id,
            channel="x",
            template="Hi",
        )
    with pytest.raises(ValidationFailed, match="unknown channel 'myspace'"):
        service.save_policy(
            care.session,
            organization_id=care.org.id,
            actor=care.admin,
            channel="myspace",
            template="Hi",
        )
    with pytest.raises(NotFound):
        service.save_policy(
            care.session,
            organization_id=care.org.id + 1000,
            actor=None,
            brand_account_id=care.account.id,
            template="Hi",
        )


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "Hi {firstname}, is it {fixed}?",
            "unknown placeholders in the template: {firstname}, {fixed}",
        ),
        ("Hi {name}, from {team}", "unknown placeholder in the template: {team}"),
        ("Hi {name!r}", "placeholders take no format"),
        ("Hi {name", "cannot be read"),
        ("   ", "must not be empty"),
    ],
)
def test_templates_name_what_is_wrong(template: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        service.validate_template(template)
    assert message in refused.value.message
    assert refused.value.field == "template"


def test_rendering_fills_placeholders_and_appends_the_survey_question() -> None:
    values = {"name": "Ana", "handle": "@ana", "agent": "Alex", "brand": "Acme"}
    text = service.render("Hi {name} ({handle}), {agent} of {brand}: {{fixed}}?", values, "scale")
    assert text == (
        "Hi Ana (@ana), Alex of Acme: {fixed}?\n\n"
        "How would you rate our help, from 1 (poor) to 5 (great)?"
    )
    assert service.render(service.BUILTIN_TEMPLATE, values) == (
        "Hi Ana, checking in: is everything working again?"
    )


def test_a_policy_that_is_off_records_why_nothing_is_scheduled(care: Care) -> None:
    service.save_policy(
        care.session,
        organization_id=care.org.id,
        actor=care.admin,
        channel="x",
        template="Hi",
        enabled=False,
    )
    care.session.commit()
    care.resolve()
    follow_up = care.only()
    assert follow_up.status == FollowUpStatus.SKIPPED.value
    assert follow_up.reason == "follow-ups are off (channel policy)"


def test_reopening_before_it_is_due_skips_it_with_the_reason(care: Care) -> None:
    care.resolve()
    care.clock.advance(timedelta(hours=2))
    care.reopen()
    follow_up = care.only()
    assert follow_up.status == FollowUpStatus.SKIPPED.value
    assert follow_up.reason == "the conversation was reopened (open) before the follow-up was due"
    trail = care.session.scalars(
        select(Activity.kind).where(Activity.conversation_id == care.conversation.id)
    ).all()
    assert "followup_skipped" in trail
    # Resolving again schedules a new one for the new resolution.
    care.resolve()
    rows = care.follow_ups()
    assert [r.status for r in rows] == ["skipped", "scheduled"]
    assert rows[1].due_at == care.clock.now() + timedelta(hours=24)


def test_the_customer_writing_again_before_it_is_due_skips_it(care: Care) -> None:
    care.resolve()
    care.customer_says("Actually it dropped again", after=60)
    assert care.session.get_one(type(care.conversation), care.conversation.id).status == "open"
    assert care.only().status == FollowUpStatus.SKIPPED.value


def test_the_sweep_schedules_a_resolution_whose_job_was_lost(care: Care) -> None:
    conversations_service.set_status(
        care.session, conversation=care.conversation, status=Status.RESOLVED, actor=care.agent
    )
    care.session.commit()
    care.jobs.flush()  # the scheduling job is lost (a crash right after the commit)
    assert care.follow_ups() == []
    care.clock.advance(timedelta(minutes=5))
    followups_jobs.sweep()
    assert care.only().status == FollowUpStatus.SCHEDULED.value
    followups_jobs.sweep()  # and only once
    assert len(care.follow_ups()) == 1
