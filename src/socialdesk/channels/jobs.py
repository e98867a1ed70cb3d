"""Jobs and periodic tasks of the channels domain: account health and credential upkeep.

X access tokens expire after two hours. Every minute, accounts whose token expires within
``X_REFRESH_AHEAD`` get a renewal job, which works in three steps so that no database lock is
held while X is asked:

1. claim the renewal in a short transaction (one worker wins; the claim lapses after
   ``X_REFRESH_CLAIM`` if that worker dies);
2. trade the refresh token for a new pair (``refresh_token`` grant);
3. store the new access token, refresh token and expiry together, encrypted, in one
   transaction that also ends the claim. X refresh tokens are single-use, so nothing else
   renews them.

A refusal (``invalid_grant``: the token was used or revoked, or the app's credentials changed)
marks the account unhealthy with the reason, which tells the organization's admins; the same
token is not tried again until the account is connected again. X unreachable or rate-limiting:
the job is retried with backoff, and the next minute's run tries again too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx

from socialdesk.channels import service as channels_service
from socialdesk.common import clock
from socialdesk.connectors.base import AuthError, ConnectorError, SendError
from socialdesk.connectors.http import HttpClient, RetryPolicy
from socialdesk.connectors.x import oauth as x_oauth
from socialdesk.db.session import session_scope
from socialdesk.jobs import queue as jobs
from socialdesk.jobs.registry import Payload, Retry, job, periodic

log = logging.getLogger(__name__)

X_RENEWAL_JOB = "channels.refresh_x_token"

# Test seams: an httpx.MockTransport for X's token endpoint, a sleep that does not wait.
x_transport: httpx.BaseTransport | None = None
x_sleep: Callable[[float], None] = time.sleep
# Short: the job queue retries with its own, longer backoff, well within the ten minutes ahead.
X_POLICY = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=10.0, max_wait=30.0)


@periodic("channels.refresh_x_tokens", every_minutes=1)
def refresh_x_tokens() -> None:
    """Enqueue a renewal for every X account whose token is about to expire."""
    with session_scope(write=False) as session:
        due = channels_service.x_refresh_due(session, now=clock.now())
    queue = jobs.get_queue()
    for account_id in due:
        queue.enqueue(X_RENEWAL_JOB, {"brand_account_id": account_id})


@job(X_RENEWAL_JOB, max_attempts=4, backoff_seconds=20)
def refresh_x_token(payload: Payload) -> None:
    account_id = int(payload["brand_account_id"])
    with session_scope() as session:
        claim = channels_service.claim_x_refresh(
            session, brand_account_id=account_id, now=clock.now()
        )
    if claim is None:
        return
    client = HttpClient(provider="X", transport=x_transport, policy=X_POLICY, sleep=x_sleep)
    try:
        tokens = x_oauth.refresh(
            client,
            refresh_token=claim.refresh_token,
            client_id=claim.client_id,
            client_secret=claim.client_secret,
            now=clock.now,
            token_url=claim.token_url,
        )
    except AuthError as exc:
        with session_scope() as session:
            channels_service.x_refresh_refused(session, claim=claim, reason=exc.reason)
        log.warning("X account %s: token renewal refused: %s", account_id, exc.reason)
        return
    except ConnectorError as exc:
        with session_scope() as session:
            channels_service.release_x_refresh(session, claim=claim)
        retryable = isinstance(exc, SendError) and exc.retryable
        log.warning(
            "X account %s: token renewal failed%s: %s",
            account_id,
            ", will try again" if retryable else "",
            exc.reason,
        )
        if retryable:
            after = exc.retry_after_seconds if isinstance(exc, SendError) else None
            raise Retry(exc.reason, after_seconds=after) from exc
        return
    finally:
        client.close()
    with session_scope() as session:
        stored = channels_service.store_x_tokens(
            session, claim=claim, credentials=tokens.credentials()
        )
    if not stored:
        log.info("X account %s was connected again during renewal; kept the new tokens", account_id)
