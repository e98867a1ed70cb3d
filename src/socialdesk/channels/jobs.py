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

Mastodon accounts are followed the same way over the instance's streaming API
(``connectors/mastodon/stream.py``): one server-sent events connection per account, leased to
one worker process, and each mention notification enqueues the account's ordinary poll job,
so a mention reaches the desk in seconds and is stored by the poller with its cursor rules.
Those leases are renewed by a thread of each worker process (:meth:`StreamWatchers.start`),
not by a periodic task of the queue: periodic tasks run in one process at a time, and a
process that missed its turn would lose its leases to another while still watching. An
instance without streaming, or one that refuses the token (which marks the account
unhealthy), is left to polling until the account's settings or credentials change; the
setting ``streaming: false`` turns streaming off for an account.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from socialdesk.channels import health
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.crypto import new_token
from socialdesk.connectors.base import AuthError, ConnectorError, SendError
from socialdesk.connectors.email import idle as email_idle
from socialdesk.connectors.email.config import EmailAccount
from socialdesk.connectors.http import HttpClient, RetryPolicy
from socialdesk.connectors.mastodon import stream as mastodon_stream
from socialdesk.connectors.mastodon.config import MastodonAccount
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


# -- accounts nothing polls ------------------------------------------------------------------

CHECK_JOB = "channels.check_account"


@periodic("channels.check_unwatched_accounts", every_minutes=60)
def check_unwatched_accounts() -> None:
    """Sign in, once a day, with the accounts that no poll signs in with (health.py)."""
    with session_scope(write=False) as session:
        due = health.unwatched_account_ids(session, now=clock.now())
    queue = jobs.get_queue()
    for account_id in due:
        queue.enqueue(CHECK_JOB, {"brand_account_id": account_id})


@job(CHECK_JOB, max_attempts=1)
def check_account(payload: Payload) -> None:
    """One account's check; a network that cannot answer now is asked again next hour."""
    account_id = int(payload["brand_account_id"])
    with session_scope(write=False) as session:
        account = session.get(BrandAccount, account_id)
        if account is None:
            return
        organization_id = account.organization_id
    checked = health.check_connection(
        organization_id=organization_id, brand_account_id=account_id, person_waiting=False
    )
    if not checked.ok:
        log.warning("brand account %s: check failed: %s", account_id, checked.detail)


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


# -- Mastodon streaming ---------------------------------------------------------------------

# The least time between two polls a stream asks for: a burst of mentions costs two polls.
STREAM_WAKE_INTERVAL = 2.0
# How often a worker process renews its streaming leases (well inside WATCH_LEASE).
STREAM_LEASE_RENEWAL_SECONDS = 60.0


@dataclass
class _StreamWatcher:
    thread: threading.Thread
    stop: mastodon_stream.StopSignal
    fingerprint: str
    state: mastodon_stream.StreamState
    waker: mastodon_stream.WakeThrottle

    def halt(self) -> None:
        self.stop.set()
        self.waker.close()

    @property
    def finished(self) -> bool:
        """Ended for good with this configuration: no streaming there, or the token refused."""
        return self.state.supported is False or self.state.refused is not None


class StreamWatchers:
    """The Mastodon streaming watchers of one worker process, whose leases it holds as
    ``owner``. ``wake(brand_account_id)`` is called when an account should be polled now."""

    def __init__(
        self,
        owner: str,
        *,
        options: mastodon_stream.StreamOptions | None = None,
        wake: Callable[[int], None] | None = None,
        wake_interval: float = STREAM_WAKE_INTERVAL,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.owner = owner
        self._options = options or mastodon_stream.StreamOptions()
        self._wake = wake or _poll_now
        self._wake_interval = wake_interval
        self._transport = transport
        self._watchers: dict[int, _StreamWatcher] = {}
        self._lock = threading.Lock()
        self._claimed = False
        self._keeper: threading.Thread | None = None
        self._keeper_stop = threading.Event()

    def ensure(self) -> dict[int, mastodon_stream.StreamState]:
        """Start, keep or stop watchers to match the accounts this process holds a lease on;
        returns the state of each watcher by account id. A watcher that ended for good (no
        streaming, token refused) is not started again while the account stays as it was."""
        self._claimed = True
        with session_scope() as session:
            targets = channels_service.claim_stream_leases(
                session, owner=self.owner, now=clock.now()
            )
        wanted = {t.brand_account_id: t for t in targets}
        with self._lock:
            for account_id, watcher in list(self._watchers.items()):
                target = wanted.get(account_id)
                same = target is not None and target.fingerprint == watcher.fingerprint
                if same and (watcher.thread.is_alive() or watcher.finished):
                    continue
                watcher.halt()  # gone, changed, or died: (re)started below if still wanted
                del self._watchers[account_id]
            for account_id, target in wanted.items():
                if account_id in self._watchers:
                    continue
                try:
                    config = MastodonAccount.from_context(target.context)
                except ConnectorError as exc:
                    log.info("Mastodon account %s is not streamed: %s", account_id, exc.reason)
                    continue
                self._watchers[account_id] = self._start(target, config)
            return {account_id: w.state for account_id, w in self._watchers.items()}

    def _start(
        self, target: channels_service.WatchTarget, config: MastodonAccount
    ) -> _StreamWatcher:
        stop = mastodon_stream.StopSignal()
        state = mastodon_stream.StreamState()
        account_id = target.brand_account_id
        waker = mastodon_stream.WakeThrottle(
            lambda: self._wake(account_id), min_interval=self._wake_interval
        )

        def run() -> None:
            try:
                mastodon_stream.watch(
                    config,
                    on_wake=waker,
                    stop=stop,
                    state=state,
                    options=self._options,
                    transport=self._transport,
                )
                if state.refused is not None or state.supported is False:
                    _streaming_ended(target, state)
            except Exception:  # a bug must not pass unseen, nor kill the worker
                log.exception("streaming watcher of Mastodon account %s stopped", account_id)
                raise

        thread = threading.Thread(target=run, name=f"mastodon-stream-{account_id}", daemon=True)
        thread.start()
        return _StreamWatcher(
            thread=thread, stop=stop, fingerprint=target.fingerprint, state=state, waker=waker
        )

    def start(
        self, *, every_seconds: float = STREAM_LEASE_RENEWAL_SECONDS
    ) -> dict[int, mastodon_stream.StreamState]:
        """Watch now, then renew the leases and follow account changes every
        ``every_seconds`` in a thread of this process until :meth:`stop`."""
        try:
            states = self.ensure()
        except Exception:  # the database may be starting too: the renewal thread retries
            log.exception("could not start Mastodon streaming; retrying in %.0fs", every_seconds)
            states = {}
        with self._lock:
            if self._keeper is None or not self._keeper.is_alive():
                self._keeper_stop = threading.Event()
                self._keeper = threading.Thread(
                    target=self._keep,
                    args=(self._keeper_stop, every_seconds),
                    name="mastodon-stream-leases",
                    daemon=True,
                )
                self._keeper.start()
        return states

    def _keep(self, stop: threading.Event, every_seconds: float) -> None:
        while not stop.wait(every_seconds):
            try:
                self.ensure()
            except Exception:  # logged and tried again; the leases outlive one missed renewal
                log.exception("renewing Mastodon streaming leases failed")

    def stop(self, *, wait_seconds: float = 5.0) -> None:
        """Stop every watcher (and the renewal thread) and release this process's leases."""
        self._keeper_stop.set()
        with self._lock:
            keeper, self._keeper = self._keeper, None
            stopping = list(self._watchers.values())
            self._watchers.clear()
        for watcher in stopping:
            watcher.halt()
        deadline = time.monotonic() + wait_seconds
        if keeper is not None:
            keeper.join(max(0.0, deadline - time.monotonic()))
        for watcher in stopping:
            watcher.thread.join(max(0.0, deadline - time.monotonic()))
        if stopping or self._claimed:
            with session_scope() as session:
                channels_service.release_stream_leases(session, owner=self.owner)
            self._claimed = False


def _streaming_ended(
    target: channels_service.WatchTarget, state: mastodon_stream.StreamState
) -> None:
    """Keep the outcome of a watcher that ended for good, so no process retries it until the
    account changes; a refused token also marks the account unhealthy."""
    reason = state.refused or state.last_error or "the instance offers no streaming"
    try:
        with session_scope() as session:
            channels_service.streaming_unavailable(
                session,
                brand_account_id=target.brand_account_id,
                fingerprint=target.fingerprint,
                reason=reason,
                refused=state.refused is not None,
                now=clock.now(),
            )
    except Exception:  # this process still will not retry it; another may, once
        log.exception(
            "could not record why Mastodon account %s is not streamed", target.brand_account_id
        )


_streams = StreamWatchers(PROCESS_TOKEN)


def start_stream_watchers(
    *, every_seconds: float = STREAM_LEASE_RENEWAL_SECONDS
) -> dict[int, mastodon_stream.StreamState]:
    """Follow this process's Mastodon accounts now and keep following them, renewing the
    leases every ``every_seconds`` (the worker's start-up hook)."""
    return _streams.start(every_seconds=every_seconds)


def ensure_stream_watchers() -> dict[int, mastodon_stream.StreamState]:
    return _streams.ensure()


def stop_stream_watchers(*, wait_seconds: float = 5.0) -> None:
    _streams.stop(wait_seconds=wait_seconds)


def _stop_at_exit() -> None:
    try:
        stop_idle_watchers(wait_seconds=2.0)
    except Exception:  # the database may already be gone at exit; leases then lapse
        log.warning("could not release IMAP IDLE leases at exit", exc_info=True)
    try:
        stop_stream_watchers(wait_seconds=2.0)
    except Exception:  # as above
        log.warning("could not release Mastodon streaming leases at exit", exc_info=True)


atexit.register(_stop_at_exit)
