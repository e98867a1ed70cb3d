"""The customer's answer to a sent follow-up: recorded, acted on (resolved again or left
reopened with the owner told), scored when a survey asked, and opt-outs kept."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from socialdesk.contacts.models import Contact
from socialdesk.conversations.models import Activity, Conversation, Status
from socialdesk.followups import jobs as followups_jobs
from socialdesk.followups import service
from socialdesk.followups.models import FollowUpStatus, Survey
from socialdesk.notifications.models import Notification
from tests.factories.connectors import RecordingConnector
from tests.followups.conftest import Care


def _sent(care: Care, *, survey: Survey = Survey.NONE) -> None:
    if survey is not Survey.NONE:
        service.save_policy(
            care.session,
            organization_id=care.org.id,
            actor=care.admin,
            template=service.BUILTIN_TEMPLATE,
            survey=survey,
        )
        care.session.commit()
    care.resolve()
    care.clock.advance(timedelta(hours=24))
    care.tick()
    assert care.only().status == FollowUpStatus.SENT.value


def _conversation(care: Care) -> Conversation:
    care.reload()
    conversation = care.session.get_one(Conversation, care.conversation.id)
    care.done()
    return conversation


def _trail(care: Care) -> list[tuple[str, dict[str, object]]]:
    rows = care.session.execute(
        select(Activity.kind, Activity.data)
        .where(Activity.conversation_id == care.conversation.id)
        .order_by(Activity.id)
    ).all()
    care.done()
    return [(k, d) for k, d in rows]


def test_a_positive_answer_resolves_it_again_without_asking_twice(
    care: Care, fake_x: RecordingConnector
) -> None:
    _sent(care)
    care.customer_says("Yes, all working now, thanks!", after=90)
    follow_up = care.follow_ups()[0]
    assert follow_up.status == FollowUpStatus.ANSWERED.value
    assert follow_up.answer == "positive"
    assert follow_up.satisfaction is None  # no survey was asked
    assert follow_up.answered_at == care.clock.now()
    assert _conversation(care).status == Status.RESOLVED.value
    answered = [d for k, d in _trail(care) if k == "followup_answered"]
    assert answered
    assert answered[0]["result"] == "fixed"
    # Resolving after the answer schedules no second question.
    rows = care.follow_ups()
    assert [r.status for r in rows] == ["answered", "skipped"]
    assert rows[1].reason == "the customer already answered the last follow-up"
    care.clock.advance(timedelta(days=2))
    care.tick()
    assert len(fake_x.sent) == 1


def test_a_negative_answer_stays_reopened_and_the_owner_hears(
    care: Care, fake_x: RecordingConnector
) -> None:
    _sent(care)
    care.customer_says("Thanks, but it is still not working", after=30)
    follow_up = care.follow_ups()[0]
    assert (follow_up.status, follow_up.answer) == ("answered", "negative")
    assert _conversation(care).status == Status.OPEN.value
    notices = list(
        care.session.scalars(
            select(Notification).where(Notification.kind == service.NOTIFY_NEGATIVE)
        )
    )
    assert [n.member_id for n in notices] == [care.agent.id]
    assert notices[0].title == "@cust: still not fixed"
    assert notices[0].body == "Thanks, but it is still not working"


def test_a_positive_answer_with_a_question_is_left_for_a_person(
    care: Care, fake_x: RecordingConnector
) -> None:
    _sent(care)
    care.customer_says("Yes it works! But how do I change my wifi password?")
    assert care.follow_ups()[0].answer == "positive"
    assert _conversation(care).status == Status.OPEN.value


def test_a_scale_survey_records_the_score(care: Care, fake_x: RecordingConnector) -> None:
    _sent(care, survey=Survey.SCALE)
    assert fake_x.sent[0].text.endswith("How would you rate our help, from 1 (poor) to 5 (great)?")
    care.customer_says("4/5")
    follow_up = care.follow_ups()[0]
    assert (follow_up.answer, follow_up.satisfaction, follow_up.survey) == ("positive", 4, "scale")


def test_a_thumbs_survey_records_thumbs(care: Care, fake_x: RecordingConnector) -> None:
    _sent(care, survey=Survey.THUMBS)
    care.customer_says("👎")
    follow_up = care.follow_ups()[0]
    assert (follow_up.answer, follow_up.satisfaction) == ("negative", 1)
    assert _conversation(care).status == Status.OPEN.value


def test_only_the_first_message_after_the_follow_up_is_its_answer(
    care: Care, fake_x: RecordingConnector
) -> None:
    _sent(care)
    care.customer_says("hmm let me check")
    care.customer_says("yes works now")
    follow_up = care.follow_ups()[0]
    assert (follow_up.answer, follow_up.status) == ("unclear", "answered")
    assert _conversation(care).status == Status.OPEN.value


def test_stop_opts_the_customer_out(care: Care, fake_x: RecordingConnector) -> None:
    _sent(care)
    care.customer_says("STOP")
    contact = care.session.get_one(Contact, care.conversation.contact_id)
    assert contact.opted_out_at == care.clock.now()
    assert (
        "followup_opt_out",
        {"follow_up_id": care.follow_ups()[0].id, "opted_out": True, "why": "asked"},
    ) in _trail(care)
    # The next resolution's follow-up is skipped.
    care.resolve()
    care.clock.advance(timedelta(hours=25))
    care.tick()
    assert care.follow_ups()[-1].status == FollowUpStatus.SKIPPED.value
    assert len(fake_x.sent) == 1


def test_an_answer_after_the_quiet_period_in_a_new_conversation_still_counts(
    care: Care, fake_x: RecordingConnector
) -> None:
    _sent(care)
    care.clock.advance(timedelta(days=4))  # past the 72-hour quiet period
    message = care.customer_says("Yes! working again")
    assert message.conversation_id != care.conversation.id
    follow_up = care.follow_ups()[0]
    assert (follow_up.status, follow_up.answer) == ("answered", "positive")
    new = care.session.get_one(Conversation, message.conversation_id)
    assert new.status == Status.RESOLVED.value


def test_the_sweep_reads_an_answer_whose_job_was_lost(
    care: Care, fake_x: RecordingConnector
) -> None:
    _sent(care)
    care.clock.advance(timedelta(minutes=5))
    from tests.factories.conversations import inbound, ingest

    ingest(
        care.session,
        care.account,
        inbound(author="cust", text="still broken", at=care.clock.now(), reply_to="t1"),
    )
    care.session.commit()
    care.jobs.flush()  # the answer job is lost
    assert care.follow_ups()[0].status == FollowUpStatus.SENT.value
    followups_jobs.sweep()
    care.reload()
    assert care.follow_ups()[0].answer == "negative"


def test_an_answer_in_spanish_reopens_like_one_in_english(
    care: Care, fake_x: RecordingConnector
) -> None:
    _sent(care)
    care.customer_says("Todavía no funciona, el router sigue igual", after=30)
    follow_up = care.follow_ups()[0]
    assert (follow_up.status, follow_up.answer) == ("answered", "negative")
    assert _conversation(care).status == Status.OPEN.value
    answered = [d for k, d in _trail(care) if k == "followup_answered"]
    assert answered[0]["why"] == "todavía no funciona"
