"""Public polls on Mastodon: posted as a status that carries a ``poll``, counted with
``GET /api/v1/polls/:id``.

A poll is an ordinary public status, so it is posted exactly as a reply is (``send.py``): the
same endpoint, the same rate bucket, and an ``Idempotency-Key`` that makes a retried post return
the status the first attempt created instead of a second poll.

https://docs.joinmastodon.org/methods/statuses/#create (the ``poll[...]`` parameters),
https://docs.joinmastodon.org/methods/polls/#get, https://docs.joinmastodon.org/entities/Poll/
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from socialdesk.connectors.base import (
    JSON,
    ConnectorError,
    LengthCounting,
    PollLimits,
    PollRequest,
    PollTally,
    SendError,
)
from socialdesk.connectors.http import HttpClient, error_detail, read_rate_limit
from socialdesk.connectors.mastodon.config import MastodonAccount
from socialdesk.connectors.mastodon.parse import parse_time
from socialdesk.connectors.mastodon.send import InstanceLimits, error_mapper
from socialdesk.connectors.poll_rules import (
    a_count,
    an_id,
    check_choices,
    check_question,
    check_request,
    json_object,
)


def poll_limits_from(limits: InstanceLimits) -> PollLimits:
    """The instance's limits as the desk asks for them. The question is the status's text, so
    it is held to the instance's post length; the choices do not count towards it."""
    polls = limits.polls
    return PollLimits(
        max_options=polls.max_options,
        max_option_length=polls.max_characters_per_option,
        min_seconds=polls.min_expiration,
        max_seconds=polls.max_expiration,
        max_question_length=limits.max_characters,
    )


def check_limits(request: PollRequest, limits: PollLimits, provider: str) -> None:
    """Refuse what this instance's limits do not allow, counted as Mastodon counts: choices in
    grapheme clusters (``PollOptionsValidator``), the question as a status
    (``StatusLengthValidator``), the time in whole seconds (``PollExpirationValidator``)."""
    check_choices(request, limits, provider)
    check_question(request, limits, LengthCounting.MASTODON, provider)


def poll_body(request: PollRequest) -> JSON:
    """The JSON body for ``POST /api/v1/statuses``. Polls are always public, whatever the
    account's ``reply_visibility``, and always show their running totals."""
    return {
        "status": request.question,
        "visibility": "public",
        "poll": {
            "options": list(request.options),
            "expires_in": request.seconds,
            "multiple": request.multiple,
            "hide_totals": False,
        },
    }


def publish_error_mapper(
    account: MastodonAccount,
) -> Callable[[httpx.Response], ConnectorError | None]:
    """What Mastodon's error statuses mean for posting a poll: as for a reply (``send.py``),
    except that a 422 names the poll and a 404 (there is no post being answered) is left to the
    generic mapping."""
    replies = error_mapper(account)

    def mapped(response: httpx.Response) -> ConnectorError | None:
        status = response.status_code
        if status == 422:
            return SendError(
                f"{account.provider} rejected the poll: "
                f"{error_detail(response) or 'validation failed'}",
                retryable=False,
            )
        if status == 404:
            return None
        return replies(response)

    return mapped


def read_error_mapper(
    account: MastodonAccount,
) -> Callable[[httpx.Response], ConnectorError | None]:
    """What Mastodon's error statuses mean for reading a poll's counts."""
    replies = error_mapper(account)

    def mapped(response: httpx.Response) -> ConnectorError | None:
        detail = error_detail(response)
        status = response.status_code
        if status == 404:
            return ConnectorError(
                f"{account.provider}: the poll was deleted or is no longer visible to the brand "
                f"account ({detail or 'not found'})"
            )
        if status == 403:
            return ConnectorError(
                f"{account.provider} refused to show the poll ({detail or 'forbidden'}): the "
                "account may be suspended or limited, or the token lacks the read:statuses scope"
            )
        if status == 401:
            return replies(response)
        return None

    return mapped


def post_poll(
    client: HttpClient,
    *,
    account: MastodonAccount,
    request: PollRequest,
    limits: Callable[[], PollLimits],
    bucket: str,
) -> PollTally:
    """Post the poll and return it as the instance created it.

    What no server accepts is refused before any call; ``limits`` (the cached instance limits)
    is asked only then, and what it does not allow is refused before the post. The body is never
    one Mastodon would have to reject or, worse, quietly change.
    """
    check_request(request, account.provider)
    check_limits(request, limits(), account.provider)
    response = client.request(
        "POST",
        account.instance_url + "/api/v1/statuses",
        idempotent=True,
        bucket=bucket,
        headers={**account.headers(), "Idempotency-Key": request.idempotency_key},
        json=poll_body(request),
        error_mapper=publish_error_mapper(account),
    )
    status = json_object(response)
    post_id = an_id(status.get("id"))
    poll = status.get("poll")
    if post_id is None or not isinstance(poll, dict) or an_id(poll.get("id")) is None:
        raise SendError(
            f"{account.provider} accepted the poll but its answer has no status or poll id; "
            "the poll may exist: check the account before posting it again",
            retryable=False,
        )
    limit = read_rate_limit(response.headers)
    return tally_from_poll(
        poll,
        post_id=post_id,
        url=_text(status.get("url")),
        raw={
            "url": status.get("url"),
            "uri": status.get("uri"),
            "rate_limit_remaining": limit.remaining,
            "rate_limit_reset": limit.reset_at.isoformat() if limit.reset_at else None,
        },
    )


def read_poll(
    client: HttpClient,
    *,
    account: MastodonAccount,
    poll_id: str,
    bucket: str,
) -> PollTally:
    """The poll's counts now. Mastodon's poll object does not name the status that carries it,
    so ``post_id`` is the empty string here: the desk keeps the one :func:`post_poll` returned.
    Raises :class:`ConnectorError` when the poll is gone or hidden, or the answer is no poll."""
    response = client.request(
        "GET",
        # Quoted: the id is stored text, and must only ever name a poll.
        f"{account.instance_url}/api/v1/polls/{quote(poll_id, safe='')}",
        idempotent=True,
        bucket=bucket,
        headers=account.headers(),
        error_mapper=read_error_mapper(account),
    )
    poll = json_object(response)
    if an_id(poll.get("id")) is None:
        raise ConnectorError(f"{account.provider} answered with no poll for poll {poll_id}")
    return tally_from_poll(poll, post_id="", url=None, raw={})


def tally_from_poll(
    poll: Mapping[str, Any], *, post_id: str, url: str | None, raw: JSON
) -> PollTally:
    """A Mastodon poll object as a tally. Counts the instance leaves out (``null`` while the
    totals are hidden) stay None rather than becoming zero."""
    poll_id = an_id(poll.get("id")) or ""
    try:
        closes_at = parse_time(poll.get("expires_at"))
    except ValueError:
        closes_at = None  # a poll with no end, or a time the instance wrote oddly
    options = poll.get("options")
    votes = tuple(
        a_count(option.get("votes_count")) if isinstance(option, dict) else None
        for option in (options if isinstance(options, list) else [])
    )
    votes_count = a_count(poll.get("votes_count"))
    voters_count = a_count(poll.get("voters_count"))
    multiple = poll.get("multiple") is True
    if voters_count is None and not multiple:
        # Mastodon documents voters_count for multiple-choice polls and may leave it null on
        # the others; with one choice per person, voters and votes are the same number.
        voters_count = votes_count
    return PollTally(
        post_id=post_id,
        poll_id=poll_id,
        closes_at=closes_at,
        closed=poll.get("expired") is True,
        votes=votes,
        votes_count=votes_count,
        voters_count=voters_count,
        url=url,
        raw={**raw, "poll_id": poll_id, "multiple": multiple},
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
