"""Replies and direct messages on X (API v2), and what X's errors mean.

* reply: ``POST /2/tweets`` with ``reply.in_reply_to_tweet_id``
  (https://developer.x.com/en/docs/x-api/tweets/manage-tweets/api-reference/post-tweets);
* direct message: ``POST /2/dm_conversations/with/:participant_id/messages``, or
  ``POST /2/dm_conversations/:dm_conversation_id/messages`` for a group conversation
  (https://developer.x.com/en/docs/x-api/direct-messages/manage/api-reference).

X has no idempotency key, so a send is repeated only when X certainly did not act on it
(connection refused, 429); after an unknown outcome the error says to check before resending.

* withdrawing a post: ``DELETE /2/tweets/:id``
  (https://developer.x.com/en/docs/x-api/tweets/manage-tweets/api-reference/delete-tweets-id).
  Deleting twice is harmless, so it is repeated after any temporary failure; a post X no
  longer knows counts as withdrawn.
"""

from __future__ import annotations

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
from socialdesk.connectors.http import (
    Gone,
    HttpClient,
    error_detail,
    not_found,
    read_rate_limit,
)
from socialdesk.connectors.x.config import XAccount
from socialdesk.connectors.x.parse import snowflake_time

# The longest post, in X's weighted characters.
MAX_POST = 280


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def classify_error(response: httpx.Response) -> ConnectorError | None:
    """X's error statuses as errors people can act on; None leaves 429/5xx to the retry logic.

    X describes errors as problem documents: ``{"title", "detail", "type", "reason", ...}``
    (https://developer.x.com/en/support/x-api/error-troubleshooting).
    """
    status = response.status_code
    problem = _problem(response)
    detail = error_detail(response) or response.reason_phrase
    kind = str(problem.get("type") or "")
    reason = str(problem.get("reason") or "")
    if status == 401:
        return AuthError(
            f"X rejected the access token ({detail}): it expired or was revoked; refresh it or "
            "connect the account again"
        )
    if status == 403:
        return _forbidden(detail, kind, reason, problem)
    if status == 429 and (
        kind.endswith("/usage-capped") or problem.get("title") == "UsageCapExceeded"
    ):
        return SendError(
            f"X usage cap reached for the developer app's access tier ({detail}); sending resumes "
            "when the cap resets, or move the app to a higher tier",
            retryable=True,
        )
    if status in {400, 404, 409, 422}:
        return SendError(f"X refused the request ({status}): {detail}", retryable=False)
    return None


def _forbidden(detail: str, kind: str, reason: str, problem: dict[str, Any]) -> SendError:
    lowered = detail.lower()
    if reason == "client-not-enrolled" or kind.endswith("/client-forbidden"):
        enrollment = problem.get("required_enrollment") or "a higher access tier"
        return SendError(
            f"X access tier problem: the developer app is not allowed this endpoint ({detail}); "
            f"it needs {enrollment}. Attach the app to a Project and choose an access tier that "
            "includes it in the X developer portal",
            retryable=False,
        )
    if kind.endswith("/oauth1-permissions") or ("permission" in lowered and "app" in lowered):
        return SendError(
            f"X permission problem: the app lacks the permission for this action ({detail}); set "
            "it to 'Read and write and Direct message' in the developer portal, then connect "
            "the account again so the token carries the new scopes",
            retryable=False,
        )
    if "duplicate" in lowered:
        return SendError(
            f"X rejected the post as a duplicate of a recent one ({detail}); reword it",
            retryable=False,
        )
    return SendError(f"X refused the request (403): {detail}", retryable=False)


def post_body(request: OutboundRequest) -> JSON:
    body: JSON = {"text": request.text}
    if request.reply_to_native_id:
        body["reply"] = {"in_reply_to_tweet_id": request.reply_to_native_id}
    return body


def dm_path(request: OutboundRequest) -> str:
    """Where a direct message goes. A one-to-one conversation id is "<user>-<user>"; any other
    conversation id is a group, answered in the group rather than privately to one member."""
    key = request.thread_key
    if key and "-" not in key:
        return f"/2/dm_conversations/{key}/messages"
    if request.recipient is not None and request.recipient.native_id:
        return f"/2/dm_conversations/with/{request.recipient.native_id}/messages"
    if key:
        return f"/2/dm_conversations/{key}/messages"
    raise SendError(
        "an X direct message needs the recipient's user id or the conversation id; neither is "
        "known",
        retryable=False,
    )


def send(
    client: HttpClient,
    *,
    account: XAccount,
    request: OutboundRequest,
    brand_account_id: int,
    now: Callable[[], datetime],
) -> SendResult:
    if request.visibility is Visibility.NOTE:
        raise SendError("internal notes are never sent to X", retryable=False)
    direct = request.visibility is Visibility.DIRECT
    path = dm_path(request) if direct else "/2/tweets"
    bucket = f"{brand_account_id}:POST {'dm' if direct else '/2/tweets'}"
    response = client.request(
        "POST",
        account.api_base + path,
        idempotent=False,
        bucket=bucket,
        headers=account.headers(),
        json={"text": request.text} if direct else post_body(request),
        error_mapper=classify_error,
    )
    try:
        data = response.json()["data"]
        native_id = str(data["dm_event_id"] if direct else data["id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise SendError(
            "X accepted the message but its answer has no id; check the conversation before "
            "sending again",
            retryable=False,
        ) from exc
    try:
        sent_at = snowflake_time(native_id)
    except ValueError:
        sent_at = now()
    limit = read_rate_limit(response.headers)
    raw: JSON = {
        "rate_limit_remaining": limit.remaining,
        "rate_limit_reset": limit.reset_at.isoformat() if limit.reset_at else None,
    }
    if direct:
        raw["dm_conversation_id"] = data.get("dm_conversation_id")
    return SendResult(native_id=native_id, sent_at=sent_at, raw=raw)


def delete_post(client: HttpClient, *, account: XAccount, native_id: str, bucket: str) -> None:
    """Take the brand's post ``native_id`` off X. Returns when it is gone, whether this call
    deleted it or it was gone already."""
    if not native_id.isdigit():
        raise SendError(
            f"X: {native_id!r} is not the id of a post, so there is nothing to delete",
            retryable=False,
        )
    try:
        response = client.request(
            "DELETE",
            account.api_base + f"/2/tweets/{native_id}",
            idempotent=True,
            bucket=bucket,
            headers=account.headers(),
            error_mapper=classify_error,
            gone=not_found,
        )
    except Gone:
        return
    data = _problem(response).get("data")
    if isinstance(data, dict) and data.get("deleted") is True:
        return
    raise SendError(
        f"X answered that the post {native_id} was not deleted; check it on X, and delete it "
        "there if it is still shown",
        retryable=False,
    )
