from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.channels.models import BrandAccount
from socialdesk.contacts import service as contacts_service
from socialdesk.contacts.models import ContactMerge
from tests.factories.conversations import inbound, ingest


def merged_pair(session: Session, account: BrandAccount, prefix: str) -> tuple[int, int]:
    """Two customers who wrote to ``account``, the first merged into the second. Returns the
    merge's id and the customer kept."""
    twin, original = (
        ingest(session, account, inbound(author=f"{prefix}-{who}")).conversation.contact_id
        for who in ("twin", "original")
    )
    assert twin is not None
    assert original is not None
    contacts_service.merge(
        session, organization_id=account.organization_id, source_id=twin, target_id=original
    )
    session.flush()
    merge_id = session.scalars(select(ContactMerge.id).where(ContactMerge.source_id == twin)).one()
    return merge_id, original
