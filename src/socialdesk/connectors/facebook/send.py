"""Replying on a Facebook Page: comment replies and Messenger messages.

* A public reply is a comment on the thread's top-level comment
  (``POST /{comment-id}/comments``; Facebook nests replies one level deep) or on a visitor's
  post (``POST /{post-id}/comments``).
  https://developers.facebook.com/docs/graph-api/reference/object/comments/#publish
* A direct reply is a Send API message (``POST /me/messages`` with ``recipient.id`` = the
  person's PSID and ``messaging_type: RESPONSE``), allowed within 24 hours of the person's
  last message. Later replies are refused by Facebook (error 10, subcode 2018278): the desk
  shows that as a closed window, never retried. Apps approved for the human agent tag may
  answer up to 7 days with ``MESSAGE_TAG`` / ``HUMAN_AGENT``.
  https://developers.facebook.com/docs/messenger-platform/send-messages#messaging_types

The Graph API has no idempotency key, so a send whose outcome is unknown is not repeated (the
shared client reports it instead of retrying).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx

from socialdesk.connectors.base import (
    JSON,
    AuthError,
    ConnectorError,
    OutboundRequest,
    SendError,
    SendResult,
    Visibility,
)
from socialdesk.connectors.facebook.config import FacebookAccount
from socialdesk.connectors.http import HttpClient

MESSENGER_MAX_CHARACTERS = 2000
COMMENT_MAX_CHARACTERS = 8000

# Graph API error codes. https://developers.facebook.com/docs/graph-api/guides/error-handling
AUTH_CODES = frozenset({102, 190})
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80001})
PERMISSION_CODES = frozenset({10, *range(200, 300)})
WINDOW_CLOSED_SUBCODE = 2018278
PERSON_UNAVAILABLE_CODE = 551
POLICY_BLOCK_CODE = 368
TOKEN_SUBCODES = {
    458: "the app was removed from the Page or the account",
    459: "the person who connected the Page must log in to Facebook to confirm",
    460: "the password of the person who connected the Page changed",
    463: "the Page token expired",
    464: "the person who connected the Page is no longer confirmed",
    467: "the Page token is no longer valid",
    492: "the person who connected the Page no longer has a role on it",
}


class WindowClosed(SendError):
    """Messenger's 24-hour window (or the human agent tag's 7 days) has passed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retryable=False)


def graph_error(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {}


def retry_after(response: httpx.Response) -> float | None:
    """Seconds until Facebook lifts a rate limit, from the usage headers' "estimated time to
    regain access" (minutes), when it says."""
    longest = 0.0
    for header in ("x-business-use-case-usage", "x-page-usage", "x-app-usage"):
        raw = response.headers.get(header)
        if not raw:
            continue
        try:
            usage = json.loads(raw)
        except ValueError:
            continue
        entries: list[Any] = []
        if isinstance(usage, dict) and "estimated_time_to_regain_access" in usage:
            entries = [usage]
        elif isinstance(usage, dict):
            for value in usage.values():
                entries.extend(value if isinstance(value, list) else [value])
        for entry in entries:
            if isinstance(entry, dict):
                minutes = entry.get("estimated_time_to_regain_access")
                if isinstance(minutes, int | float) and minutes > longest:
                    longest = float(minutes)
    return longest * 60 if longest else None


def error_mapper(account: FacebookAccount) -> Callable[[httpx.Response], ConnectorError | None]:
    provider = f"{account.provider} (Page {account.page_id})"

    # One branch per documented family of Graph errors reads better than a lookup table.
    def mapped(response: httpx.Response) -> ConnectorError | None:  # noqa: PLR0911
        error = graph_error(response)
        code = error.get("code")
        subcode = error.get("error_subcode")
        message = str(error.get("error_user_msg") or error.get("message") or "").strip()
        said = f" ({message})" if message else ""
        if code in AUTH_CODES:
            why = (
                TOKEN_SUBCODES.get(subcode, "the Page token is invalid")
                if subcode
                else ("the Page token is invalid or expired")
            )
            return AuthError(f"{provider}: {why}{said}; connect the Page again")
        if code in RATE_LIMIT_CODES:
            return SendError(
                f"{provider}: rate limit reached (code {code}){said}; will try again later",
                retryable=True,
                retry_after_seconds=retry_after(response),
            )
        if code == 10 and subcode == WINDOW_CLOSED_SUBCODE:
            return WindowClosed(
                f"{provider}: the messaging window is closed: Messenger accepts a Page's reply "
                "only within 24 hours of the person's last message; wait for them to write "
                "again (or answer publicly)"
            )
        if code == PERSON_UNAVAILABLE_CODE:
            return SendError(
                f"{provider}: this person cannot be reached on Messenger right now{said}",
                retryable=False,
            )
        if code == POLICY_BLOCK_CODE:
            return SendError(
                f"{provider}: Facebook has temporarily blocked the Page from this action for "
                f"policy reasons{said}",
                retryable=False,
            )
        if code in PERMISSION_CODES:
            return SendError(
                f"{provider}: permission missing (code {code}){said}: the Page token needs "
                "pages_manage_engagement for comments and pages_messaging for Messenger",
                retryable=False,
            )
        if code == 100:
            return SendError(
                f"{provider}: Facebook refused the request{said}: the comment or post may have "
                "been deleted, or comments on it are turned off",
                retryable=False,
            )
        if response.status_code == 401:
            return AuthError(f"{provider}: the Page token was refused{said}; connect it again")
        if response.status_code in (400, 403, 404):
            return SendError(f"{provider} refused the request{said}", retryable=False)
        return None

    return mapped


def comment_target(request: OutboundRequest) -> str:
    """The object to comment on: the thread's top-level comment or visitor post."""
    key = request.thread_key or ""
    for prefix in ("comment:", "post:"):
        if key.startswith(prefix) and key[len(prefix) :]:
            return key[len(prefix) :]
    if request.reply_to_native_id:
        return request.reply_to_native_id
    raise SendError(
        "a Facebook public reply needs the comment or post it answers, and this conversation "
        "has neither",
        retryable=False,
    )


def recipient_psid(request: OutboundRequest) -> str:
    key = request.thread_key or ""
    if key.startswith("psid:") and key[5:]:
        return key[5:]
    if request.recipient is not None and request.recipient.native_id:
        return request.recipient.native_id
    raise SendError(
        "a Messenger reply needs the person's Page-scoped id, and this conversation has none",
        retryable=False,
    )


def send_comment(
    client: HttpClient,
    *,
    account: FacebookAccount,
    request: OutboundRequest,
    now: Callable[[], datetime],
) -> SendResult:
    if len(request.text) > COMMENT_MAX_CHARACTERS:
        raise SendError(
            f"a Facebook comment holds at most {COMMENT_MAX_CHARACTERS} characters",
            retryable=False,
        )
    target = comment_target(request)
    response = client.request(
        "POST",
        account.url(f"{target}/comments"),
        idempotent=False,
        headers=account.headers(),
        params=account.proof_params(),
        json={"message": request.text},
        error_mapper=error_mapper(account),
    )
    created = _json(response)
    comment_id = created.get("id")
    if not comment_id:
        raise SendError(
            "Facebook accepted the comment but its answer has no id; check the post before "
            "sending again",
            retryable=False,
        )
    return SendResult(
        native_id=str(comment_id), sent_at=now(), raw={"comment_on": target, "kind": "comment"}
    )


def send_message(
    client: HttpClient,
    *,
    account: FacebookAccount,
    request: OutboundRequest,
    now: Callable[[], datetime],
) -> SendResult:
    if len(request.text) > MESSENGER_MAX_CHARACTERS:
        raise SendError(
            f"a Messenger message holds at most {MESSENGER_MAX_CHARACTERS} characters; shorten "
            "the reply",
            retryable=False,
        )
    psid = recipient_psid(request)
    body: JSON = {
        "recipient": {"id": psid},
        "messaging_type": "RESPONSE",
        "message": {"text": request.text},
    }
    try:
        response = _post_message(client, account, body)
    except WindowClosed:
        if not account.human_agent_tag:
            raise
        # Approved human agent tag: a person may answer for 7 days after the last message.
        body = {**body, "messaging_type": "MESSAGE_TAG", "tag": "HUMAN_AGENT"}
        try:
            response = _post_message(client, account, body)
        except WindowClosed as exc:
            raise WindowClosed(
                f"{exc.reason}. The human agent tag's 7 days have passed too."
            ) from exc
    created = _json(response)
    message_id = created.get("message_id")
    if not message_id:
        raise SendError(
            "Facebook accepted the message but its answer has no message id; check the "
            "conversation before sending again",
            retryable=False,
        )
    return SendResult(
        native_id=str(message_id),
        sent_at=now(),
        raw={
            "recipient_id": created.get("recipient_id"),
            "kind": "message",
            "messaging_type": body["messaging_type"],
        },
    )


def send(
    client: HttpClient,
    *,
    account: FacebookAccount,
    request: OutboundRequest,
    now: Callable[[], datetime],
) -> SendResult:
    if request.visibility is Visibility.NOTE:
        raise SendError("internal notes are never sent to Facebook", retryable=False)
    if request.visibility is Visibility.DIRECT:
        return send_message(client, account=account, request=request, now=now)
    return send_comment(client, account=account, request=request, now=now)


def _post_message(client: HttpClient, account: FacebookAccount, body: JSON) -> httpx.Response:
    return client.request(
        "POST",
        account.url("me/messages"),
        idempotent=False,
        bucket=f"facebook:{account.page_id}:messages",
        headers=account.headers(),
        params=account.proof_params(),
        json=body,
        error_mapper=error_mapper(account),
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
