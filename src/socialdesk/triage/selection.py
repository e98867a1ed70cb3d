"""Which customer messages a count or a report reads: those written in a period, filtered on
what triage found (complaint, intent, sentiment), the channel and words in the text.

Volume alerts count them; the topics report reads their words. Both go through the triage row,
which every incoming message gets as it is stored, and look it up by its indexed time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy import func as sql_func

from socialdesk.channels.models import BrandAccount
from socialdesk.common.errors import ValidationFailed
from socialdesk.connectors.base import ChannelKind
from socialdesk.conversations.models import Direction, Message
from socialdesk.triage.classify import INTENTS, SENTIMENTS
from socialdesk.triage.models import MessageTriage

FILTER_KEYS = ("complaint", "intent", "sentiment", "channel", "words")
MAX_WORDS, MAX_WORD_LENGTH = 20, 100
# Triage stores its row after the message; the customer's own clock may run a little ahead of
# ours. Rows are looked up from this much before the period, by the indexed triage time.
TRIAGE_SLACK = timedelta(hours=1)

_Select = TypeVar("_Select", bound="Select[*tuple[Any, ...]]")


def clean_filters(raw: object) -> dict[str, Any]:
    """The filters as stored, or a ValidationFailed naming the filter that is wrong."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValidationFailed("filters must be an object", field="filters")
    unknown = sorted(set(raw) - set(FILTER_KEYS))
    if unknown:
        raise ValidationFailed(
            f"unknown filter(s) {', '.join(unknown)}; known: {', '.join(FILTER_KEYS)}",
            field="filters",
        )
    out: dict[str, Any] = {}
    complaint = raw.get("complaint")
    if complaint is not None:
        if not isinstance(complaint, bool):
            raise ValidationFailed("complaint must be true or false", field="complaint")
        out["complaint"] = complaint
    for key, allowed in (
        ("intent", INTENTS),
        ("sentiment", SENTIMENTS),
        ("channel", tuple(kind.value for kind in ChannelKind)),
    ):
        value = raw.get(key)
        if value in (None, ""):
            continue
        if value not in allowed:
            raise ValidationFailed(
                f"{key} must be one of {', '.join(allowed)}, not {value!r}", field=key
            )
        out[key] = value
    words = _clean_words(raw.get("words"))
    if words:
        out["words"] = words
    return out


def _clean_words(words: object) -> list[str]:
    """Distinct (in any case), spaces tidied, empty ones dropped."""
    if words is None:
        return []
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise ValidationFailed("words must be a list of words", field="words")
    kept: list[str] = []
    for written in words:
        word = " ".join(written.split())
        if not word:
            continue
        if "," in word:
            # The desk's forms list words separated by commas: a word holding one could not
            # be saved again through them unchanged.
            raise ValidationFailed(
                f"the word {word[:40]!r} holds a comma; give each word on its own",
                field="words",
            )
        if len(word) > MAX_WORD_LENGTH:
            raise ValidationFailed(
                f"the word {word[:20]!r}... is longer than {MAX_WORD_LENGTH} characters",
                field="words",
            )
        if word.lower() not in (k.lower() for k in kept):
            kept.append(word)
    if len(kept) > MAX_WORDS:
        raise ValidationFailed(f"at most {MAX_WORDS} words", field="words")
    return kept


def conditions(
    *, organization_id: int, filters: dict[str, Any], start: datetime, end: datetime
) -> list[ColumnElement[bool]]:
    """Conditions for the organization's customer messages matching ``filters`` (as cleaned by
    :func:`clean_filters`) and written in (start, end]."""
    out: list[ColumnElement[bool]] = [
        MessageTriage.organization_id == organization_id,
        MessageTriage.created_at >= start - TRIAGE_SLACK,
        Message.created_at > start,
        Message.created_at <= end,
        Message.direction == Direction.INBOUND.value,
    ]
    if "complaint" in filters:
        out.append(MessageTriage.complaint.is_(bool(filters["complaint"])))
    if "intent" in filters:
        out.append(MessageTriage.intent == filters["intent"])
    if "sentiment" in filters:
        out.append(MessageTriage.sentiment == filters["sentiment"])
    if "channel" in filters:
        out.append(
            Message.brand_account_id.in_(
                select(BrandAccount.id).where(
                    BrandAccount.organization_id == organization_id,
                    BrandAccount.kind == filters["channel"],
                )
            )
        )
    words = filters.get("words") or []
    if words:
        text = sql_func.lower(Message.text)
        out.append(or_(*(text.contains(w.lower(), autoescape=True) for w in words)))
    return out


def joined(columns: _Select, where: list[ColumnElement[bool]]) -> _Select:
    """``columns`` over the triage rows joined to their messages, under ``where``."""
    return (
        columns.select_from(MessageTriage)
        .join(Message, Message.id == MessageTriage.message_id)
        .where(and_(*where))
    )
