"""REST API of the channels domain (mounted under /api): brand accounts, and the API channel
through which an integration pushes raw events for an account."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from socialdesk.channels import health
from socialdesk.channels import service as channels_service
from socialdesk.channels.models import BrandAccount
from socialdesk.channels.schemas import (
    BrandAccountCreate,
    BrandAccountPage,
    BrandAccountRead,
    BrandAccountUpdate,
    ConnectionCheckRead,
    EventAccepted,
    EventPush,
)
from socialdesk.common import clock
from socialdesk.common.deps import DB, ChannelAdmin, PageCursor, Reader
from socialdesk.common.errors import Conflict, ValidationFailed
from socialdesk.common.schemas import Limit, RowId, api_token_scheme, error_responses
from socialdesk.connectors import registry
from socialdesk.connectors.base import RawEvent, UnsupportedEvent
from socialdesk.conversations import flows

log = logging.getLogger(__name__)

router = APIRouter(
    prefix="/brand-accounts",
    tags=["brand accounts"],
    dependencies=[Depends(api_token_scheme)],
    responses=error_responses(401, 403, 422),
)


def _account(brand_account_id: RowId, db: DB, actor: Reader) -> BrandAccount:
    # A dependency, so an id from another organization is a 404 before anything else is read.
    return channels_service.get_or_raise(
        db, organization_id=actor.organization_id, brand_account_id=brand_account_id
    )


Account = Annotated[BrandAccount, Depends(_account)]


def _read(account: BrandAccount) -> BrandAccountRead:
    return BrandAccountRead(
        id=account.id,
        kind=account.kind,
        handle=account.handle,
        display_name=account.display_name,
        settings=dict(account.settings),
        has_credentials=account.credentials_encrypted is not None,
        public_key=account.public_key,
        health=account.health,
        health_reason=account.health_reason,
        health_checked_at=account.health_checked_at,
        created_at=account.created_at,
    )


def _require_connector(kind: str) -> None:
    if kind not in registry.kinds():
        raise ValidationFailed(
            f"no connector is installed for channel {kind!r}; installed: "
            f"{', '.join(sorted(registry.kinds()))}",
            field="kind",
        )


@router.get("", summary="Your organization's brand accounts")
def list_accounts(db: DB, actor: Reader, cursor: PageCursor, limit: Limit = 50) -> BrandAccountPage:
    page = channels_service.page_for_org(
        db, organization_id=actor.organization_id, cursor=cursor.value, limit=limit
    )
    return BrandAccountPage(
        items=[_read(a) for a in page.items], next_cursor=cursor.next(page.next_cursor)
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    summary="Add a brand account (credentials are write-only)",
    responses=error_responses(409),
)
def create_account(body: BrandAccountCreate, db: DB, actor: ChannelAdmin) -> BrandAccountRead:
    _require_connector(body.kind.value)
    account = channels_service.create(
        db,
        organization_id=actor.organization_id,
        kind=body.kind,
        handle=body.handle,
        display_name=body.display_name,
        settings=body.settings,
        credentials=(
            {k: v.get_secret_value() for k, v in body.credentials.items()}
            if body.credentials
            else None
        ),
    )
    return _read(account)


@router.get("/{brand_account_id}", summary="One brand account", responses=error_responses(404))
def get_account(account: Account) -> BrandAccountRead:
    return _read(account)


@router.patch(
    "/{brand_account_id}",
    summary="Change a brand account's display name, settings or credentials",
    responses=error_responses(404),
)
def update_account(
    body: BrandAccountUpdate, account: Account, db: DB, actor: ChannelAdmin
) -> BrandAccountRead:
    sent = body.model_fields_set
    if "display_name" in sent and body.display_name is None:
        raise ValidationFailed("display name must not be null", field="display_name")
    if "settings" in sent and body.settings is None:
        raise ValidationFailed("settings must be an object; send {} to clear", field="settings")
    if "credentials" in sent:
        credentials = (
            {k: v.get_secret_value() for k, v in body.credentials.items()}
            if body.credentials
            else None
        )
        channels_service.update(
            db,
            account=account,
            display_name=body.display_name,
            settings=body.settings,
            credentials=credentials,
        )
    else:
        channels_service.update(
            db, account=account, display_name=body.display_name, settings=body.settings
        )
    return _read(account)


@router.post(
    "/{brand_account_id}/check",
    summary="Sign in to the account's network with its stored credentials; nothing is sent",
    responses=error_responses(404),
)
def check_account(account: Account, db: DB, actor: ChannelAdmin) -> ConnectionCheckRead:
    account_id, organization_id = account.id, actor.organization_id
    # No transaction stays open (on SQLite: no write lock held) while the network answers;
    # nothing of this session may be read again until the check is done.
    db.rollback()
    checked = health.check_connection(organization_id=organization_id, brand_account_id=account_id)
    return ConnectionCheckRead(
        ok=checked.ok,
        detail=checked.detail,
        checked_at=checked.checked_at,
        health_changed=checked.health_changed,
        account=_read(db.get_one(BrandAccount, account_id)),
    )


def _check_parses(account: BrandAccount, event: RawEvent) -> None:
    """Refuse, while the integration is still listening, an event its connector cannot read:
    stored as-is it would only fail later in a job nobody watches. Parsing is pure (no I/O)."""
    if account.kind not in registry.kinds():
        raise Conflict(
            f"no connector for channel {account.kind!r} is installed on this server, so its "
            "events cannot be read; install it first"
        )
    connector = registry.get(account.kind)
    declared = connector.supported_events | connector.ignored_events
    if event.kind not in declared:
        raise ValidationFailed(
            f"a {account.kind} account takes events {', '.join(sorted(declared))}; "
            f"not {event.kind!r}",
            field="kind",
        )
    try:
        messages = connector.parse(event)
    except UnsupportedEvent as exc:
        raise ValidationFailed(exc.reason, field="kind") from None
    except KeyError as exc:
        raise ValidationFailed(f"payload is missing {exc}", field="payload") from None
    except (ValueError, TypeError) as exc:
        raise ValidationFailed(
            f"payload is not a valid {event.kind} event: {exc}", field="payload"
        ) from None
    except Exception:
        log.warning("could not parse a pushed %s event", account.kind, exc_info=True)
        raise ValidationFailed(
            f"payload is not a valid {event.kind} event", field="payload"
        ) from None
    for message in messages:
        if message.created_at.tzinfo is None:
            raise ValidationFailed(
                "timestamps in the payload need a UTC offset, e.g. 2026-01-05T09:00:00+00:00",
                field="payload",
            )


@router.post(
    "/{brand_account_id}/events",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Push a raw event for this account (the API channel); idempotent on native_id",
    responses={
        200: {"model": EventAccepted, "description": "A replay: this native_id was stored before"},
        **error_responses(404, 409),
    },
)
def push_event(
    body: EventPush, account: Account, db: DB, actor: ChannelAdmin, response: Response
) -> EventAccepted:
    event = RawEvent(
        native_id=body.native_id, kind=body.kind, payload=body.payload, received_at=clock.now()
    )
    _check_parses(account, event)
    stored, is_new = flows.store_event(db, account=account, event=event)
    if not is_new:
        response.status_code = status.HTTP_200_OK
    return EventAccepted(
        event_id=stored.id,
        duplicate=not is_new,
        status=stored.status,
        received_at=stored.received_at,
    )
