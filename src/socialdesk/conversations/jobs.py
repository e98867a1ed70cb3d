"""Background jobs of the conversations domain: processing raw events and polling channels."""

from __future__ import annotations

import logging

from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.connectors import registry
from socialdesk.connectors.base import AuthError, ConnectorError, Poller, SendError
from socialdesk.conversations import flows
from socialdesk.conversations import service as conversations_service
from socialdesk.db.session import session_scope
from socialdesk.jobs import queue as jobs
from socialdesk.jobs.registry import Payload, Retry, job, periodic

log = logging.getLogger(__name__)


@job(flows.PROCESS_EVENT_JOB, max_attempts=5)
def process_event(payload: Payload) -> None:
    with session_scope() as session:
        flows.process_event(session, event_id=int(payload["event_id"]))


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
