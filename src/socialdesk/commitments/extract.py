"""Find the promises an outgoing reply makes and when each is due.

A promise is a commitment by the organization to a future action or outcome for this customer
that it could break without the customer doing anything further ("a technician will call you
tomorrow", "your refund will arrive within 5-7 business days", "we'll look into it and get back
to you"). Requests to the customer, offers ("we'd be happy to help"), things that wait on the
customer ("DM us and we'll take a look"), status reports, generic statements and questions are
not promises. The full rules are in ``data/annotations/commitments/GUIDELINE.md``.

The detector is rule-based: it finds future auxiliaries (will, 'll, shall, going to, gonna,
should), an imperative "expect ...", and progressives of delivery verbs next to a future time
("we're sending it tomorrow"); it decides who is committing from the words before them and what
from the words after, and then rejects the clause when its sentence or the message shows it is
an offer, a condition on the customer, a wish, an effort, or generic. Rules were tuned on the
development part of the annotations and on unlabelled replies, never on the held-out part.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

from socialdesk.commitments.calendar import DEFAULT_CALENDAR, BusinessCalendar
from socialdesk.commitments.timeparse import resolve_due

DueKind = Literal["explicit", "relative", "default", "none"]
SubjectKind = Literal["brand", "customer", "thing", "elided"]


@dataclass(frozen=True, slots=True)
class Promise:
    """One promise found in a message.

    ``start``/``end`` are offsets into the original text (``text == message[start:end]``).
    ``due`` is aware and in the organization's zone, or None when no time was stated and no
    default applies. ``due_kind`` says where it came from: ``explicit`` (a day, date or clock
    time), ``relative`` (a duration from now), ``default`` (none stated; the organization's
    default), ``none``. ``due_phrase`` is the words the time came from.
    """

    text: str
    start: int
    end: int
    action: str
    due: datetime | None
    due_kind: DueKind
    due_phrase: str | None


# --- text preparation -------------------------------------------------------------------------

# Same-length replacements only, so offsets into the normalised text are offsets into the original.
_SAME_LENGTH = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})

_URL = re.compile(r"https?://\S+|\bwww\.\S+", re.IGNORECASE)
# Sign-offs brands put at the end: "^AB", "-Name", "*XY", "/AB", "(1/2)", "2/3", "[1/2]".
_SIGNATURE = re.compile(
    r"\s\^\s?\w+|\s[-\u2013~]\s?[A-Z][\w]*\s*$|\s\*[A-Z]\w*|\s/[A-Z]{2}\b|\(?\[?\b\d/\d\b\]?\)?",
)
_ABBREVIATIONS = frozenset(
    {"dr", "mr", "mrs", "ms", "st", "no", "vs", "etc", "approx", "dept", "e.g", "i.e", "a.m", "p.m"}
)


def _is_emoji(char: str) -> bool:
    """An emoji or a part of one (variation selector, joiner, skin tone)."""
    if char in "\ufe0f\u200d":
        return True
    return unicodedata.category(char) in ("So", "Sk") and ord(char) >= 0x2600


def _sentences(text: str) -> list[tuple[int, int]]:
    """Split into sentences: after . ! ? followed by space or end, at line breaks, and after an
    emoji followed by space ("That's what we're here for 😊  The team should ...": replies often
    end a sentence with an emoji instead of a full stop)."""
    spans: list[tuple[int, int]] = []
    start = 0
    length = len(text)
    index = 0
    while index < length:
        char = text[index]
        if char == "\n":
            spans.append((start, index))
            start = index + 1
        elif _is_emoji(char):
            while index + 1 < length and _is_emoji(text[index + 1]):
                index += 1
            if index + 1 < length and text[index + 1] in " \t":
                spans.append((start, index + 1))
                start = index + 1
        elif char in ".!?" and (index + 1 == length or text[index + 1] in " \t\n\"')"):
            word = re.search(r"([\w.]+)$", text[start:index])
            token = word.group(1).lower() if word else ""
            single_letter = len(token) == 1 and char == "."
            if char != "." or (token not in _ABBREVIATIONS and not single_letter):
                while index + 1 < length and text[index + 1] in ".!?":
                    index += 1
                spans.append((start, index + 1))
                start = index + 1
        index += 1
    spans.append((start, length))
    return [(s, e) for s, e in spans if text[s:e].strip()]


# --- anchors: where a commitment may start ------------------------------------------------------

_AUX = re.compile(
    r"(?P<aux>(?<![\w'])(?:will|shall|should|gonna)\b(?!\s+(?:not|never)\b)"
    r"|'ll\b"
    r"|\b(?:is|are|am|'m|'re)\s+going\s+to\b)",
    re.IGNORECASE,
)
# Present progressive with a stated future time: "we're sending a technician tomorrow".
_PROGRESSIVE = re.compile(
    r"(?P<aux>\b(?:is|are|am|'m|'re)\s+(?=(?:sending|calling|contacting|shipping|dispatching|"
    r"refunding|issuing|forwarding|arranging|escalating|delivering|emailing|mailing|posting|"
    r"processing|reaching\s+out|getting\s+back|following\s+up)\b))",
    re.IGNORECASE,
)
# "Expect a call from our team within 24 hours": an imperative that promises.
_EXPECT = re.compile(
    r"(?P<aux>\bexpect)\s+(?=(?:an?|the|your|our|to\s+(?:hear|receive|get|see))\b)",
    re.IGNORECASE,
)
_EXPECT_SUBJECT = re.compile(r"^(?:please|you\s+(?:can|may|should|will)|)$", re.IGNORECASE)
_PROGRESSIVE_AUX = re.compile(r"(?:is|are|am|'m|'re)\s+", re.IGNORECASE)
_FUTURE_TIME_WORDS = re.compile(
    r"\b(?:today|tonight|tomorrow|tmrw|in\s+the\s+morning|this\s+(?:afternoon|evening)|"
    r"within|monday|tuesday|wednesday|thursday|friday|saturday|sunday|next\s+week)\b",
    re.IGNORECASE,
)

# Where a clause starts, looking back from an auxiliary.
_CLAUSE_START = re.compile(
    r"(?:^|[,;:(]\s*|\s(?:and|but|so|&amp;|&|or|then|because|as|while)\s+|\s[-\u2013]\s)",
    re.IGNORECASE,
)
_BRAND_SUBJECT = re.compile(
    r"^(?:we|i|our\b.*|the\s+(?:\w+\s+){0,3}(?:team|teams|department|dept|engineer|technician|"
    r"specialist|agent|agents|expert|manager|rep|representative|staff|crew|colleagues?|folks|"
    r"advisor|adviser|courier|driver|store)|team\b.*|a\s+(?:\w+\s+){0,2}(?:member|technician|"
    r"engineer|specialist|agent|expert|rep|representative|advisor|adviser|colleague|supervisor|"
    r"manager|courier|driver)\b.*|an?\s+(?:\w+\s+)?(?:engineer|expert|agent|advisor|adviser)\b.*|"
    r"one\s+of\s+(?:our|the|my)\b.*|some\s*one|somebody|they|he|she|[a-z]+\s+(?:team|support))$",
    re.IGNORECASE,
)
_CUSTOMER_SUBJECT = re.compile(r"^(?:you|u)$", re.IGNORECASE)
_NON_SUBJECT = re.compile(
    r"^(?:there|which|that|who|what|where|how|when|why|this\s+one|everything|anything|"
    r"nothing|nobody|no\s*one|none|items?|products?|prices?|orders|some\b.*|all\b.*|many\b.*|most\b.*|each\b.*|"
    r"every\b.*|customers?|passengers?|people|guests?|users?)$",
    re.IGNORECASE,
)
_LEADING_FILLER = re.compile(
    r"^(?:(?:@\w+|\.\.\.|\u2026)[\s,]*|(?:and|but|so|also|then|&amp;|&|hey|hi|ok|okay|yes|no|rest\s+assured|don't\s+worry|"
    r"not\s+to\s+worry|of\s+course|in\s+the\s+meantime|meanwhile|for\s+now|now|sure|great|"
    r"absolutely|definitely|totally|totaly|certainly|surely)\b[\s,!]*)+",
    re.IGNORECASE,
)

# --- what follows the auxiliary ------------------------------------------------------------------

_ADVERBS = (
    r"(?:(?:definitely|certainly|surely|sure|absolutely|also|now|still|then|gladly|happily|"
    r"personally|promptly|quickly|immediately|always|just|really|be\s+sure\s+to|make\s+sure\s+to|"
    r"make\s+sure\s+that|ensure\s+to|ensure\s+that|ensure|be\s+certain\s+to|try\s+and|"
    r"totally|totaly)\s+)*"
)
_NOT_A_COMMITMENT = re.compile(
    r"^" + _ADVERBS + r"(?:"
    r"not\b|never\b|"
    # offers and willingness
    r"be\s+(?:more\s+than\s+|very\s+|so\s+|really\s+|most\s+|only\s+too\s+|always\s+)?"
    r"(?:happy|glad|pleased|delighted|willing|thrilled|keen|honou?red)\b|"
    r"(?:love|like|want)\s+to\b|"
    # ability, availability, need
    r"be\s+(?:(?:better\s+)?able|unable|better\s+equipped|equipped|your\s+best|the\s+best|here|"
    r"standing\s+by|available|there\s+for|on\s+hand)\b|"
    r"need\b|have\s+to\b|be\s+required\b|require\b|"
    # effort, wishes
    r"do\s+(?:our|my|their|his|her)\s+(?:very\s+)?best\b|try\b|see\s+what\b|"
    r"do\s+(?:all|everything|what)\s+(?:we|i|they)\s+can\b|keep\s+(?:our|my)\s+fingers\b|hope\b|"
    # things done in the same message or procedure steps
    r"attach\b|tell\s+you\s+the\b|explain\b|start\s+with\b|begin\s+with\b|"
    # offers of generic help, and status that is not a promise
    r"(?:help|assist)(?:\s+you)?(?:\s+(?:out|further|more))?\s*(?:$|[.!,]|with\s+that|"
    r"from\s+here)|"
    # opening hours: "the store will be open until 9pm", "we'll be closed on Monday"
    r"be\s+(?:open|closed|shut)\b|"
    r"have\s+been\b|be\s+(?:making|running|operating|experiencing|listening|monitoring|"
    r"watching|waiting)\b|hopefully\b|consider\b|see\s+you\b|welcome\s+you\b|"
    r"keep\s+an\s+eye\s+out\b|look\s+forward\b|work\s+(?:for|to|hard|towards|with)\b|"
    r"continue\s+to\s+(?:add|offer|improve|work|extend|expand|grow|look\s+for)\b"
    r")",
    re.IGNORECASE,
)
_CUSTOMER_OUTCOME = re.compile(
    r"^" + _ADVERBS + r"(?:"
    r"receive\b|get\s+(?:an?|the|your|it|them|this|that|some|a\s+\w+|back|one|our)\b|"
    r"hear\b|be\s+(?:contacted|called|updated|refunded|credited|notified|emailed|sent|"
    r"reimbursed|compensated|informed|advised|issued|provided|getting|receiving|hearing)\b|"
    r"see\s+(?:an?\s+|the\s+|your\s+)?(?:refund|credit|money|funds|email|e-mail|reply|response|"
    r"message|call|it|them|changes?)\b|have\s+(?:an?|the|your)\s+(?:answer|update|reply|response|"
    r"refund|replacement|email|call)\b"
    r")",
    re.IGNORECASE,
)
_THING_OUTCOME = re.compile(
    r"^" + _ADVERBS + r"(?:be\s+)?" + _ADVERBS + r"(?:"
    r"delivered|sent|shipped|dispatched|posted|mailed|emailed|refunded|credited|processed|fixed|"
    r"resolved|rectified|sorted|returned|replaced|reimbursed|reversed|waived|corrected|honou?red|"
    r"passed\s+(?:on|along|to)|fed\s+back|forwarded|escalated|reviewed|looked\s+into|"
    r"investigated|reflected|applied|added|issued|released|restored|reinstated|reactivated|"
    r"cancelled|canceled|removed|alerted|informed|notified|scheduled|arranged|done|completed|"
    r"actioned|handled|addressed|taken\s+care\s+of|attended\s+to|"
    r"arrive|reflect|reach\s+you|be\s+with\s+you|go\s+out|ship|land|be\s+ready|"
    r"be\s+on\s+(?:its|their)\s+way|"
    r"(?:be\s+)?(?:in\s+touch|contacting|calling|reaching\s+out|getting\s+back|following\s+up)|"
    r"call\s+you|contact\s+you|reach\s+out|get\s+back|follow\s+up|reply|respond"
    r")\b",
    re.IGNORECASE,
)
_BRAND_SHOULD = re.compile(
    r"^" + _ADVERBS + r"(?:send|call|contact|reach\s+out|get\s+back|be\s+in\s+touch|reply|respond|"
    r"email|follow\s+up|be\s+(?:contacting|calling|sending|reaching|following))\b",
    re.IGNORECASE,
)
# For "they": only contact verbs make it the brand's people acting.
_CONTACT_VERB = re.compile(
    r"^" + _ADVERBS + r"(?:be\s+(?:in\s+touch|contacting|calling|reaching\s+out|getting\s+back|"
    r"following\s+up)|call|contact|reach\s+out|get\s+back|follow\s+up|reply|respond|"
    r"be\s+there\s+to)\b",
    re.IGNORECASE,
)
# Verbs of engaging with the case: these wait on the customer when the message asked for
# something first ("Could you DM us your email? We'll take a look").
_ENGAGEMENT = re.compile(
    r"^" + _ADVERBS + r"(?:be\s+)?(?:"
    r"look|take\s+a\s+(?:closer\s+|further\s+)?look|have\s+a\s+look|check|continue|carry\s+on|go\s+from|"
    r"get\s+started|start|proceed|help|assist|investigate|follow|get\s+back|in\s+touch|"
    r"reach\s+out|connect|get\s+in\s+touch|contact|sort|lend|see|review|dig|explore|meet|"
    r"respond|reply|call|pick\s+up|advise|take\s+(?:it|this|things)\s+from|get\s+(?:this|that|it|"
    r"you|things)\b|make\s+(?:this|it|things)\s+right|take\s+care|address|escalate|"
    r"taking|looking|checking|getting|following|reaching|contacting|assisting|helping|"
    r"work|add|pop|refund|log|feed|pass|let\s+you\s+know|update|keep\s+you|chase|raise|"
    r"search|find|keep\s+moving|move\s+forward|go\s+on|chat|come"
    r")",
    re.IGNORECASE,
)

# Working on the case itself: this needs the customer's details when the next sentence asks for
# them ("We'll look into this for you. Can you DM us your booking reference?").
_NEEDS_DETAILS = re.compile(
    r"^" + _ADVERBS + r"(?:be\s+)?(?:"
    r"look(?:ing)?\s+into|(?:take|have)\s+a\s+(?:closer\s+|further\s+|quick\s+)?look|"
    r"check|investigat|continue|carry\s+on|start|get\s+started|proceed|go\s+from|help|assist|"
    r"dig|search|sort|review|explore|take\s+(?:it|this|things)\s+from|work\s+on|get\s+to\s+the\s+bottom"
    r")",
    re.IGNORECASE,
)
_ASKS_FOR_DETAILS = re.compile(
    r"^\W*(?:(?:hi|hey|ok|okay|first|firstly|to\s+start|meanwhile|in\s+the\s+meantime)\b[\s,!]*)?"
    r"(?:(?:can|could|would|will)\s+(?:you|u)\s+(?:please\s+|kindly\s+|just\s+|quickly\s+)?|"
    r"please\s+|pls\s+|plz\s+|kindly\s+|just\s+)?"
    r"(?:dm|d\.m|send|share|provide|tell|confirm|give|let\s+(?:us|me)\s+know|drop|shoot|fire|"
    r"email|message|fill|submit|click|reach\s+out|get\s+in\s+touch|contact|pop|meet\s+us|"
    r"follow\s+(?:the|this)\s+link)\b"
    # or any question ("Which store was it?")
    r"|\?\W*$",
    re.IGNORECASE,
)
# ... unless the next sentence only invites further contact ("let us know if you need anything").
_ONLY_INVITES = re.compile(
    r"\bif\b|\banything\s+else\b|\bany\s+(?:other|more|further)\s+(?:questions?|concerns?|help)\b",
    re.IGNORECASE,
)
# "I'll meet you in DM": the customer has to come there first.
_MEET_IN_DM = re.compile(
    r"^" + _ADVERBS + r"(?:be\s+)?meet(?:ing)?\s+(?:you|u)\s+(?:over\s+)?(?:there\b|"
    r"(?:in|on|via)\s+(?:a\s+|the\s+)?(?:dm|dms|direct\s+message|private|pm|chat)\b)",
    re.IGNORECASE,
)

# --- context that cancels a commitment -----------------------------------------------------------

_REQUEST_VERBS = (
    r"(?:dm|d\.m|direct\s+message|send|share|provide|reach|contact|fill|submit|call|give|reply|"
    r"revert|follow|tell|let\s+(?:us|me)\s+know|drop|write|get\s+in\s+touch|get\s+back\s+in|click|"
    r"visit|pop|connect|join|meet|shoot|fire|re-?submit|email|e-mail|message|inbox|check|confirm|"
    r"head|go\s+ahead|feel\s+free|post|include|verify|report|escalate|update|re-?send|forward|"
    r"talk|speak|chat|ring|ping|use|log|sign|complete|keep\s+us\s+posted)"
)
_REQUEST = re.compile(
    r"\b(?:please|pls|plz|kindly|could\s+you|can\s+you|would\s+you|will\s+you|mind|"
    r"request\s+you|if\s+you(?:'d|\s+would|\s+could|\s+can)?)\b(?!\s+(?:allow|bear|be\s+patient|wait|"
    r"hold|stay\s+tuned|accept|note|don't|do\s+not|keep\s+an\s+eye|rest))"
    rf"|(?:^|[.!?:]\s+|\n)\W*(?:\w+[,!]\s+)?(?:just\s+)?{_REQUEST_VERBS}\b"
    r"|\b(?:send|dm|give|shoot|fire|drop)\s+(?:us|me)\b"
    r"|\blet\s+(?:us|me)\s+know\b"
    rf"|,\s+(?:just\s+)?(?:please\s+)?{_REQUEST_VERBS}\b"
    r"|\b(?:reach|get)\s+(?:out\s+)?(?:to|in\s+touch\s+with)\s+us\b"
    r"|\bhere:\s*(?:https?://|$)"
    r"|\b(?:using|via|through|at|on)\s+(?:the|this|our)\s+(?:link|form)\b",
    re.IGNORECASE,
)
_CONDITION_BEFORE = re.compile(
    r"\b(?:if|once|whenever|as\s+soon\s+as|should\s+you|in\s+case|provided|unless)\b"
    r"[^.!?]*\b(?:you|your|u)\b"
    # "When you're ready, we'll ...", "when you get a chance, ..."
    r"|\bwhen\s+(?:you|u)\b",
    re.IGNORECASE,
)
_CONDITION_AFTER = re.compile(
    r"\b(?:if|once|whenever|should|unless)\s+(?:you|your|u)\b|"
    r"\bif\s+(?:needed\s+)?(?:you|your)\b|"
    r"\bwhen(?:ever)?\s+you(?:'re|\s+are)?\s+(?:send|dm|provide|share|reply|respond|get\s+back|"
    r"contact|reach|choose|select|decide|ready|have|let|confirm|place|order|book|sign|log)|"
    r"\bonce\s+we\s+(?:receive|get|have|hear)\s+(?:your|back\s+from\s+you|from\s+you)|"
    r"\bonce\s+(?:you|you've|you're|it's|it\s+is)\b",
    re.IGNORECASE,
)
_WISH_BEFORE = re.compile(
    r"\b(?:hopefully|hope|hoping|fingers\s+crossed|wish|might|maybe|perhaps|possibly|"
    r"may\s+be|not\s+sure|unsure|can't\s+guarantee|cannot\s+guarantee)\b",
    re.IGNORECASE,
)
_GENERIC = re.compile(
    r"\b(?:after\s+every|each\s+time|every\s+time|whenever|usually|typically|generally|"
    r"in\s+general|normally|as\s+a\s+rule|for\s+all\s+customers|all\s+customers|most\s+customers|"
    r"automatically|eventually|in\s+the\s+future|in\s+the\s+new\s+year|next\s+(?:summer|year|spring|"
    r"autumn|fall|winter)|next\s+time|in\s+(?:january|february|march|april|may|june|july|august|september|"
    r"october|november|december))\b",
    re.IGNORECASE,
)
_SUPPLY = re.compile(r"\bsuppl(?:y|ies|ier|iers)\b", re.IGNORECASE)
# Asking on the customer's behalf ("I'll call the supplier and see if they have more").
_ENQUIRES = re.compile(
    r"^" + _ADVERBS + r"(?:call|ring|contact|check|ask|find\s+out|see\s+if|look|chase|speak|email|"
    r"get\s+in\s+touch|reach\s+out|let\s+you\s+know|keep\s+you)\b",
    re.IGNORECASE,
)
_ABOUT_CUSTOMER = re.compile(r"\b(?:you|your|u|ur|yours)\b", re.IGNORECASE)
# "We'll have basic beverages such as water, coffee and juice": what will be available, not an
# act for this customer. "We'll have someone call you", "we'll have this sorted", "we'll have a
# look" are acts.
_AVAILABILITY = re.compile(
    r"^" + _ADVERBS + r"have\s+"
    r"(?!(?:an?\s+)?(?:closer\s+|quick\s+|further\s+|proper\s+)?(?:look|word|chat|think|dig|"
    r"answer|update|reply|response|decision|resolution|fix|solution)s?\b)"
    r"(?![^.!?]*\b(?:you|your|u|ur|it|this|that|these|those|them|him|her|someone|somebody|"
    r"something|one\s+of|a\s+member|all\s+of|sent|done|seen|made|paid|put|set|got|gotten|taken|"
    r"given|out|back|over|up|ready)\b)"
    # nor a participle ("we'll have your order refunded")
    r"(?![^.!?]*\b(?!(?:need|feed|speed|seed|bed|red|shed)\b)\w+ed\b)",
    re.IGNORECASE,
)
_BRAND_HAS_IT = re.compile(
    r"\b(?:received|receive|see|seeing|saw|got|have|found|noticed)\s+(?:your|ur)\s+"
    r"(?:dm|dms|d\.m|direct\s+message|message|email|e-mail|details|info|information|reply|"
    r"response|note|form)\b|\bgot\s+you\s+in\s+(?:my|our)\s+dm|\bthanks?\s+for\s+(?:the|your)\s+"
    r"(?:info|information|details|reply|response|dm)\b|thank\s+you\s+for\s+the\s+additional",
    re.IGNORECASE,
)
_BALL_WITH_CUSTOMER = re.compile(
    r"\b(?:we've|we\s+have|i've|i\s+have|we|i)\s+(?:just\s+|already\s+)?(?:replied|responded|sent|"
    r"answered|followed\s+up|reached\s+(?:back\s+)?out)\b",
    re.IGNORECASE,
)
_CONTINUE = re.compile(
    r"^" + _ADVERBS + r"(?:carry\s+on|continue|pick\s+up|meet\s+you|keep\s+(?:helping|chatting))",
    re.IGNORECASE,
)

# Where a promise clause ends, looking forward from the auxiliary.
_CLAUSE_END = re.compile(
    r"[.!?;](?=\s|$)|\n|:\s|\s\(|\s[-\u2013]\s|,\s*(?:but|so|and\s+(?:we|i|you|they|our|the|a|it)\b|"
    r"thanks|thank|please|pls|appreciate|have\s+a|enjoy|take\s+care)|\s(?:but|although|though|"
    r"however)\s|\s(?:and|&amp;|&)\s+(?:we|i|they|you|our|the\s+\w+\s+will|please|hopefully)\b|"
    # "We'll check out that area together, DM me so we can get started": a request follows.
    r",\s*(?:please\s+|pls\s+|kindly\s+|just\s+)?(?:dm|send|share|provide|reach|contact|call|give|"
    r"reply|let\s+(?:us|me)\s+know|drop|shoot|fire|message|email|follow|click|visit)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Candidate:
    start: int
    aux_start: int
    aux_end: int
    end: int
    subject: str
    subject_kind: SubjectKind
    verb_phrase: str


_PRONOUN_AT_END = re.compile(r"\b(we|i|you|u|they)$", re.IGNORECASE)
# The first finite verb of a sentence: what comes before it is the sentence's subject.
_FIRST_VERB = re.compile(
    r"\s*\b(?:is|are|am|was|were|has|have|had|see|saw|got|get|received|will|shall|can|could|"
    r"would|do|does|did|appreciate|understand|know|just|already|currently|really|truly|"
    r"totally|definitely|certainly|also)\b|'(?:re|s|ve|m|d|ll)\b",
    re.IGNORECASE,
)


def _subject_kind(subject: str) -> SubjectKind:
    cleaned = _LEADING_FILLER.sub("", subject.strip()).strip(" ,!")
    if not cleaned:
        return "elided"
    if _CUSTOMER_SUBJECT.match(cleaned):
        return "customer"
    if _BRAND_SUBJECT.match(cleaned):
        return "brand"
    # "As you've returned the product you'll be contacted": the pronoun next to the auxiliary
    # is the subject, whatever came before it.
    pronoun = _PRONOUN_AT_END.search(cleaned)
    if pronoun:
        return "customer" if pronoun.group(1).lower() in ("you", "u") else "brand"
    return "thing"


def _shared_subject(prefix: str) -> str:
    """The subject of the clause an elided predicate is coordinated with: in "I am pleased, your
    feedback is appreciated and will help us" that is "your feedback", not "I"."""
    prefix = re.sub(r"(?:[\s,]|\band\b|\bbut\b|\bso\b|&amp;|&|\bor\b|\bthen\b)*$", "", prefix)
    last = 0
    for match in _CLAUSE_START.finditer(prefix):
        if match.end() < len(prefix):
            last = match.end()
    return _sentence_subject(prefix[last:])


def _sentence_subject(sentence_text: str) -> str:
    """The words before the sentence's first verb ("Our team" in "Our team is reviewing your
    email and will be in touch"): the subject an elided "and will ..." shares."""
    stripped = _LEADING_FILLER.sub("", sentence_text.lstrip())
    verb = _FIRST_VERB.search(stripped)
    return stripped[: verb.start()] if verb else ""


def _clause_bounds(
    text: str, sentence: tuple[int, int], aux_start: int, aux_end: int
) -> tuple[int, int]:
    s_start, s_end = sentence
    before = text[s_start:aux_start]
    clause_start = s_start
    for match in _CLAUSE_START.finditer(before):
        clause_start = s_start + match.end()
    after = text[aux_end:s_end]
    end = s_end
    stop = _CLAUSE_END.search(after)
    if stop:
        end = aux_end + stop.start()
    for pattern in (_URL, _SIGNATURE):
        found = pattern.search(text, aux_end, end)
        if found:
            end = found.start()
    while end > aux_end and (
        text[end - 1] in " \t,.!?;:-\u2013)(\"'*~^" or _is_emoji(text[end - 1])
    ):
        end -= 1
        # A dangling "&amp;" or "and" left where the clause was cut.
        dangling = re.search(r"\s(?:&amp;?|&|and)$", text[aux_end:end])
        if dangling:
            end = aux_end + dangling.start()
    return clause_start, end


def _candidates(text: str, sentence: tuple[int, int]) -> list[_Candidate]:
    s_start, s_end = sentence
    found: list[_Candidate] = []
    matches = list(_AUX.finditer(text, s_start, s_end))
    sentence_text = text[s_start:s_end]
    if _FUTURE_TIME_WORDS.search(sentence_text):
        matches += list(_PROGRESSIVE.finditer(text, s_start, s_end))
    matches += list(_EXPECT.finditer(text, s_start, s_end))
    for match in sorted(matches, key=lambda m: m.start()):
        aux_start, aux_end = match.start("aux"), match.end("aux")
        clause_start, end = _clause_bounds(text, sentence, aux_start, aux_end)
        subject = text[clause_start:aux_start]
        kind = _subject_kind(subject)
        if kind == "elided":
            start = aux_start
            # "'ll" and "'re going to" are glued to their subject: step back over it.
            word = re.search(r"(\w+)$", text[clause_start:aux_start])
            if text[aux_start] == "'" and word:
                start = clause_start + word.start(1)
                kind = _subject_kind(word.group(1))
            elif clause_start > s_start:
                shared = _shared_subject(text[s_start:clause_start])
                if shared.strip():
                    kind = _subject_kind(shared)
                    subject = shared
        else:
            lead = _LEADING_FILLER.match(subject)
            start = clause_start + (lead.end() if lead else 0)
            pronoun = _PRONOUN_AT_END.search(subject.rstrip())
            if (
                kind in ("brand", "customer")
                and pronoun
                and not _BRAND_SUBJECT.match(_LEADING_FILLER.sub("", subject.strip()))
            ):
                start = clause_start + pronoun.start(1)
            while start < aux_start and text[start] in " ,!":
                start += 1
        if end <= aux_end:
            continue
        if match.re is _EXPECT:
            kind = "elided"  # the customer is told what to expect; the brand does the acting
        verb_phrase = text[aux_end:end].strip()
        found.append(
            _Candidate(
                start=start,
                aux_start=aux_start,
                aux_end=aux_end,
                end=end,
                subject=subject.strip(),
                subject_kind=kind,
                verb_phrase=verb_phrase,
            )
        )
    return found


def _is_commitment(candidate: _Candidate, aux: str) -> bool:
    """Who commits and what: the words around the auxiliary alone."""
    verb = candidate.verb_phrase
    subject = _LEADING_FILLER.sub("", candidate.subject).strip(" ,!")
    if _NOT_A_COMMITMENT.match(verb) or (subject and _NON_SUBJECT.match(subject)):
        return False
    if aux.lower() == "expect":
        return bool(_EXPECT_SUBJECT.match(subject))
    if candidate.subject_kind == "customer":
        outcome: re.Pattern[str] = _CUSTOMER_OUTCOME
    elif candidate.subject_kind == "thing":
        outcome = _THING_OUTCOME
    elif subject.lower() in ("they", "he", "she"):
        # "they" may be the brand's people or anything else: only contact verbs say which.
        return bool(_CONTACT_VERB.match(verb) or _THING_OUTCOME.match(verb))
    elif aux.lower().strip() == "should":
        # "we should ..." is advice or a guess; "the team should send you an email" is not.
        outcome = _BRAND_SHOULD
    else:
        return True
    return bool(outcome.match(verb))


def _customer_goes_first(
    text: str, candidate: _Candidate, next_sentence: tuple[int, int] | None
) -> bool:
    """ "I'll meet you in DM", or "We'll look into this. Can you DM us your booking reference?"."""
    verb = candidate.verb_phrase
    if _MEET_IN_DM.match(verb) and not (re.search(r"\d", verb) or _FUTURE_TIME_WORDS.search(verb)):
        return True
    if next_sentence is None or not _NEEDS_DETAILS.match(verb):
        return False
    following = text[next_sentence[0] : next_sentence[1]]
    return bool(_ASKS_FOR_DETAILS.search(following)) and not _ONLY_INVITES.search(following)


def _waits_on_customer(
    text: str,
    sentence: tuple[int, int],
    candidate: _Candidate,
    next_sentence: tuple[int, int] | None = None,
) -> bool:
    """Whether the action depends on the customer doing something first."""
    s_start, s_end = sentence
    before_in_sentence = text[s_start : candidate.aux_start]
    if (
        _customer_goes_first(text, candidate, next_sentence)
        or _CONDITION_BEFORE.search(before_in_sentence)
        or _CONDITION_AFTER.search(text, candidate.aux_end, candidate.end)
        or _REQUEST.search(before_in_sentence)
    ):
        return True
    message_before = text[: candidate.start]
    # "We've just replied to your DM. We'll carry on helping out there": the ball is with the
    # customer, unless the brand says it holds their message.
    if (
        _CONTINUE.match(candidate.verb_phrase)
        and _BALL_WITH_CUSTOMER.search(message_before)
        and not _BRAND_HAS_IT.search(message_before)
    ):
        return True
    if not _ENGAGEMENT.match(candidate.verb_phrase) and candidate.subject_kind != "elided":
        return False
    # "We'll check out that area together, send a DM my direction": the request follows.
    if _REQUEST.search(text, candidate.end, s_end):
        return True
    if _BRAND_HAS_IT.search(text[: candidate.end]):
        return False
    earlier = text[:s_start]
    return bool(_REQUEST.search(earlier) or re.search(r"\?\s", earlier))


def _is_generic(text: str, sentence: tuple[int, int], candidate: _Candidate) -> bool:
    s_start, s_end = sentence
    before = text[s_start : candidate.aux_start]
    if _WISH_BEFORE.search(before):
        return True
    if _AVAILABILITY.match(candidate.verb_phrase):
        return True
    # Supply problems are news for everyone ("we're having supplier issues but we'll get them
    # back"), unless the clause is about this customer ("we'll send you one when supply returns").
    if (
        _SUPPLY.search(text, s_start, s_end)
        and not _ABOUT_CUSTOMER.search(candidate.verb_phrase)
        and not _ENQUIRES.match(candidate.verb_phrase)
    ):
        return True
    return bool(_GENERIC.search(text[s_start : candidate.end]))


_DANGLING = frozenset(
    {"on", "by", "at", "in", "within", "before", "until", "for", "from", "and", "the", "to", "of"}
)


def _action(candidate: _Candidate, due_phrase: str | None) -> str:
    verb = candidate.verb_phrase
    if due_phrase:
        verb = verb.replace(due_phrase, " ")
    verb = re.sub(r"^(?:is|are|am|'m|'re)\s+going\s+to\s+", "", verb, flags=re.IGNORECASE)
    verb = re.sub(r"^" + _ADVERBS, "", verb, flags=re.IGNORECASE)
    words = re.findall(r"[\w'@-]+", verb.lower())
    # Drop what a removed time phrase leaves dangling ("visit on", "call you by").
    while words and words[-1] in _DANGLING:
        words.pop()
    if candidate.subject_kind == "thing":
        noun = re.sub(
            r"^(?:the|your|our|a|an|this|that|its?)\s+", "", candidate.subject.lower().strip()
        )
        noun_words = re.findall(r"[\w'-]+", noun)[-3:]
        words = noun_words + [w for w in words if w != "be"]
    return " ".join(words[:8])


def _due(
    candidate: _Candidate,
    text: str,
    span: str,
    *,
    now: datetime,
    tz: tzinfo,
    business_days: BusinessCalendar,
    default_due: timedelta | None,
) -> tuple[datetime | None, DueKind, str | None, str | None]:
    """(due, kind, phrase in the original text, phrase in the normalised span)."""
    found = resolve_due(span, now=now, tz=tz, calendar=business_days)
    if found is not None:
        original = text[candidate.start + found.start : candidate.start + found.end]
        return found.due, found.kind, original, found.phrase
    if default_due is not None:
        # Elapsed time, so added in UTC (aware arithmetic in a zone is wall-clock arithmetic).
        return (now.astimezone(UTC) + default_due).astimezone(tz), "default", None, None
    return None, "none", None, None


def extract(
    text: str,
    *,
    now: datetime,
    tz: tzinfo,
    business_days: BusinessCalendar = DEFAULT_CALENDAR,
    default_due: timedelta | None = None,
) -> list[Promise]:
    """The promises ``text`` makes, in order of appearance.

    ``now`` is when the message is sent (aware), ``tz`` the organization's time zone in which
    days, dates and wall-clock times are read, ``business_days`` the calendar for "business
    days", and ``default_due`` how long after ``now`` a promise that states no time is due (None:
    such promises have no due time). Never raises on any text.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now must be timezone-aware, got naive {now.isoformat()}")
    if default_due is not None and default_due < timedelta(0):
        raise ValueError(f"default_due must not be negative, got {default_due}")
    normalised = text.translate(_SAME_LENGTH)
    promises: list[Promise] = []
    taken_until = -1
    sentences = _sentences(normalised)
    for index, sentence in enumerate(sentences):
        s_start, s_end = sentence
        next_sentence = sentences[index + 1] if index + 1 < len(sentences) else None
        if normalised[s_start:s_end].rstrip().endswith("?"):
            continue  # questions ask; they do not promise
        for candidate in _candidates(normalised, sentence):
            aux = normalised[candidate.aux_start : candidate.aux_end]
            if (
                candidate.start < taken_until
                or not _is_commitment(candidate, aux)
                or _waits_on_customer(normalised, sentence, candidate, next_sentence)
                or _is_generic(normalised, sentence, candidate)
            ):
                continue
            span = normalised[candidate.start : candidate.end]
            due, due_kind, due_phrase, span_phrase = _due(
                candidate,
                text,
                span,
                now=now,
                tz=tz,
                business_days=business_days,
                default_due=default_due,
            )
            if _PROGRESSIVE_AUX.fullmatch(aux) and span_phrase is None:
                continue  # "we're sending ..." only promises with a stated time
            promises.append(
                Promise(
                    text=text[candidate.start : candidate.end],
                    start=candidate.start,
                    end=candidate.end,
                    action=_action(candidate, span_phrase),
                    due=due,
                    due_kind=due_kind,
                    due_phrase=due_phrase,
                )
            )
            taken_until = candidate.end
    return promises
