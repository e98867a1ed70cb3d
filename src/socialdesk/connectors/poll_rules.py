"""What every network that takes polls refuses, and how a poll's answer is read.

Refused before any call, so a body is never one the network would reject or, worse, quietly
change: no question, fewer than two choices, a blank choice (Mastodon silently drops blank
ones, so the counts would no longer line up with the desk's choices), the same choice twice,
and what the account's :class:`PollLimits` do not allow. Choices are counted in grapheme
clusters, as Mastodon and X count them. An answer's ids and counts are read leniently: what
is not an id or a count is None, never an error."""

from __future__ import annotations

from typing import Any

import httpx

from socialdesk.connectors.base import LengthCounting, PollLimits, PollRequest, SendError
from socialdesk.policy.length import count


def check_request(request: PollRequest, provider: str) -> None:
    """Refuse what no network takes, whatever its limits (duplicates compared after
    stripping, case kept, as Mastodon compares them)."""
    if not request.question.strip():
        raise SendError(f"{provider}: a poll needs a question", retryable=False)
    options = [option.strip() for option in request.options]
    if len(options) < 2:
        raise SendError(
            f"{provider}: a poll needs at least two choices; this one has {len(options)}",
            retryable=False,
        )
    for number, option in enumerate(options, start=1):
        if not option:
            raise SendError(
                f"{provider}: choice {number} is empty; remove it or write it", retryable=False
            )
    for number, option in enumerate(options, start=1):
        if option in options[: number - 1]:
            raise SendError(
                f"{provider} refuses the same choice twice: {option!r} is choice "
                f"{options.index(option) + 1} and choice {number}",
                retryable=False,
            )


def check_choices(request: PollRequest, limits: PollLimits, provider: str) -> None:
    """Refuse what the account's limits do not allow: too many choices, a choice too long, a
    length of time outside the range or not in the network's unit, several answers per voter
    where the network takes one."""
    if len(request.options) > limits.max_options:
        raise SendError(
            f"{provider} allows at most {limits.max_options} choices in a poll; this one has "
            f"{len(request.options)}",
            retryable=False,
        )
    for number, option in enumerate(request.options, start=1):
        length = count(option.strip(), LengthCounting.GRAPHEMES)
        if length > limits.max_option_length:
            raise SendError(
                f"{provider} allows {limits.max_option_length} characters per choice; choice "
                f"{number} has {length}",
                retryable=False,
            )
    if not limits.min_seconds <= request.seconds <= limits.max_seconds:
        raise SendError(
            f"{provider} keeps a poll open from {limits.min_seconds} to {limits.max_seconds} "
            f"seconds; {request.seconds} is outside that",
            retryable=False,
        )
    if request.seconds % limits.seconds_step:
        raise SendError(
            f"{provider} keeps a poll open for whole multiples of {limits.seconds_step} "
            f"seconds; {request.seconds} is not one",
            retryable=False,
        )
    if request.multiple and not limits.multiple:
        raise SendError(f"{provider} polls take one answer per voter", retryable=False)


def check_question(
    request: PollRequest, limits: PollLimits, counting: LengthCounting, provider: str
) -> None:
    """Refuse a question longer than the account's posts may be, counted as its network counts
    a post (the question is the post's text)."""
    if limits.max_question_length is None:
        return
    length = count(request.question, counting)
    if length > limits.max_question_length:
        raise SendError(
            f"{provider} allows {limits.max_question_length} characters in a post; the "
            f"question has {length}",
            retryable=False,
        )


# -- reading a network's answer -----------------------------------------------------------


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object, or nothing when the body is no JSON object at all."""
    try:
        found = response.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def an_id(value: object) -> str | None:
    """An id as text (networks send them as strings or numbers), or None for anything else."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value) or None


def a_count(value: object) -> int | None:
    """A count of votes or voters, or None where the network leaves it out or hides it."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None
