"""Delivering one outbound message: build the request, map the provider's errors.

Errors decide what the desk does next: ``AuthError`` marks the brand account unhealthy,
``SendError(retryable=True)`` reschedules the send (``retry_after_seconds`` when the provider
said when), ``SendError(retryable=False)`` fails the message with the reason shown to the agent.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx

from socialdesk.connectors.base import (
    AccountContext,
    AuthError,
    ConnectorError,
    OutboundRequest,
    SendError,
    SendResult,
    Visibility,
)
from socialdesk.connectors.http import HttpClient, error_detail


def map_error(response: httpx.Response) -> ConnectorError | None:
    """The provider's error statuses; None leaves 429 and 5xx to the client's retry logic."""
    if response.status_code == 401:
        return AuthError(f"the provider rejected the token ({error_detail(response)}); reconnect")
    if response.status_code in {400, 403, 404, 422}:
        return SendError(
            f"the provider refused the message: {error_detail(response)}", retryable=False
        )
    return None


def send(
    client: HttpClient,
    *,
    account: AccountContext,
    request: OutboundRequest,
    now: Callable[[], datetime],
) -> SendResult:
    if request.visibility is Visibility.NOTE:
        raise SendError("internal notes are never sent", retryable=False)
    token = account.credentials.get("access_token")
    if not token:
        raise AuthError(f"account {account.handle!r} has no access token; connect it")
    body = {"text": request.text, "in_reply_to": request.reply_to_native_id}
    response = client.request(
        "POST",
        str(account.settings.get("api_base", "https://api.provider.example")) + "/v1/messages",
        # True only because this provider honours Idempotency-Key: a retried POST is a no-op.
        # Without such a key, pass False: the client then never repeats a send that may
        # have gone through.
        idempotent=True,
        bucket=f"{account.brand_account_id}:POST /v1/messages",
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": request.idempotency_key},
        json=body,
        error_mapper=map_error,
    )
    created = response.json()
    return SendResult(native_id=str(created["id"]), sent_at=now(), raw={"id": created["id"]})
