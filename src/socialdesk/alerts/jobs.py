"""Periodic task of the alerts domain: every enabled alert is checked each minute, each in its
own transactions (a read, then a short write), so one that fails (and says why in the log) does
not hold up the others."""

from __future__ import annotations

import logging

from sqlalchemy import select

from socialdesk.alerts import service
from socialdesk.alerts.models import VolumeAlert
from socialdesk.common import clock
from socialdesk.db.session import session_scope
from socialdesk.jobs.registry import periodic

log = logging.getLogger(__name__)


@periodic("alerts.check", every_minutes=1)
def check_alerts() -> None:
    now = clock.now()
    with session_scope(write=False) as session:
        ids = service.due(session)
    for alert_id in ids:
        try:
            # The counts (an hourly week of them, and what stands out when it fires) are read
            # first without the write lock, which SQLite holds for the whole write transaction.
            with session_scope(write=False) as session:
                alert = session.get(VolumeAlert, alert_id)
                if alert is None or not alert.enabled:
                    continue  # deleted or switched off since the list was read
                reading = service.read(session, alert, now=now)
            with session_scope() as session:
                alert = session.scalar(
                    select(VolumeAlert).where(VolumeAlert.id == alert_id).with_for_update()
                )
                if alert is None or not alert.enabled:
                    continue
                checked = service.check(session, alert, reading=reading)
                if checked.outcome in ("fired", "calmed"):
                    log.info(
                        "volume alert %s (%s) %s: %s messages",
                        alert.id,
                        alert.name,
                        checked.outcome,
                        checked.count,
                    )
        except Exception:
            log.exception(
                "volume alert %s could not be checked; the next minute tries again", alert_id
            )
