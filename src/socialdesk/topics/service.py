"""The topics report: what the customers of a period talk about more than usual.

A period's customer messages (filtered like a volume alert: complaint, intent, sentiment,
channel, words) are read, and so are those of the usual period before it: the 7 days before it,
or four times its length when that is longer. Each customer counts once per term, whatever
they wrote and how often, so one customer repeating themselves makes no topic. A term (a word,
or a pair of neighbouring words, see :mod:`socialdesk.topics.terms`) is *rising* when the share
of the period's customers using it is well above its share in the usual period: at least
:data:`MIN_LIFT` times, and by Dunning's log-likelihood ratio (G², one degree of freedom) at
least :data:`MIN_SCORE`, which chance passes less than once in ten thousand tries (a report
tries thousands of terms). Until the usual period holds :data:`MIN_USUAL` customers, a new desk
has no usual, and the terms are ranked by how many customers use them.

Large periods are read as an even sample of their messages (by a hash of their id), at most
:data:`PERIOD_SAMPLE` and :data:`USUAL_SAMPLE` of them; the report says how many it read.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Row, func, select
from sqlalchemy.orm import Session

from socialdesk.common import clock, spreadsheet
from socialdesk.common.errors import ValidationFailed
from socialdesk.conversations.models import Message
from socialdesk.topics.terms import fold, singulars, terms_of_all
from socialdesk.triage import selection
from socialdesk.triage.models import MessageTriage

MIN_MINUTES, MAX_MINUTES = 5, 31 * 24 * 60
USUAL_SPAN = timedelta(days=7)
USUAL_PERIODS = 4  # a period longer than a week is compared with four times its length
PERIOD_SAMPLE = 5_000
USUAL_SAMPLE = 10_000
# Sampling keeps a message when (id * an odd multiplier) mod 2^16 falls below the share wanted;
# ids up to 2^47 stay within 64 bits when multiplied.
HASH_MULTIPLIER = 40_503
HASH_SPACE = 65_536
MIN_CUSTOMERS = 3  # a term used by fewer customers in the period is not a topic
MIN_USUAL = 100  # customers in the usual period before it is a usual at all
MIN_LIFT = 1.5
MIN_SCORE = 15.13  # G² with one degree of freedom at p = 0.0001: thousands of terms are tried
# A word is left out when most of its customers used it in a pair that is shown ("tram" beside
# "tram 4"): it says the same, less precisely.
PAIR_COVERS = 0.75
EXAMPLES = 3
LIMIT = 25


@dataclass
class _Customer:
    """One customer's messages of a period, as one document."""

    terms: set[str] = field(default_factory=set)
    negative: bool = False
    complaint: bool = False
    latest: datetime | None = None
    conversation_id: int = 0


@dataclass(frozen=True)
class Sample:
    """What was read of one period."""

    start: datetime
    end: datetime
    messages: int  # matching messages in the period
    read: int  # of them, read for the report
    customers: int  # distinct customers among those read


@dataclass(frozen=True)
class Topic:
    term: str
    customers: int  # customers of the period who used it
    share: float  # of the period's customers
    usual_share: float | None  # of the usual period's customers; None with no usual
    lift: float | None  # share / usual share (the usual smoothed by half a customer)
    score: float  # G² against the usual; with no usual, the customers
    negative: int  # of its customers, those whose messages triage read as negative
    complaints: int  # of its customers, those with a complaint
    conversation_ids: list[int]  # a few, newest first


@dataclass(frozen=True)
class Report:
    period: Sample
    usual: Sample
    filters: dict[str, Any]
    topics: list[Topic]

    @property
    def has_usual(self) -> bool:
        return self.usual.customers >= MIN_USUAL


def usual_period(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The period a report compares with: the 7 days before, or four times the period's
    length before it when that is longer."""
    span = max(USUAL_SPAN, USUAL_PERIODS * (end - start))
    return start - span, start


def report(
    session: Session,
    *,
    organization_id: int,
    minutes: int,
    filters: object = None,
    now: datetime | None = None,
    limit: int = LIMIT,
) -> Report:
    """The rising topics of the last ``minutes`` before ``now``."""
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise ValidationFailed(
            f"minutes must be between {MIN_MINUTES} and {MAX_MINUTES}, not {minutes}",
            field="minutes",
        )
    end = clock.require_aware(now or clock.now(), "now")
    return between(
        session,
        organization_id=organization_id,
        start=end - timedelta(minutes=minutes),
        end=end,
        filters=filters,
        limit=limit,
    )


def between(
    session: Session,
    *,
    organization_id: int,
    start: datetime,
    end: datetime,
    filters: object = None,
    limit: int = LIMIT,
) -> Report:
    """The rising topics of the customer messages written in (start, end]."""
    clean = selection.clean_filters(filters)
    usual_start, usual_end = usual_period(start, end)
    period, period_customers = _read(
        session, organization_id, clean, start, end, sample=PERIOD_SAMPLE
    )
    usual, usual_customers = _read(
        session, organization_id, clean, usual_start, usual_end, sample=USUAL_SAMPLE
    )
    _fold_plurals([*period_customers, *usual_customers])
    found = rank(period_customers, usual_customers, limit=limit)
    return Report(period=period, usual=usual, filters=clean, topics=found)


def rows(
    session: Session,
    *,
    organization_id: int,
    filters: dict[str, Any],
    start: datetime,
    end: datetime,
    sample: int,
) -> tuple[int, list[Row[*tuple[Any, ...]]]]:
    """The matching messages of (start, end] and, of them, the ones read: all of them, or an
    even sample of about ``sample`` (see :func:`sampled`). Each row: author contact,
    conversation, text, time written, sentiment and complaint."""
    where = selection.conditions(
        organization_id=organization_id, filters=filters, start=start, end=end
    )
    total = int(session.scalar(selection.joined(select(func.count()), where)) or 0)
    found = session.execute(
        selection.joined(
            select(
                Message.author_contact_id,
                Message.conversation_id,
                Message.text,
                Message.created_at,
                MessageTriage.sentiment,
                MessageTriage.complaint,
            ),
            sampled(where, total=total, sample=sample),
        ).limit(sample)
    ).all()
    return total, list(found)


def sampled(
    where: list[ColumnElement[bool]], *, total: int, sample: int
) -> list[ColumnElement[bool]]:
    """``where`` narrowed to an even sample of about ``sample`` of its ``total`` messages: those
    whose id hashes below that share of the hash space. A multiplicative hash, not every k-th
    id, so a pattern in the ids (a label or a text every fourth message, ids given out in
    blocks) cannot line up with the sample."""
    if total <= sample:
        return where
    bound = math.ceil(HASH_SPACE * sample / total)
    return [*where, (MessageTriage.message_id * HASH_MULTIPLIER) % HASH_SPACE < bound]


def _read(
    session: Session,
    organization_id: int,
    filters: dict[str, Any],
    start: datetime,
    end: datetime,
    *,
    sample: int,
) -> tuple[Sample, list[_Customer]]:
    total, found = rows(
        session,
        organization_id=organization_id,
        filters=filters,
        start=start,
        end=end,
        sample=sample,
    )
    customers = _customers(found)
    return Sample(start, end, total, len(found), len(customers)), customers


def _customers(rows: Iterable[Sequence[Any]]) -> list[_Customer]:
    """One document per customer (per conversation where the author is not known)."""
    texts: dict[tuple[str, int], list[str]] = {}
    by_key: dict[tuple[str, int], _Customer] = {}
    for contact_id, conversation_id, text, created_at, sentiment, complaint in rows:
        key = ("contact", contact_id) if contact_id is not None else ("conv", conversation_id)
        customer = by_key.get(key)
        if customer is None:
            customer = by_key[key] = _Customer()
            texts[key] = []
        texts[key].append(text or "")
        customer.negative |= sentiment == "negative"
        customer.complaint |= bool(complaint)
        if customer.latest is None or created_at > customer.latest:
            customer.latest = created_at
            customer.conversation_id = conversation_id
    for key, customer in by_key.items():
        customer.terms = terms_of_all(texts[key])
    return sorted(
        by_key.values(),
        key=lambda c: (c.latest.timestamp() if c.latest else 0.0, c.conversation_id),
        reverse=True,
    )


def _fold_plurals(customers: Sequence[_Customer]) -> None:
    """One term for "tram" and "trams" when both were written (see :func:`terms.singulars`)."""
    vocabulary: set[str] = set()
    for customer in customers:
        vocabulary |= customer.terms
    plurals = singulars(vocabulary)
    for customer in customers:
        customer.terms = fold(customer.terms, plurals)


def g2(a: int, n1: int, b: int, n2: int) -> float:
    """Dunning's log-likelihood ratio for a term used by ``a`` of ``n1`` documents in one
    corpus and ``b`` of ``n2`` in the other (the two-by-two table of used / not used)."""
    total = n1 + n2
    used = a + b
    score = 0.0
    for observed, size, kept in ((a, n1, used), (b, n2, used)):
        for count, column in ((observed, kept), (size - observed, total - kept)):
            expected = size * column / total if total else 0.0
            if count > 0 and expected > 0:
                score += count * math.log(count / expected)
    return 2.0 * score


def rank(
    period: Sequence[_Customer], usual: Sequence[_Customer], *, limit: int = LIMIT
) -> list[Topic]:
    """The period's topics, strongest first."""
    n1, n2 = len(period), len(usual)
    if n1 == 0:
        return []
    in_period: Counter[str] = Counter()
    for customer in period:
        in_period.update(customer.terms)
    with_usual = n2 >= MIN_USUAL
    in_usual: Counter[str] = Counter()
    if with_usual:
        for customer in usual:
            in_usual.update(customer.terms)
    scored: list[tuple[float, int, str]] = []
    for term, a in in_period.items():
        if a < MIN_CUSTOMERS:
            continue
        if not with_usual:
            scored.append((float(a), a, term))
            continue
        b = in_usual.get(term, 0)
        if _lift(a, n1, b, n2) < MIN_LIFT:
            continue
        score = g2(a, n1, b, n2)
        if score >= MIN_SCORE:
            scored.append((score, a, term))
    # Strongest first; pairs before words at a tie, so a pair can stand for its words.
    scored.sort(key=lambda t: (-t[0], -t[1], -t[2].count(" "), t[2]))
    chosen = _without_covered_words(scored, in_period)[:limit]
    usual_counts = in_usual if with_usual else None
    return [
        _topic(term, score, period=period, in_period=in_period, in_usual=usual_counts, n2=n2)
        for score, _, term in chosen
    ]


def _lift(a: int, n1: int, b: int, n2: int) -> float:
    return (a / n1) / ((b + 0.5) / n2)


def _without_covered_words(
    scored: list[tuple[float, int, str]], in_period: Counter[str]
) -> list[tuple[float, int, str]]:
    pairs = [term for _, _, term in scored if " " in term]
    kept: list[tuple[float, int, str]] = []
    for entry in scored:
        _, customers, term = entry
        if " " not in term and any(
            term in pair.split(" ") and in_period[pair] >= PAIR_COVERS * customers for pair in pairs
        ):
            continue
        kept.append(entry)
    return kept


def _topic(
    term: str,
    score: float,
    *,
    period: Sequence[_Customer],
    in_period: Counter[str],
    in_usual: Counter[str] | None,
    n2: int,
) -> Topic:
    a, n1 = in_period[term], len(period)
    users = [c for c in period if term in c.terms]
    examples: list[int] = []
    for customer in users:
        if customer.conversation_id not in examples:
            examples.append(customer.conversation_id)
        if len(examples) == EXAMPLES:
            break
    b = in_usual.get(term, 0) if in_usual is not None else 0
    return Topic(
        term=term,
        customers=a,
        share=a / n1,
        usual_share=b / n2 if in_usual is not None else None,
        lift=_lift(a, n1, b, n2) if in_usual is not None else None,
        score=score,
        negative=sum(c.negative for c in users),
        complaints=sum(c.complaint for c in users),
        conversation_ids=examples,
    )


def names(topics: Iterable[Topic], limit: int = 3) -> list[str]:
    """The first few topics' terms, for a sentence ("mostly about “tram 4”, “signal”")."""
    return [topic.term for topic in list(topics)[:limit]]


CSV_COLUMNS = (
    "term",
    "customers",
    "share",
    "usual_share",
    "lift",
    "negative",
    "complaints",
    "conversation_ids",
    "period_start",
    "period_end",
    "usual_start",
    "usual_end",
)


def to_csv(found: Report) -> str:
    """The report's topics, one row each, for a spreadsheet (times in UTC)."""
    period, usual = found.period, found.usual
    return spreadsheet.table(
        CSV_COLUMNS,
        (
            (
                topic.term,
                topic.customers,
                topic.share,
                topic.usual_share,
                topic.lift,
                topic.negative,
                topic.complaints,
                " ".join(str(i) for i in topic.conversation_ids),
                period.start.isoformat(),
                period.end.isoformat(),
                usual.start.isoformat(),
                usual.end.isoformat(),
            )
            for topic in found.topics
        ),
    )
