"""Public polls on X: posted as a post that carries a ``poll`` (``POST /2/tweets``), counted
by looking the post up with the poll expanded.

X returns only the new post's id, and a poll is no object of its own on any endpoint: it is
read through its post (``GET /2/tweets?ids=…&expansions=attachments.poll_ids``). So the post's
id is also the id the desk reads the poll by. X polls take one answer per voter, so voters and
votes are the same number. There is no idempotency key: a post is repeated only when X
certainly did not act on it, as a reply is (``send.py``).

https://developer.x.com/en/docs/x-api/tweets/manage-tweets/api-reference/post-tweets (``poll``),
https://developer.x.com/en/docs/x-api/data-dictionary/object-model/poll
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

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
from socialdesk.connectors.poll_rules import (
    a_count,
    an_id,
    check_choices,
    check_question,
    check_request,
    json_object,
)
from socialdesk.connectors.x.config import XAccount
from socialdesk.connectors.x.parse import snowflake_time
from socialdesk.connectors.x.send import MAX_POST, classify_error

# X's poll limits: 2 to 4 choices of up to 25 characters, open from 5 minutes to 7 days, in
# whole minutes, one answer per voter.
X_POLL_LIMITS = PollLimits(
    max_options=4,
    max_option_length=25,
    min_seconds=5 * 60,
    max_seconds=7 * 24 * 3600,
    max_question_length=MAX_POST,
    seconds_step=60,
    multiple=False,
)
POLL_FIELDS = "duration_minutes,end_datetime,id,options,voting_status"


def poll_body(request: PollRequest) -> JSON:
    """The JSON body for ``POST /2/tweets``: the question is the post's text."""
    return {
        "text": request.question,
        "poll": {"options": list(request.options), "duration_minutes": request.seconds // 60},
    }


def check(request: PollRequest) -> None:
    """Refuse before any call what X would refuse: see ``poll_rules``, and the question
    counted as X counts a post."""
    check_request(request, "X")
    check_choices(request, X_POLL_LIMITS, "X")
    check_question(request, X_POLL_LIMITS, LengthCounting.X_WEIGHTED, "X")


def post_poll(
    client: HttpClient,
    *,
    account: XAccount,
    handle: str,
    request: PollRequest,
    bucket: str,
    now: Callable[[], datetime],
) -> PollTally:
    """Post the poll. X answers with the post's id only: the tally is the new poll, with no
    votes yet, closing when its time is up."""
    check(request)
    response = client.request(
        "POST",
        account.api_base + "/2/tweets",
        idempotent=False,
        bucket=bucket,
        headers=account.headers(),
        json=poll_body(request),
        error_mapper=classify_error,
    )
    data = json_object(response).get("data")
    post_id = an_id(data.get("id")) if isinstance(data, dict) else None
    if post_id is None:
        raise SendError(
            "X accepted the poll but its answer has no post id; the poll may exist: check the "
            "account before posting it again",
            retryable=False,
        )
    try:
        posted_at = snowflake_time(post_id)
    except ValueError:
        posted_at = now()
    limit = read_rate_limit(response.headers)
    return PollTally(
        post_id=post_id,
        poll_id=post_id,
        closes_at=posted_at + timedelta(seconds=request.seconds),
        closed=False,
        votes=(0,) * len(request.options),
        votes_count=0,
        voters_count=0,
        url=f"https://x.com/{handle.lstrip('@')}/status/{post_id}" if handle else None,
        raw={
            "rate_limit_remaining": limit.remaining,
            "rate_limit_reset": limit.reset_at.isoformat() if limit.reset_at else None,
        },
    )


def read_error(response: httpx.Response) -> ConnectorError | None:
    """What X's error statuses mean for reading a poll: a refused token as for a send, anything
    else X refuses as a reason to show; 429 and 5xx are left to the retry logic."""
    mapped = classify_error(response)
    if mapped is None:
        return None
    if response.status_code == 401:
        return mapped
    return ConnectorError(f"X refused to show the poll: {mapped.reason}")


def read_poll(client: HttpClient, *, account: XAccount, post_id: str, bucket: str) -> PollTally:
    """The counts now of the poll carried by ``post_id``. Raises :class:`ConnectorError` when
    the post is gone or hidden, or carries no poll."""
    response = client.request(
        "GET",
        account.api_base + "/2/tweets",
        idempotent=True,
        bucket=bucket,
        headers=account.headers(),
        params={
            "ids": post_id,
            "expansions": "attachments.poll_ids",
            "poll.fields": POLL_FIELDS,
        },
        error_mapper=read_error,
    )
    body = json_object(response)
    post = next(
        (
            item
            for item in body.get("data") or []
            if isinstance(item, dict) and an_id(item.get("id")) == post_id
        ),
        None,
    )
    if post is None:
        # A post X cannot show comes back as an entry of "errors" with status 200.
        raise ConnectorError(
            f"X: the post {post_id} that carries the poll was deleted or is not visible to the "
            f"brand account ({error_detail(response) or 'not found'})"
        )
    attachments = post.get("attachments")
    wanted = attachments.get("poll_ids") if isinstance(attachments, dict) else None
    includes = body.get("includes")
    polls = includes.get("polls") if isinstance(includes, dict) else None
    poll = next(
        (
            item
            for item in polls or []
            if isinstance(item, dict) and isinstance(wanted, list) and item.get("id") in wanted
        ),
        None,
    )
    if poll is None:
        raise ConnectorError(f"X: the post {post_id} carries no poll")
    return tally_from_poll(poll, post_id=post_id)


def tally_from_poll(poll: Mapping[str, Any], *, post_id: str) -> PollTally:
    """An X poll object as a tally, its choices in X's order (``position``)."""
    options = [o for o in poll.get("options") or [] if isinstance(o, dict)]
    options.sort(key=lambda o: a_count(o.get("position")) or 0)
    votes = tuple(a_count(option.get("votes")) for option in options)
    known = [v for v in votes if v is not None]
    total = sum(known) if len(known) == len(votes) else None
    return PollTally(
        post_id=post_id,
        poll_id=post_id,
        closes_at=_time(poll.get("end_datetime")),
        closed=poll.get("voting_status") == "closed",
        votes=votes,
        votes_count=total,
        voters_count=total,  # one answer per voter
        raw={"x_poll_id": an_id(poll.get("id")), "duration_minutes": poll.get("duration_minutes")},
    )


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None
