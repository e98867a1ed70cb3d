"""The topics report: the words and pairs customers use more than usual, counted once per
customer, filtered like a volume alert, kept to the organization, on real customer tweets."""

from __future__ import annotations

import csv
import math
from datetime import timedelta
from pathlib import Path

import pytest

from socialdesk.common import clock
from socialdesk.common.errors import ValidationFailed
from socialdesk.topics import service
from socialdesk.topics.terms import fold, singulars, terms
from tests.factories import accounts, channels
from tests.topics.conftest import Desk, say, say_all

SURGE = (
    "Stuck on the train again, signal failure at Central",
    "Is there a signal failure near Central? 40 minutes and nothing",
    "signal failure AGAIN?? this is the third time this month",
    "why is there a signal failure every monday morning",
    "Signal failure means I'm late for work. Any update?",
    "Heard there's a signal failure, how long will it take",
    "The board says signal failure, no trains moving",
    "signal failure at Central, my connection is gone",
)


@pytest.fixture
def tweets(shared_dir: Path) -> list[str]:
    """Real customer tweets to brands, in file order."""
    with (shared_dir / "data/twcs/twcs_5000.csv").open(newline="", encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f) if row["inbound"] == "True"]


def _usual_week(desk: Desk, tweets: list[str], count: int = 130) -> None:
    """A week of ordinary customer messages before the last hour."""
    now = clock.now()
    say_all(
        desk, tweets[:count], start=now - timedelta(days=7, hours=1), end=now - timedelta(hours=1)
    )


def _report(desk: Desk, minutes: int = 60, **filters: object) -> service.Report:
    desk.session.commit()
    return service.report(
        desk.session, organization_id=desk.org.id, minutes=minutes, filters=filters or None
    )


# -- terms ------------------------------------------------------------------------------------


def test_terms_leave_out_handles_links_addresses_and_numbers_that_name_a_person() -> None:
    found = terms(
        "@KVTransit Tram 4 stuck! Card 4929123456781234 charged, mail me at a.b@example.com "
        "https://t.co/xyz #refund"
    )
    assert "tram 4" in found
    assert {"tram", "stuck", "card", "charged", "refund"} <= found
    assert not any("kvtransit" in t or "4929" in t or "example" in t or "t.co" in t for t in found)
    assert "4" not in found  # a number alone names no topic


def test_pairs_stay_within_a_clause_and_skip_small_words() -> None:
    found = terms("Central, signal failure. The bus is late")
    assert "signal failure" in found
    assert "central signal" not in found  # a comma ends the clause
    assert "bus late" not in found  # "is" sits between them
    assert not found & {"the", "is"}


def test_words_are_folded_and_apostrophes_of_either_kind_are_one_word() -> None:
    assert terms("DON\u2019T Refund") == terms("don't refund") == {"refund"}
    assert "e-bike" in terms("My e-bike battery")


def test_a_plural_is_folded_into_its_singular_only_when_both_were_written() -> None:
    written = {"trams", "tram", "buses", "bus", "batteries", "battery", "fares", "news", "status"}
    plurals = singulars(written | {"monthly passes", "pass", "passes"})
    assert plurals == {
        "trams": "tram",
        "buses": "bus",
        "batteries": "battery",
        "passes": "pass",
    }
    assert fold({"monthly passes", "trams", "tram 4"}, plurals) == {
        "monthly pass",
        "tram",
        "tram 4",
    }


def test_customers_writing_either_form_count_as_one_topic(desk: Desk) -> None:
    now = clock.now()
    texts = ["Trams are late again", "No tram at Riverside", "trams stuck", "Where is my tram"]
    say_all(desk, texts, start=now - timedelta(hours=1), end=now)
    found = _report(desk)
    assert [(t.term, t.customers) for t in found.topics] == [("tram", 4)]


# -- scoring ----------------------------------------------------------------------------------


def test_g2_matches_the_table_form_of_the_log_likelihood_ratio() -> None:
    a, n1, b, n2 = 10, 100, 10, 1000
    cells = [a, n1 - a, b, n2 - b]
    rows, cols, total = [n1, n2], [a + b, n1 + n2 - a - b], n1 + n2

    def xlx(x: float) -> float:
        return x * math.log(x) if x else 0.0

    expected = 2 * (sum(map(xlx, cells)) - sum(map(xlx, rows)) - sum(map(xlx, cols)) + xlx(total))
    assert service.g2(a, n1, b, n2) == pytest.approx(expected)
    assert service.g2(5, 100, 50, 1000) == pytest.approx(0.0)  # the same share in both


# -- the report -------------------------------------------------------------------------------


def test_a_phrase_many_customers_start_using_rises_above_the_usual(
    desk: Desk, tweets: list[str]
) -> None:
    _usual_week(desk, tweets)
    now = clock.now()
    say_all(desk, tweets[200:230] + list(SURGE), start=now - timedelta(hours=1), end=now)
    found = _report(desk)
    assert found.has_usual
    assert found.period.messages == found.period.read == 30 + len(SURGE)
    assert found.usual.customers == 130
    top = found.topics[0]
    assert top.term == "signal failure"
    assert top.customers == len(SURGE)
    assert top.usual_share == 0
    assert top.lift is not None
    assert top.lift > 10
    assert len(top.conversation_ids) == service.EXAMPLES
    terms_found = [t.term for t in found.topics]
    # "signal" and "failure" say the same, less precisely.
    assert "signal" not in terms_found
    assert "failure" not in terms_found
    # Every topic is used by enough customers and is no small word.
    assert all(t.customers >= service.MIN_CUSTOMERS for t in found.topics)
    assert not set(terms_found) & {"the", "is", "my", "to", "and"}


def test_the_same_period_without_the_surge_has_no_such_topic(desk: Desk, tweets: list[str]) -> None:
    _usual_week(desk, tweets)
    now = clock.now()
    say_all(desk, tweets[200:238], start=now - timedelta(hours=1), end=now)
    found = _report(desk)
    assert found.has_usual
    assert "signal failure" not in [t.term for t in found.topics]


def test_one_customer_saying_it_many_times_makes_no_topic(desk: Desk, tweets: list[str]) -> None:
    _usual_week(desk, tweets)
    now = clock.now()
    for n, text in enumerate(SURGE):
        say(desk, text, at=now - timedelta(minutes=50 - n), author="the-same-customer")
    found = _report(desk)
    assert found.period.messages == len(SURGE)
    assert found.period.customers == 1
    assert found.topics == []


def test_a_new_desk_ranks_by_customers_and_says_it_has_no_usual(desk: Desk) -> None:
    now = clock.now()
    say_all(
        desk,
        list(SURGE) + ["My bus pass does not scan"] * 3,
        start=now - timedelta(hours=1),
        end=now,
    )
    found = _report(desk)
    assert not found.has_usual
    assert found.topics[0].term == "signal failure"
    assert found.topics[0].usual_share is None
    assert found.topics[0].lift is None
    assert [t.customers for t in found.topics] == sorted(
        (t.customers for t in found.topics), reverse=True
    )
    assert "bus pass" in [t.term for t in found.topics]


def test_filters_choose_the_messages_read(desk: Desk, tweets: list[str]) -> None:
    _usual_week(desk, tweets)
    now = clock.now()
    for n, text in enumerate(SURGE):
        desk.write(text, account=desk.x, at=now - timedelta(minutes=40 - n), route=False)
    say_all(desk, tweets[200:220], start=now - timedelta(hours=1), end=now)
    on_x = _report(desk, channel="x")
    assert on_x.period.messages == len(SURGE)
    on_web = _report(desk, channel="web")
    assert on_web.period.messages == 20
    assert "signal failure" not in [t.term for t in on_web.topics]
    worded = _report(desk, words=["Central"])
    assert worded.period.messages == sum(
        "central" in t.lower() for t in SURGE + tuple(tweets[200:220])
    )


def test_another_organizations_messages_are_never_read(desk: Desk, tweets: list[str]) -> None:
    _usual_week(desk, tweets)
    other = accounts.organization(desk.session, name="Elsewhere")
    web = channels.brand_account(desk.session, other, kind="web")
    desk.session.commit()
    now = clock.now()
    for n, text in enumerate(SURGE):
        desk.write(text, account=web, at=now - timedelta(minutes=30 - n), route=False)
    found = _report(desk)
    assert found.period.messages == 0
    assert found.topics == []
    theirs = service.report(desk.session, organization_id=other.id, minutes=60)
    assert theirs.period.messages == len(SURGE)


def test_a_big_period_is_read_as_an_even_sample(
    desk: Desk, tweets: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = clock.now()
    say_all(desk, tweets[:40], start=now - timedelta(hours=1), end=now)
    monkeypatch.setattr(service, "PERIOD_SAMPLE", 10)
    found = _report(desk)
    assert found.period.messages == 40
    assert 0 < found.period.read <= 10
    assert found.period.customers == found.period.read  # one customer each


def test_the_sample_does_not_line_up_with_a_pattern_in_the_ids() -> None:
    """Every fourth id a complaint, a quarter sampled: about a quarter of the sample are
    complaints, where every fourth id would have read all of them or none."""
    ids = range(1, 400_001)
    bound = math.ceil(service.HASH_SPACE * 0.25)
    kept = [n for n in ids if (n * service.HASH_MULTIPLIER) % service.HASH_SPACE < bound]
    assert len(kept) == pytest.approx(100_000, rel=0.01)
    complaints = sum(n % 4 == 0 for n in kept)
    assert complaints / len(kept) == pytest.approx(0.25, abs=0.01)
    # The same with a cycle of texts that is not a power of two (2,718 real tweets in turn).
    same_text = sum(n % 2718 == 5 for n in kept)
    assert same_text / len(kept) == pytest.approx(1 / 2718, rel=0.2)


def test_the_usual_period_is_the_week_before_or_four_times_a_longer_period() -> None:
    end = clock.now()
    start = end - timedelta(hours=1)
    assert service.usual_period(start, end) == (start - timedelta(days=7), start)
    start = end - timedelta(days=7)
    assert service.usual_period(start, end) == (start - timedelta(days=28), start)


def test_refusals_name_what_was_wrong(desk: Desk) -> None:
    with pytest.raises(ValidationFailed) as err:
        service.report(desk.session, organization_id=desk.org.id, minutes=1)
    assert err.value.field == "minutes"
    with pytest.raises(ValidationFailed) as err:
        service.report(
            desk.session, organization_id=desk.org.id, minutes=60, filters={"intent": "rant"}
        )
    assert err.value.field == "intent"
    with pytest.raises(ValidationFailed) as err:
        service.report(
            desk.session, organization_id=desk.org.id, minutes=60, filters={"mood": "bad"}
        )
    assert err.value.field == "filters"
