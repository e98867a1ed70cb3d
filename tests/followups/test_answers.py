"""Reading answers: scores, thumbs, fixed or not, and opt-outs (pure functions)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from socialdesk.followups import answers
from socialdesk.followups.models import Survey


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("5/5", 5),
        ("5 / 5 thanks!", 5),
        ("4 stars", 4),
        ("I'd give you four stars", 4),
        ("3 out of 5", 3),
        ("two out of five, it took ages", 2),
        ("4⭐", 4),
        ("⭐⭐⭐⭐⭐", 5),
        ("★★☆☆☆", 2),
        ("8/10", 4),
        ("10/10 would recommend", 5),
        ("4", 4),
        ("a solid 4!", 4),
        ("I would say 3.", 3),
        ("1", 1),
        ("2 days later it is still broken", None),
        ("order #3 arrived", None),
        ("it took 5 hours", None),
        ("call me on 555 1234", None),
        ("6/5!!", None),
        ("yes", None),
        ("", None),
    ],
)
def test_scale_scores(text: str, score: int | None) -> None:
    assert answers.scale_score(text) == score


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("👍", 5),
        ("👍🏽 thanks", 5),
        ("thumbs up", 5),
        ("Yes!", 5),
        ("yep all good", 5),
        ("👎", 1),
        ("👎🏻", 1),
        ("thumbs down", 1),
        ("no", 1),
        ("Nope.", 1),
        ("no problems since, thanks", None),  # "no problems" is not a no
        ("👍👎", None),
        ("maybe", None),
    ],
)
def test_thumbs(text: str, score: int | None) -> None:
    assert answers.thumbs_score(text) == score


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("Yes, working again, thanks!", "positive"),
        ("All good now 🙏", "positive"),
        ("It works perfectly", "positive"),
        ("no problems since", "positive"),
        ("thank you so much", "positive"),
        ("it was down for 2 days but works now, thanks", "positive"),
        ("still not working", "negative"),
        ("Thanks, but it is still down", "negative"),
        ("Nope, same issue", "negative"),
        ("It doesn\u2019t work", "negative"),  # a phone's curly apostrophe
        ("it isn't fixed", "negative"),
        ("Internet is not back yet", "negative"),
        ("I can't log in", "negative"),
        ("the router is down again", "negative"),
        ("it stopped working last night", "negative"),
        ("no", "negative"),
        ("👎", "negative"),
        ("hmm", "unclear"),
        ("who is this?", "unclear"),
    ],
)
def test_fixed_or_not(text: str, answer: str) -> None:
    assert answers.parse(text, survey=Survey.NONE, sentiment="neutral").answer == answer


def test_a_score_decides_when_the_words_do_not() -> None:
    assert answers.parse("5/5", survey="scale", sentiment=None).answer == "positive"
    assert answers.parse("1/5", survey="scale", sentiment=None).answer == "negative"
    assert answers.parse("3/5", survey="scale", sentiment=None).answer == "unclear"
    # The words win over the score: fixed, but not happy with how long it took.
    parsed = answers.parse("2/5, works now but took a week", survey="scale", sentiment=None)
    assert (parsed.answer, parsed.satisfaction) == ("positive", 2)


def test_a_score_is_only_read_when_a_survey_asked_for_one() -> None:
    assert answers.parse("5/5", survey=Survey.NONE, sentiment=None).satisfaction is None
    assert answers.parse("👍", survey=Survey.SCALE, sentiment=None).satisfaction is None
    assert answers.parse("👍", survey=Survey.THUMBS, sentiment=None).satisfaction == 5


def test_triage_sentiment_is_the_last_resort() -> None:
    text = "the technician was lovely"
    assert answers.parse(text, survey="none", sentiment="positive").answer == "positive"
    assert answers.parse(text, survey="none", sentiment="negative").answer == "negative"
    assert answers.parse(text, survey="none", sentiment="neutral").answer == "unclear"
    assert answers.parse(text, survey="none", sentiment=None).answer == "unclear"


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop.",
        "Unsubscribe",
        "please don't contact me again",
        "Do not message me",
        "stop messaging me",
        "leave me alone",
        "no more surveys please",
        "opt out",
    ],
)
def test_opt_outs(text: str) -> None:
    assert answers.parse(text, survey="none", sentiment=None).opt_out


@pytest.mark.parametrize(
    "text",
    ["the noise won't stop", "it stopped working", "please contact me tomorrow", "yes thanks"],
)
def test_not_opt_outs(text: str) -> None:
    assert not answers.parse(text, survey="none", sentiment=None).opt_out


@given(st.text(max_size=200), st.sampled_from(list(Survey)))
def test_any_text_reads_as_a_valid_answer(text: str, survey: Survey) -> None:
    parsed = answers.parse(text, survey=survey, sentiment=None)
    assert parsed.answer in {"positive", "negative", "unclear"}
    assert parsed.satisfaction is None or 1 <= parsed.satisfaction <= 5
    if survey is Survey.NONE:
        assert parsed.satisfaction is None


@given(st.integers(min_value=1, max_value=5), st.sampled_from(["{}/5", "{} stars", "{} out of 5"]))
def test_every_stated_score_is_read_back(score: int, form: str) -> None:
    assert answers.scale_score(form.format(score)) == score


@pytest.mark.parametrize(
    ("text", "language", "answer", "why"),
    [
        ("No, sigue sin funcionar", "es", "negative", "no"),  # English "no" reads first
        ("Todavía no funciona el router", "es", "negative", "todavía no funciona"),
        ("todavia no funciona", None, "negative", "todavía no funciona"),  # no accents, no language
        ("Sí, ya funciona, gracias", "es", "positive", "ya funciona"),
        ("Sí", "es", "positive", "yes"),
        ("No hay problemas, gracias", "es", "positive", "gracias"),
        ("Non, ça ne marche toujours pas", "fr", "negative", "ne marche pas"),
        ("Oui ça marche à nouveau, merci !", "fr", "positive", "ça marche"),
        ("Nein, das Internet geht immer noch nicht", "de", "negative", "geht immer noch nicht"),
        ("Läuft wieder, danke!", "de", "positive", "geht wieder"),
        ("Ja", None, "positive", "yes"),  # "ja" is yes wherever it is said
        ("Nee, werkt nog steeds niet", "nl", "negative", "werkt nog steeds niet"),
        ("Ja hoor, alles is opgelost", "nl", "positive", "werkt weer"),
        ("Não, ainda não funciona", "pt", "negative", "ainda não funciona"),
        ("Sim, voltou a funcionar", "pt", "positive", "já funciona"),
        ("No, non funziona ancora", "it", "negative", "no"),
        ("Sì, funziona di nuovo, grazie", "it", "positive", "funziona di nuovo"),
    ],
)
def test_answers_in_other_languages(text: str, language: str | None, answer: str, why: str) -> None:
    parsed = answers.parse(text, survey=Survey.NONE, sentiment="neutral", language=language)
    assert (parsed.answer, parsed.why) == (answer, why)


def test_si_is_a_yes_only_in_spanish_and_italian() -> None:
    assert answers.parse("Si", survey="none", sentiment=None, language="es").answer == "positive"
    assert answers.parse("Si", survey="none", sentiment=None, language="it").answer == "positive"
    assert answers.parse("Si", survey="none", sentiment=None, language="fr").answer == "unclear"
    assert answers.thumbs_score("si", "es") == 5
    assert answers.thumbs_score("si", None) is None
    assert answers.thumbs_score("Nein", None) == 1
    assert answers.thumbs_score("oui 👍", "fr") == 5


@pytest.mark.parametrize(
    "text",
    [
        "Por favor, no me contacten más",
        "Quiero darme de baja",
        "Ne me contactez plus",
        "désabonner",
        "Bitte abmelden",
        "Bitte nicht mehr kontaktieren",
        "Graag afmelden",
        "Não me contatem mais",
        "Non contattatemi più",
    ],
)
def test_opt_outs_in_other_languages(text: str) -> None:
    assert answers.parse(text, survey="none", sentiment=None).opt_out
