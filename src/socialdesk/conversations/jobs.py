"""Background jobs of the conversations domain: processing raw events and polling channels."""

from __future__ import annotations

import logging

from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.config import get_settings
from socialdesk.connectors import registry
from socialdesk.connectors.base import AuthError, ConnectorError, Poller, SendError
from socialdesk.conversations import flows, raw_events, recovery
from socialdesk.conversations import service as conversations_service
from socialdesk.db.session import session_scope
from socialdesk.jobs import queue as jobs
from socialdesk.jobs.registry import Payload, Retry, job, periodic

log = logging.getLogger(__name__)

# More jobs than this waiting: a pending event's job may simply not have run yet.
RECOVERY_BACKLOG = 1000


@job(flows.PROCESS_EVENT_JOB, max_attempts=recovery.MAX_ATTEMPTS, backoff_seconds=10)
def process_event(payload: Payload) -> None:
    """Process one stored event. The attempt is counted and committed first, so a worker
    killed mid-way still counts it; a failure is kept on the event and retried with backoff
    until the event's attempts are used (recovery.py)."""
    event_id = int(payload["event_id"])
    with session_scope() as session:
        attempt = recovery.start_attempt(session, event_id=event_id)
    if attempt is None:
        return  # processed, ignored or given up already
    try:
        with session_scope() as session:
            flows.process_event(session, event_id=event_id)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        final = attempt >= recovery.MAX_ATTEMPTS
        log.warning("inbound event %s, attempt %d: %s", event_id, attempt, reason)
        with session_scope() as session:
            recovery.record_failure(session, event_id=event_id, reason=reason, final=final)
        if not final:
            raise Retry(reason) from exc


@periodic("ingest.recover_events", every_minutes=5)
def recover_events() -> None:
    """Queue again the inbound events whose job was lost (recovery.py). Skipped while the
    queue holds a backlog: their jobs may still be waiting in it."""
    backlog = jobs.get_queue().pending_count()
    if backlog > RECOVERY_BACKLOG:
        log.info("recovering inbound events: skipped, %d jobs queued", backlog)
        return
    with session_scope() as session:
        recovery.recover_lost(session)


@periodic("ingest.prune_raw_events", every_minutes=60)
def prune_raw_events() -> None:
    """Delete processed raw events past ``SOCIALDESK_RAW_EVENT_DAYS`` (raw_events.py), batch
    after batch, each its own transaction."""
    days = get_settings().raw_event_days
    now = clock.now()
    while True:
        with session_scope() as session:
            deleted = raw_events.prune(session, now=now, days=days)
        if deleted < raw_events.BATCH:
            return


@job(flows.POLL_ACCOUNT_JOB, max_attempts=3, backoff_seconds=30)
def poll_account(payload: Payload) -> None:
    """Poll one brand account: read its cursor, call the provider with no transaction open,
    then store the events and the new cursor together (flows.record_poll)."""
    account_id = int(payload["brand_account_id"])
    with session_scope(write=False) as session:
        account = session.get(BrandAccount, account_id)
        if account is None:
            return
        connector = registry.get(account.kind)
        if not isinstance(connector, Poller):
            return
        context = channels_service.context_for(account)
        cursor = account.poll_cursor
    try:
        result = connector.poll(context, cursor)
    except AuthError as exc:
        with session_scope() as session:
            account = session.get_one(BrandAccount, account_id)
            channels_service.store_pending_credentials(account, connector)
            channels_service.mark_health(account, healthy=False, reason=exc.reason)
        log.warning(
            "polling %s account %s: credentials refused: %s", account.kind, account_id, exc.reason
        )
        return
    except SendError as exc:
        with session_scope() as session:
            account = session.get_one(BrandAccount, account_id)
            # A session renewed before the failure must outlive this process.
            channels_service.store_pending_credentials(account, connector)
            if not exc.retryable:
                channels_service.mark_health(account, healthy=False, reason=exc.reason)
        if exc.retryable:
            raise Retry(exc.reason, after_seconds=exc.retry_after_seconds) from exc
        return
    except ConnectorError as exc:
        with session_scope() as session:
            account = session.get_one(BrandAccount, account_id)
            channels_service.store_pending_credentials(account, connector)
            channels_service.mark_health(account, healthy=False, reason=exc.reason)
        return
    with session_scope() as session:
        account = session.get_one(BrandAccount, account_id)
        flows.record_poll(
            session,
            account=account,
            events=result.events,
            cursor=result.cursor,
            credentials_update=dict(result.credentials_update)
            if result.credentials_update
            else None,
            warnings=result.warnings,
        )


@periodic("ingest.poll_all", every_minutes=1)
def poll_all() -> None:
    with session_scope(write=False) as session:
        ids = flows.pollable_account_ids(session)
    queue = jobs.get_queue()
    for account_id in ids:
        queue.enqueue(flows.POLL_ACCOUNT_JOB, {"brand_account_id": account_id})


@periodic("conversations.wake_snoozed", every_minutes=1)
def wake_snoozed() -> None:
    with session_scope() as session:
        conversations_service.wake_snoozed(session)
