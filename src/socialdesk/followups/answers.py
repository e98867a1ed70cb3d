"""Reading a customer's answer to a follow-up: was it fixed, how satisfied are they, and do they
want to be left alone. Pure functions of the text (and the triage sentiment of the message);
no database, so they are tested on their own.

The order of evidence, strongest first: an explicit cue that it is still broken ("still not
working", "no", 👎), an explicit cue that it works ("yes", "working again", 👍), the score the
customer gave (4-5 good, 1-2 bad), then the triage sentiment of the message. A message with
both kinds of cue ("thanks, but still down") counts as negative: the customer still needs help.

Cues are English here; ``answer_cues`` adds Spanish, French, German, Dutch, Portuguese and
Italian ones ("sigue sin funcionar", "ça marche", "nein"), read as described there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from socialdesk.followups import answer_cues
from socialdesk.followups.models import Survey


class Answer:
    POSITIVE = "positive"
    NEGATIVE = "negative"
    UNCLEAR = "unclear"


@dataclass(frozen=True)
class ParsedAnswer:
    answer: str  # positive, negative or unclear
    satisfaction: int | None  # 1-5 when a survey was asked and the customer gave a score
    opt_out: bool  # the customer asked not to be contacted like this again
    why: str  # which cue decided, for the activity trail

    @property
    def fixed(self) -> bool:
        return self.answer == Answer.POSITIVE


WORD_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
_NUM = r"([1-5]|one|two|three|four|five)"
_I = re.IGNORECASE

# "5/5", "4 out of 5", "four out of five", "3 of 5".
_OUT_OF_FIVE = re.compile(rf"(?<![\d.,])\b{_NUM}\s*(?:/|out\s+of|of)\s*(?:5|five)\b", _I)
# "4 stars", "five star", "4⭐", "4 *".
_STARS_COUNT = re.compile(rf"(?<![\d.,])\b{_NUM}\s*(?:stars?\b|⭐|★|\*)", _I)
# "⭐⭐⭐⭐", "★★★☆☆" (filled stars counted).
_STAR_RUN = re.compile(r"(?:[⭐★]\ufe0f?){1,5}")
# "8/10", "10 out of 10": halved, so the scale stays 1-5.
_OUT_OF_TEN = re.compile(r"(?<![\d.,])\b(10|[0-9])\s*(?:/|out\s+of)\s*10\b", _I)
# A bare score ("5", "a solid 4!", "I'd say 3.") in a short answer; a number followed by a
# word ("2 days later") or by more digits is something else.
_BARE = re.compile(r"(?<![\d/.,:#£$€])\b([1-5])\b(?![\d/.,:]\d)(?!\s*[A-Za-z%])")
_MAX_WORDS_FOR_BARE_SCORE = 6

_THUMBS_UP = re.compile(r"👍|\bthumbs?[\s-]*up\b", _I)
_THUMBS_DOWN = re.compile(r"👎|\bthumbs?[\s-]*down\b", _I)

_NO_PROBLEM = r"(?:problems?|issues?|worries|complaints|more\s+(?:problems?|issues?))"
_YES = re.compile(r"^\W*(?:yes|yep|yeah|yup|yea|ya|sure|absolutely|definitely|indeed)\b", _I)
# Not "no problems", nor the same in Spanish or Italian ("no hay problemas", "no problemi").
_NO = re.compile(
    rf"^\W*(?:no|nope|nah|not\s+really)\b"
    rf"(?!\s+(?:{_NO_PROBLEM}|hay\s+(?:problemas?|quejas|fallos?)|problemi|problema)\b)",
    _I,
)
_NEGATIVE = [
    (
        "still not working",
        re.compile(
            r"\bstill\s+(?:not\b|no\b|\w+n[']?t\b|broken|down|failing|offline|dead|"
            r"the\s+same|an?\s+(?:issue|problem)|having|getting|waiting|nothing|slow)",
            _I,
        ),
    ),
    (
        "not fixed",
        re.compile(
            r"\bnot\s+(?:\w+\s+)?(?:working|fixed|resolved|solved|sorted|better|back|"
            r"connecting|loading|arrived|received|really|yet|quite)\b",
            _I,
        ),
    ),
    (
        "does not work",
        re.compile(
            r"\b(?:is|does|did|has|have|was|were|wo|ca|could|can)(?:n[']?t|\s+not)\s+"
            r"(?:\w+\s+)?(?:work|working|worked|fixed|help|helped|resolved|solved|sorted|"
            r"load|connect|changed?|arrived?|came|come|better)\b",
            _I,
        ),
    ),
    ("cannot", re.compile(r"\b(?:can[']?t|cannot|unable\s+to)\b", _I)),
    ("same problem", re.compile(r"\bsame\s+(?:problem|issue|error|thing)\b", _I)),
    (
        "broken again",
        re.compile(
            r"\b(?:is|it[']?s|its|are|keeps?|went|goes|again)\s+(?:\w+\s+)?"
            r"(?:broken|down|failing|crashing|offline|dropping)\b|"
            r"\b(?:broken|down|failing|crashing|offline)\s+again\b|\bworse\b|"
            r"\bstopped\s+(?:working|again)\b",
            _I,
        ),
    ),
    ("no", _NO),
    ("thumbs down", _THUMBS_DOWN),
]
_POSITIVE = [
    ("yes", _YES),
    (
        "working again",
        re.compile(
            r"\b(?:working|works|worked|fixed|resolved|solved|sorted|back\s+(?:up|online|to\s+"
            r"normal)|up\s+and\s+running|all\s+good|all\s+set|fine\s+now|good\s+now)\b",
            _I,
        ),
    ),
    ("no problems", re.compile(rf"\bno\s+{_NO_PROBLEM}\b", _I)),
    ("thumbs up", _THUMBS_UP),
    (
        "thanks",
        re.compile(
            r"\b(?:thanks?|thank\s+you|thx|ty|cheers|perfect|great|awesome|brilliant)\b|🙏", _I
        ),
    ),
]

_OPT_OUT_ALONE = re.compile(
    r"^\W*(?:stop|stop\s+all|unsubscribe|opt[\s-]?out|end|quit|cancel)\W*$", _I
)
_OPT_OUT = re.compile(
    r"\bunsubscribe\b|\bopt[\s-]?out\b|"
    r"\b(?:don[']?t|do\s+not|never|dont)\s+(?:ever\s+)?(?:contact|message|text|e-?mail|dm|"
    r"write\s+to|bother|call|follow\s+up\s+with)\s+(?:me|us)\b|"
    r"\bstop\s+(?:contacting|messaging|texting|e-?mailing|writing\s+to|bothering|"
    r"following\s+up\s+with|sending\s+me)\b|"
    r"\bleave\s+me\s+alone\b|\bremove\s+me\s+from\b|"
    r"\bno\s+more\s+(?:messages|follow[\s-]?ups|surveys|texts|emails)\b",
    _I,
)


def _number(raw: str) -> int:
    return WORD_NUMBERS.get(raw.lower()) or int(raw)


def scale_score(text: str) -> int | None:
    """A 1-5 score in the text ("5/5", "4 stars", "⭐⭐⭐", "8/10", "4"), or None."""
    for pattern in (_OUT_OF_FIVE, _STARS_COUNT):
        match = pattern.search(text)
        if match:
            return _number(match.group(1))
    run = _STAR_RUN.search(text)
    if run:
        return sum(1 for ch in run.group(0) if ch in "⭐★")
    ten = _OUT_OF_TEN.search(text)
    if ten:
        return max(1, min(5, round(int(ten.group(1)) / 2)))
    if len(text.split()) <= _MAX_WORDS_FOR_BARE_SCORE:
        bare = _BARE.findall(text)
        if len(bare) == 1:
            return int(bare[0])
    return None


def thumbs_score(text: str, language: str | None = None) -> int | None:
    """5 for a thumbs up (👍, "yes", "oui"), 1 for a thumbs down (👎, "no", "nein"), None
    otherwise. Both at once (or neither) is no answer."""
    up = bool(_THUMBS_UP.search(text) or _YES.search(text) or answer_cues.says_yes(text, language))
    down = bool(
        _THUMBS_DOWN.search(text) or _NO.search(text) or answer_cues.says_no(text, language)
    )
    if up and not down:
        return 5
    if down and not up:
        return 1
    return None


def wants_no_contact(text: str) -> bool:
    """The customer asked not to be contacted unprompted again ("stop", "unsubscribe",
    "don't contact me")."""
    return bool(_OPT_OUT_ALONE.search(text) or _OPT_OUT.search(text) or answer_cues.opts_out(text))


def _first_cue(text: str, cues: list[tuple[str, re.Pattern[str]]]) -> str | None:
    for name, pattern in cues:
        if pattern.search(text):
            return name
    return None


def _normalise(text: str) -> str:
    # Phones type curly apostrophes (U+2019); the cues are written with straight ones.
    return " ".join(text.replace("\u2019", "'").replace("\u02bc", "'").split())


def _verdict(
    text: str, satisfaction: int | None, sentiment: str | None, language: str | None
) -> tuple[str, str]:
    negative = _first_cue(text, _NEGATIVE) or answer_cues.negative_cue(text)
    if negative is None and answer_cues.says_no(text, language):
        negative = "no"
    if negative is not None:
        return Answer.NEGATIVE, negative
    positive = _first_cue(text, _POSITIVE) or answer_cues.positive_cue(text)
    if positive is None and answer_cues.says_yes(text, language):
        positive = "yes"
    if positive is not None:
        return Answer.POSITIVE, positive
    if satisfaction is not None and satisfaction != 3:
        return (Answer.POSITIVE if satisfaction >= 4 else Answer.NEGATIVE), f"score {satisfaction}"
    if sentiment in (Answer.POSITIVE, Answer.NEGATIVE):
        return sentiment, f"{sentiment} sentiment"
    return Answer.UNCLEAR, "no clear cue"


def parse(
    text: str, *, survey: Survey | str, sentiment: str | None, language: str | None = None
) -> ParsedAnswer:
    """Read one answer. ``survey`` is what the follow-up asked (a score is only read when one
    was asked); ``sentiment`` is triage's label of the message (positive/neutral/negative) and
    ``language`` its language (ISO 639-1), which decides the yes and no words read."""
    survey = Survey(survey)
    clean = _normalise(text)
    satisfaction: int | None = None
    if survey is Survey.SCALE:
        satisfaction = scale_score(clean)
    elif survey is Survey.THUMBS:
        satisfaction = thumbs_score(clean, language)
    answer, why = _verdict(clean, satisfaction, sentiment, language)
    return ParsedAnswer(answer, satisfaction, wants_no_contact(clean), why)
