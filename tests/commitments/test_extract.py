"""Promise detection: the issue's examples, negatives, spans, defaults, and properties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from socialdesk.commitments.calendar import BusinessCalendar
from socialdesk.commitments.extract import Promise, extract

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
# Thursday 14 March 2024, 10:00 in Amsterdam.
NOW = datetime(2024, 3, 14, 10, 0, tzinfo=AMSTERDAM)


def promises(text: str, **kwargs: object) -> list[Promise]:
    options: dict[str, object] = {"now": NOW, "tz": AMSTERDAM, **kwargs}
    return extract(text, **options)  # type: ignore[arg-type]


def only(text: str, **kwargs: object) -> Promise:
    found = promises(text, **kwargs)
    assert len(found) == 1, found
    return found[0]


# --- the examples of the issue -----------------------------------------------------------------


def test_technician_will_call_tomorrow() -> None:
    promise = only("Sorry about that! A technician will call you tomorrow.")
    assert promise.text == "A technician will call you tomorrow"
    assert promise.action == "call you"
    assert promise.due is not None
    assert promise.due.isoformat() == "2024-03-15T23:59:59+01:00"
    assert promise.due_kind == "explicit"
    assert promise.due_phrase == "tomorrow"


def test_technician_there_monday_between_8_and_12() -> None:
    promise = only("A technician will be there Monday between 8 and 12.")
    assert promise.due is not None
    assert promise.due.isoformat() == "2024-03-18T12:00:00+01:00"
    assert promise.due_phrase == "Monday between 8 and 12"


def test_refund_within_business_days() -> None:
    promise = only("Your refund will arrive within 5-7 business days.")
    assert promise.due is not None
    assert promise.due.isoformat() == "2024-03-25T23:59:59+01:00"
    assert promise.due_kind == "relative"
    assert "refund" in promise.action


def test_refund_within_business_days_skips_holidays() -> None:
    holidays = BusinessCalendar.with_holidays([datetime(2024, 3, 18, tzinfo=UTC).date()])
    promise = only("Your refund will arrive within 5-7 business days.", business_days=holidays)
    assert promise.due is not None
    assert promise.due.date().isoformat() == "2024-03-26"


def test_dm_in_an_hour() -> None:
    promise = only("I'll DM you in an hour")
    assert promise.text == "I'll DM you in an hour"
    assert promise.due == NOW + timedelta(hours=1)
    assert promise.due_kind == "relative"


def test_look_into_it_and_get_back_has_no_time() -> None:
    promise = only("We'll look into it and get back to you.")
    assert promise.text == "We'll look into it and get back to you"
    assert promise.action == "look into it and get back to you"
    assert promise.due is None
    assert promise.due_kind == "none"
    assert promise.due_phrase is None


def test_organisation_default_applies_when_no_time_is_stated() -> None:
    promise = only("We'll look into it and get back to you.", default_due=timedelta(hours=24))
    assert promise.due == datetime(2024, 3, 15, 10, 0, tzinfo=AMSTERDAM)
    assert promise.due_kind == "default"
    timed = only("We'll call you tomorrow at 9am.", default_due=timedelta(hours=24))
    assert timed.due_kind == "explicit"


def test_default_is_elapsed_time_across_dst() -> None:
    saturday = datetime(2024, 3, 30, 12, 0, tzinfo=AMSTERDAM)  # clocks go forward that night
    promise = only("We'll be in touch.", now=saturday, default_due=timedelta(hours=24))
    assert promise.due is not None
    assert promise.due.isoformat() == "2024-03-31T13:00:00+02:00"


@pytest.mark.parametrize(
    ("text", "expected_due"),
    [
        ("We'll have this fixed by end of day.", "2024-03-14T23:59:59+01:00"),
        ("I'll get back to you later today.", "2024-03-14T23:59:59+01:00"),
        ("The replacement will ship next week.", "2024-03-24T23:59:59+01:00"),
        ("You'll receive an email within 24-48 hours.", "2024-03-16T10:00:00+01:00"),
        ("We will call you tomorrow at 9am.", "2024-03-15T09:00:00+01:00"),
        ("Someone will reach out within the hour.", "2024-03-14T11:00:00+01:00"),
        ("We're sending a replacement tomorrow.", "2024-03-15T23:59:59+01:00"),
        ("The e-mail will be sent by 17/03/24.", "2024-03-17T23:59:59+01:00"),
        ("Expect a call from our team within 24 hours.", "2024-03-15T10:00:00+01:00"),
        ("We'll reach out to you shortly.", None),
        ("Your feedback will be passed on to the right folks.", None),
        ("We see your DM and will respond shortly!", None),
    ],
)
def test_more_promises(text: str, expected_due: str | None) -> None:
    promise = only(text)
    assert (promise.due.isoformat() if promise.due else None) == expected_due


def test_span_points_into_the_original_text() -> None:
    text = "@123 Thanks Ann! We\u2019ll refund you within 3 business days. ^JS"
    promise = only(text)
    assert text[promise.start : promise.end] == promise.text
    assert promise.text == "We\u2019ll refund you within 3 business days"
    assert promise.due_phrase == "within 3 business days"


def test_two_promises_in_one_reply() -> None:
    found = promises(
        "We're going to forward your file to Central Baggage. They'll be in touch tomorrow!"
    )
    assert [p.text for p in found] == [
        "We're going to forward your file to Central Baggage",
        "They'll be in touch tomorrow",
    ]
    assert found[0].due is None
    assert found[1].due is not None


def test_elided_subject_starts_at_the_auxiliary() -> None:
    promise = only("Our team is reviewing your email and will be in touch.")
    assert promise.text == "will be in touch"


def test_time_zones_change_the_day() -> None:
    now = datetime(2024, 3, 14, 16, 0, tzinfo=UTC)  # Friday 01:00 in Tokyo
    tokyo = only("We will call you tomorrow.", now=now, tz=TOKYO)
    new_york = only("We will call you tomorrow.", now=now, tz=NEW_YORK)
    assert tokyo.due is not None
    assert new_york.due is not None
    assert tokyo.due.isoformat() == "2024-03-16T23:59:59+09:00"
    assert new_york.due.isoformat() == "2024-03-15T23:59:59-04:00"


def test_tomorrow_at_9am_on_the_fall_back_night() -> None:
    saturday = datetime(2024, 10, 26, 20, 0, tzinfo=AMSTERDAM)
    promise = only("We'll call you tomorrow at 9am.", now=saturday)
    assert promise.due is not None
    assert promise.due.isoformat() == "2024-10-27T09:00:00+01:00"


# --- not promises -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        # requests to the customer
        "Please DM us your order number.",
        "Send us a DM with your email address and our team will follow up.",
        "Please DM us and we'll take a look.",
        "Could you DM us your username? We'll take a look backstage.",
        "Kindly share your details here: https://t.co/x and I'll look into this.",
        # conditionals about the customer
        "If you DM us we can take a look.",
        "If you DM us, we'll get this sorted for you.",
        "Once you send the details we'll look into it.",
        # offers, wishes, efforts, abilities
        "We'll be happy to help!",
        "We'd love to take a look, DM us.",
        "I will be happy to assist you with resolution.",
        "We'll do our best to make up time in the air.",
        "Hopefully things will smooth out soon.",
        "Fingers crossed it'll be brought back.",
        "Our store team will be able to advise.",
        # past, status, generic, questions
        "We sent it yesterday.",
        "We've passed your feedback to the team.",
        "We're working on it.",
        "Refunds usually take 3-5 days.",
        "You'll receive drink coupons after every 10 flights.",
        "You'll need to update your listings.",
        "There will be other great weekly gifts every Tuesday.",
        "Will you be at home tomorrow?",
        "Can we call you tomorrow?",
        "We will not be able to guarantee availability.",
        "We've replied to your DM. We'll carry on helping out there.",
        "We'll check out that area together, send a DM my direction.",
        "We expect a delay today.",
        "",
        "   ",
        # waits on the customer: "when you ...", and details asked for in the next sentence
        "When you're ready, we'll walk you through the steps.",
        "We'll look into this for you. Can you please DM us your booking reference?",
        "We'll check this for you. Please send us your order number.",
        "We'll continue helping out from here. Can you DM us the email on the account?",
        "I'll take a look. Which store was it?",
        "Thank you so much! I will meet you there, so we can take care of you! https://t.co/x",
        "Thanks! I'll meet you in DM.",
        # availability, opening hours and supply are news for everyone
        "We'll have basic beverages such as water, coffee, and juice on board.",
        "We will be closed on Monday for the holiday.",
        "The store will be open until 9pm tonight.",
        "We're having a few supplier issues at the moment but we'll get them back soon.",
    ],
)
def test_not_promises(text: str) -> None:
    assert promises(text) == []


@pytest.mark.parametrize(
    "text",
    [
        # an invitation or thanks after the promise does not make it wait on the customer
        "We'll look into this. Let us know if you need anything else.",
        "We'll look into this and get back to you. Thanks for your patience.",
        "We'll review your case. Have a great day!",
        "We'll look into this. Is there anything else we can help with?",
        # passing feedback on does not need the answer to a question that follows
        "We'll pass this on to the team. Which store was it?",
        # acts, not availability
        "We'll have someone call you tomorrow.",
        "We'll have a look and get back to you.",
        "We'll have this sorted for you by Friday.",
        # supply mentioned, but the act is for this customer or asks on their behalf
        "Our supplier is late, but we'll send you a replacement as soon as it arrives.",
        "I will call our supplier and see if they have any left.",
        # a meeting with a time is a visit, not an invitation to a DM
        "The engineer will meet you there at 9am tomorrow.",
        "Our engineer will meet you in the lobby.",
        # availability needs no participle: "have ... refunded" is an act
        "We'll have the order refunded.",
    ],
)
def test_promises_kept_next_to_the_new_rules(text: str) -> None:
    assert promises(text), text


def test_an_emoji_ends_a_sentence() -> None:
    promise = only("That's what we're here for 😊  The team should send you an email shortly ^HP")
    assert promise.text == "The team should send you an email shortly"
    assert only("We'll pass it on 👍🏽 Thanks").text == "We'll pass it on"
    assert only("We'll pass it on ❤️").text == "We'll pass it on"


def test_from_morning_is_the_coming_morning() -> None:
    nairobi = ZoneInfo("Africa/Nairobi")
    evening = datetime(2017, 10, 27, 20, 9, tzinfo=nairobi)
    text = "Kindly be patient as this shall be done from morning ^MT"
    promise = only(text, now=evening, tz=nairobi)
    assert promise.text == "this shall be done from morning"
    assert promise.due is not None
    assert promise.due.isoformat() == "2017-10-28T12:00:00+03:00"


def test_naive_now_and_negative_default_are_refused() -> None:
    naive = datetime(2024, 3, 14, 10, 0)  # noqa: DTZ001 - the mistake under test
    with pytest.raises(ValueError, match="timezone-aware"):
        extract("We'll call you.", now=naive, tz=AMSTERDAM)
    with pytest.raises(ValueError, match="must not be negative"):
        extract("We'll call you.", now=NOW, tz=AMSTERDAM, default_due=timedelta(hours=-1))


# --- properties ---------------------------------------------------------------------------------

FRAGMENTS = st.sampled_from(
    [
        "we'll",
        "We\u2019ll",
        "I will",
        "will",
        "shall",
        "should",
        "gonna",
        "is going to",
        "are sending",
        "the team",
        "your refund",
        "you'll",
        "they",
        "and",
        "call you",
        "get back to you",
        "be delivered",
        "tomorrow",
        "tomorrow at 9am",
        "at 2:30am",
        "Monday between 8 and 12",
        "between 13 and 99",
        "within",
        "5-7 business days",
        "24-48 hours",
        "in an hour",
        "in the morning",
        "by end of day",
        "next week",
        "next month",
        "by 31/02/2024",
        "by 12/31",
        "on the 31st",
        "99999 days",
        "3660 months",
        "by 29 Feb",
        "1/2",
        "if you",
        "please",
        "DM us",
        "?",
        ".",
        "!",
        ",",
        "\n",
        "&amp;",
        "https://t.co/x",
        "^AB",
        "...",
    ]
)
TEXTS = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=4)), max_size=25).map(" ".join),
    st.lists(FRAGMENTS, max_size=25).map("".join),
)
ZONES = st.sampled_from(
    [
        "UTC",
        "America/New_York",
        "Europe/Amsterdam",
        "Asia/Tokyo",
        "Australia/Lord_Howe",  # half-hour daylight saving
        "America/St_Johns",  # half-hour offset
        "Pacific/Kiritimati",  # +14
    ]
).map(ZoneInfo)
NOWS = st.datetimes(
    min_value=datetime(1971, 1, 1),  # noqa: DTZ001 - hypothesis attaches the zone below
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=TEXTS, now=NOWS, tz=ZONES, default_hours=st.none() | st.integers(0, 1000))
def test_never_raises_and_keeps_its_invariants(
    text: str, now: datetime, tz: ZoneInfo, default_hours: int | None
) -> None:
    default_due = timedelta(hours=default_hours) if default_hours is not None else None
    found = extract(text, now=now, tz=tz, default_due=default_due)
    previous_end = 0
    for promise in found:
        assert 0 <= promise.start < promise.end <= len(text)
        assert promise.start >= previous_end  # in order, never overlapping
        previous_end = promise.end
        assert text[promise.start : promise.end] == promise.text
        if promise.due is None:
            assert promise.due_kind == "none"
            assert default_due is None
        else:
            assert promise.due.tzinfo is not None
            assert promise.due >= now
            assert promise.due_kind in ("explicit", "relative", "default")
        if promise.due_phrase is not None:
            assert promise.due_phrase in promise.text


@settings(max_examples=200, deadline=None)
@given(now=NOWS, tz=ZONES, hour=st.integers(0, 23))
def test_tomorrow_at_a_given_hour_is_always_that_wall_time(
    now: datetime, tz: ZoneInfo, hour: int
) -> None:
    label = f"{hour % 12 or 12}{'am' if hour < 12 else 'pm'}"
    promise = extract(f"We'll call you tomorrow at {label}.", now=now, tz=tz)[0]
    assert promise.due is not None
    local = promise.due.astimezone(tz)
    assert local.date() == now.astimezone(tz).date() + timedelta(days=1)
    # The wall time is the one stated unless it fell in a spring-forward gap, where it moves on.
    assert local.hour in (hour, (hour + 1) % 24) or local.minute != 0
