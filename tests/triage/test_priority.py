from datetime import UTC, datetime, timedelta

import pytest

from socialdesk.triage.priority import Priority, Signals, TriageContext, decide

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
CALM = Signals(complaint=0.1, negative=0.1, positive=0.8, intent="praise")
ANGRY = Signals(complaint=0.9, negative=0.8, positive=0.05, intent="complaint")


def test_praise_is_low_and_says_why() -> None:
    decision = decide(text="thanks, lovely flight", signals=CALM, now=NOW)
    assert decision.priority is Priority.LOW
    assert decision.reasons


def test_safety_words_make_a_message_urgent_and_are_quoted() -> None:
    decision = decide(text="I got food poisoning from your sandwich", signals=ANGRY, now=NOW)
    assert decision.priority is Priority.URGENT
    assert any("food poisoning" in reason for reason in decision.reasons)


def test_every_signal_that_counts_is_named() -> None:
    context = TriageContext(
        vip=True,
        previous_contacts=(NOW - timedelta(hours=1), NOW - timedelta(hours=2)),
        audience=250_000,
    )
    decision = decide(text="still not working", signals=ANGRY, context=context, now=NOW)
    assert decision.priority is Priority.URGENT
    text = " | ".join(decision.reasons)
    for expected in ("complaint", "negative tone", "not working", "VIP", "2 time(s)", "250,000"):
        assert expected in text


def test_old_contacts_do_not_count_as_repeated() -> None:
    context = TriageContext(previous_contacts=(NOW - timedelta(days=2),))
    decision = decide(text="hello", signals=ANGRY, context=context, now=NOW)
    assert not any("time(s) before" in reason for reason in decision.reasons)


def test_a_calm_complaint_is_normal_and_a_vip_one_is_high() -> None:
    calm = Signals(complaint=0.9, negative=0.3, positive=0.1, intent="complaint")
    plain = decide(text="the sandwich was dry", signals=calm, now=NOW)
    vip = decide(
        text="the sandwich was dry", signals=calm, context=TriageContext(vip=True), now=NOW
    )
    assert plain.priority is Priority.NORMAL
    assert vip.priority is Priority.HIGH


def test_an_angry_complaint_is_high() -> None:
    decision = decide(text="the sandwich was dry", signals=ANGRY, now=NOW)
    assert decision.priority is Priority.HIGH


def test_a_question_without_signals_is_normal_and_says_so() -> None:
    question = Signals(complaint=0.1, negative=0.1, positive=0.1, intent="question")
    decision = decide(text="what time do you open?", signals=question, now=NOW)
    assert decision.priority is Priority.NORMAL
    assert decision.reasons == ("question with no urgency signal",)


def test_context_refuses_naive_times_and_negative_audience() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        TriageContext(previous_contacts=(datetime(2024, 1, 1),))  # noqa: DTZ001 - the point
    with pytest.raises(ValueError, match="audience"):
        TriageContext(audience=-1)


def test_time_words_in_praise_do_not_raise_priority() -> None:
    decision = decide(text="thanks so much, great crew today", signals=CALM, now=NOW)
    assert decision.priority is Priority.LOW
    assert not any("time pressure" in reason for reason in decision.reasons)


def test_time_words_count_alongside_a_problem() -> None:
    decision = decide(text="my flight is today and the app is down", signals=CALM, now=NOW)
    assert any("time pressure: 'today'" in reason for reason in decision.reasons)
    assert any("not working: 'down'" in reason for reason in decision.reasons)
