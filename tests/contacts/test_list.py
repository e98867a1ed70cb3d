"""The customers list: newest first or by latest activity, VIPs only, page after page, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.common.clock import FrozenClock
from socialdesk.contacts import service as contacts_service
from socialdesk.contacts.models import Contact
from socialdesk.contacts.service import ContactOrder
from socialdesk.conversations.models import Conversation
from tests.factories import accounts, channels
from tests.factories.conversations import inbound, ingest


def _walk(session: Session, organization_id: int, **options: object) -> list[str]:
    names: list[str] = []
    cursor: str | None = None
    while True:
        page = contacts_service.list_page(
            session,
            organization_id=organization_id,
            cursor=cursor,
            limit=2,
            **options,  # type: ignore[arg-type]
        )
        names += [c.name for c in page.items]
        if page.next_cursor is None:
            return names
        cursor = page.next_cursor


def test_orders_and_vips_page_by_page(session: Session, clock: FrozenClock) -> None:
    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    # Five customers, each new an hour after the other, who then write again in another order.
    for name in ("ada", "bo", "cy", "di", "ed"):
        ingest(session, account, inbound(author=name, text="hello", thread_key=f"{name}-1"))
        clock.advance(timedelta(hours=1))
    for name in ("cy", "ada", "ed"):
        ingest(session, account, inbound(author=name, text="again", thread_key=f"{name}-2"))
        clock.advance(timedelta(hours=1))
    # Bo writes again, then Ada from another address: merged into Ada, so Ada moved last.
    ingest(session, account, inbound(author="bo", text="me too", thread_key="bo-2"))
    twin = ingest(
        session, account, inbound(author="ada-twin", text="hi", thread_key="t")
    ).conversation
    ada = session.scalars(select(Contact).where(Contact.name == "Ada")).one()
    assert twin.contact_id is not None
    contacts_service.merge(
        session, organization_id=org.id, source_id=twin.contact_id, target_id=ada.id
    )
    for name in ("Cy", "Ed"):
        session.scalars(select(Contact).where(Contact.name == name)).one().is_vip = True
    other = accounts.organization(session)
    ingest(session, channels.brand_account(session, other), inbound(author="zed"))
    session.flush()

    newest = _walk(session, org.id)
    assert newest == ["Ed", "Di", "Cy", "Bo", "Ada"]
    active = _walk(session, org.id, order=ContactOrder.ACTIVE)
    # Ada's twin wrote last, and its conversation is Ada's now.
    assert active == ["Ada", "Bo", "Ed", "Cy", "Di"]
    assert _walk(session, org.id, vip_only=True) == ["Ed", "Cy"]
    assert _walk(session, org.id, order=ContactOrder.ACTIVE, vip_only=True) == ["Ed", "Cy"]
    assert _walk(session, org.id, order=ContactOrder.ACTIVE, query="d") == ["Di"]
    # The handle of the customer merged into Ada finds Ada.
    assert _walk(session, org.id, query="@ada-t") == ["Ada"]


def test_a_customers_conversations_page_by_page_and_only_in_their_organization(
    session: Session, clock: FrozenClock
) -> None:
    from socialdesk.conversations import service as conversations_service

    org = accounts.organization(session)
    account = channels.brand_account(session, org)
    ids = []
    for n in range(3):
        ids.append(
            ingest(session, account, inbound(author="ada", thread_key=f"t{n}")).conversation.id
        )
        clock.advance(timedelta(hours=1))
    contact_id = session.get_one(Conversation, ids[0]).contact_id
    assert contact_id is not None
    seen: list[int] = []
    cursor: str | None = None
    while True:
        page = conversations_service.of_contact(
            session, organization_id=org.id, contact_id=contact_id, cursor=cursor, limit=2
        )
        seen += [c.id for c in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == ids[::-1]  # latest activity first
    other = accounts.organization(session)
    assert (
        conversations_service.of_contact(session, organization_id=other.id, contact_id=contact_id)
    ).items == []
