"""Inbound webhooks from providers. Each verifies the provider's signature on the raw body
before anything is stored, stores the raw events idempotently, and answers at once; parsing
and threading happen in jobs.

Routes are keyed by the brand account's public key, so each account has its own endpoint and
its own secrets (a Facebook Page with its own app)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.deps import DB
from socialdesk.common.errors import NotFound
from socialdesk.connectors.base import ChannelKind
from socialdesk.connectors.facebook import webhook as facebook
from socialdesk.conversations import flows

log = logging.getLogger(__name__)

router = APIRouter(tags=["webhooks"])


def _facebook_account(db: DB, public_key: str) -> tuple[BrandAccount, dict[str, str]]:
    account = channels_service.get_by_public_key(db, public_key=public_key)
    if account.kind != ChannelKind.FACEBOOK.value:
        raise NotFound("no such webhook")
    return account, dict(channels_service.context_for(account).credentials)


@router.get("/webhooks/facebook/{public_key}", include_in_schema=False)
def facebook_subscribe(public_key: str, request: Request, db: DB) -> Response:
    """Meta's verify-token handshake when the webhook is subscribed."""
    _, credentials = _facebook_account(db, public_key)
    challenge = facebook.verify_subscription(
        dict(request.query_params), credentials.get("verify_token", "")
    )
    if challenge is None:
        return PlainTextResponse("verify token does not match", status_code=403)
    return PlainTextResponse(challenge)


async def _raw_body(request: Request) -> bytes:
    """The body exactly as sent (the signature covers these bytes), read on the event loop."""
    return await request.body()


# A plain def, not async: FastAPI runs it in its thread pool, so waiting for the database's
# write lock never blocks the event loop (which a request holding that lock may need in
# order to commit: the whole process would stall until the busy timeout).
@router.post("/webhooks/facebook/{public_key}", include_in_schema=False)
def facebook_delivery(
    public_key: str, request: Request, db: DB, body: Annotated[bytes, Depends(_raw_body)]
) -> Response:
    """One delivery of Page feed changes and Messenger events, signed with the app secret."""
    account, credentials = _facebook_account(db, public_key)
    if not facebook.verify_signature(
        dict(request.headers), body, credentials.get("app_secret", "")
    ):
        log.warning("facebook webhook for account %s: bad or missing signature", account.id)
        return JSONResponse(
            {"error": {"code": "bad_signature", "message": "signature does not match"}},
            status_code=403,
        )
    try:
        events = facebook.events_from_delivery(body, received_at=clock.now())
    except facebook.MalformedDelivery as exc:
        return JSONResponse({"error": {"code": "invalid", "message": str(exc)}}, status_code=400)
    new = sum(int(flows.store_event(db, account=account, event=event)[1]) for event in events)
    return JSONResponse({"stored": new, "received": len(events)})
