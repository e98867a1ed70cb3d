"""Periodic task of the contacts domain: conversations past their organization's retention
are erased (contacts/retention.py)."""

from __future__ import annotations

import logging

from sqlalchemy import select

from socialdesk.accounts.models import Organization
from socialdesk.common import clock
from socialdesk.contacts import retention
from socialdesk.db.session import session_scope
from socialdesk.jobs.registry import periodic

log = logging.getLogger(__name__)

RETENTION_JOB = "privacy.retention"


@periodic(RETENTION_JOB, every_minutes=60)
def apply_retention() -> None:
    """Every organization with a retention, batch after batch (each committed) until none of
    its conversations is past it."""
    with session_scope() as session:
        organization_ids = [
            o.id
            for o in session.scalars(select(Organization))
            if retention.retention_settings(session, organization_id=o.id).days is not None
        ]
    for organization_id in organization_ids:
        now = clock.now()
        while True:
            with session_scope() as session:
                pruned = retention.apply(session, organization_id=organization_id, now=now)
            if pruned.conversations:
                log.info(
                    "retention erased %d conversations of organization %d",
                    pruned.conversations,
                    organization_id,
                )
            if pruned.conversations < retention.BATCH:
                break
