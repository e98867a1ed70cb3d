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

Email accounts whose server offers IMAP IDLE are watched from the worker: every minute each
worker process takes (or renews) a lease on the email accounts nobody else watches and keeps
one IDLE connection per account in a thread (``connectors/email/idle.py``). When the server
announces new mail, the account's ordinary poll job is enqueued at once, so mail arrives in
seconds instead of at the next minute's poll, with the same cursor rules. Polling goes on
every minute regardless: IDLE only wakes it early, and a server without IDLE is simply
polled. A process that stops releases its leases; one that dies loses them after
``IDLE_LEASE``.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from socialdesk.channels import service as channels_service
from socialdesk.common import clock
from socialdesk.common.crypto import new_token
from socialdesk.connectors.base import AuthError, ConnectorError, SendError
from socialdesk.connectors.email import idle as email_idle
from socialdesk.connectors.email.config import EmailAccount
from socialdesk.connectors.http import HttpClient, RetryPolicy
from socialdesk.connectors.x import oauth as x_oauth
from socialdesk.conversations.flows import POLL_ACCOUNT_JOB
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


# -- IMAP IDLE ------------------------------------------------------------------------------

# Who holds this process's leases on the accounts it watches.
PROCESS_TOKEN = new_token(9)


@dataclass
class _Watcher:
    thread: threading.Thread
    stop: threading.Event
    fingerprint: str
    state: email_idle.WatchState


_watchers: dict[int, _Watcher] = {}
_watchers_lock = threading.Lock()


def _poll_now(brand_account_id: int) -> None:
    jobs.get_queue().enqueue(POLL_ACCOUNT_JOB, {"brand_account_id": brand_account_id})


def _start(target: channels_service.IdleTarget, config: EmailAccount) -> _Watcher:
    stop = threading.Event()
    state = email_idle.WatchState()
    account_id = target.brand_account_id

    def run() -> None:
        try:
            email_idle.watch(
                config, on_new_mail=lambda: _poll_now(account_id), stop=stop, state=state
            )
        except Exception:  # a bug must not pass unseen, nor kill the worker
            log.exception("IMAP IDLE watcher of email account %s stopped", account_id)
            raise

    thread = threading.Thread(target=run, name=f"imap-idle-{account_id}", daemon=True)
    thread.start()
    return _Watcher(thread=thread, stop=stop, fingerprint=target.fingerprint, state=state)


@periodic("channels.email_idle", every_minutes=1)
def email_idle_watchers() -> None:
    ensure_idle_watchers()


def ensure_idle_watchers() -> dict[int, email_idle.WatchState]:
    """Start, keep or stop this process's IDLE watchers to match the accounts it holds a
    lease on; returns the state of each watcher by account id. A watcher that found no IDLE
    on its server is not started again until the account's settings or credentials change."""
    with session_scope() as session:
        targets = channels_service.claim_idle_leases(session, owner=PROCESS_TOKEN, now=clock.now())
    wanted = {t.brand_account_id: t for t in targets}
    with _watchers_lock:
        for account_id, watcher in list(_watchers.items()):
            target = wanted.get(account_id)
            same = target is not None and target.fingerprint == watcher.fingerprint
            if same and (watcher.thread.is_alive() or watcher.state.supported is False):
                continue
            watcher.stop.set()  # gone, changed, or died: (re)started below if still wanted
            del _watchers[account_id]
        for account_id, target in wanted.items():
            if account_id in _watchers:
                continue
            try:
                config = EmailAccount.from_context(target.context)
            except ConnectorError as exc:
                log.info("email account %s is not watched: %s", account_id, exc.reason)
                continue
            if config.imap is None:
                continue
            _watchers[account_id] = _start(target, config)
        return {account_id: w.state for account_id, w in _watchers.items()}


def stop_idle_watchers(*, wait_seconds: float = 5.0) -> None:
    """Stop every watcher of this process and release its leases."""
    with _watchers_lock:
        stopping = list(_watchers.values())
        _watchers.clear()
    for watcher in stopping:
        watcher.stop.set()
    deadline = time.monotonic() + wait_seconds
    for watcher in stopping:
        watcher.thread.join(max(0.0, deadline - time.monotonic()))
    if stopping:
        with session_scope() as session:
            channels_service.release_idle_leases(session, owner=PROCESS_TOKEN)


def _stop_at_exit() -> None:
    try:
        stop_idle_watchers(wait_seconds=2.0)
    except Exception:  # the database may already be gone at exit; leases then lapse
        log.warning("could not release IMAP IDLE leases at exit", exc_info=True)


atexit.register(_stop_at_exit)
