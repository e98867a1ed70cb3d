"""Jobs of the triage domain.

``triage.backfill`` triages stored messages that have no triage yet (imported history), one
batch per run: each run commits its batch and enqueues the next with the cursor it reached, so
a worker restart loses at most one batch and other jobs get their turn between batches.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError

from socialdesk.jobs.queue import get_queue
from socialdesk.jobs.registry import Payload, Retry, job
from socialdesk.triage import backfill

log = logging.getLogger(__name__)

BACKFILL_JOB = "triage.backfill"


def backfill_payload(
    *,
    organization_id: int | None,
    after_id: int = 0,
    batch_size: int = backfill.DEFAULT_BATCH_SIZE,
) -> Payload:
    return {"organization_id": organization_id, "after_id": after_id, "batch_size": batch_size}


def enqueue_backfill(
    *, organization_id: int | None, batch_size: int = backfill.DEFAULT_BATCH_SIZE
) -> None:
    """Start a backfill from the first message (of ``organization_id``, or of every
    organization). For callers outside a transaction, such as the import command."""
    get_queue().enqueue(
        BACKFILL_JOB, backfill_payload(organization_id=organization_id, batch_size=batch_size)
    )


@job(BACKFILL_JOB, max_attempts=5, backoff_seconds=10)
def run_backfill_batch(payload: Payload) -> None:
    raw_org = payload.get("organization_id")
    organization_id = None if raw_org is None else int(raw_org)
    after_id = int(payload.get("after_id", 0))
    batch_size = int(payload.get("batch_size", backfill.DEFAULT_BATCH_SIZE))
    try:
        outcome = backfill.run_batch(
            organization_id=organization_id, after_id=after_id, batch_size=batch_size
        )
    except backfill.BatchFailed as exc:
        # Deadlocks or lock waits that the batch's own quick retries did not outlast (an import
        # updating the same conversations): the batch rolled back and is still to do, later.
        raise Retry(exc.cause) from exc
    except OperationalError as exc:
        # Any other operational error (the server went away, a full disk): the batch rolled
        # back; the queue tries it again after its backoff, and gives up after its attempts.
        raise Retry(f"database error: {exc.orig}") from exc
    counts = outcome.counts
    log.info(
        "triage backfill (organization %s): %d triaged, %d already triaged, %d skipped, "
        "%d conversations (%d raised in priority), up to message %d%s",
        "all" if organization_id is None else organization_id,
        counts.triaged,
        counts.already,
        counts.skipped,
        counts.conversations,
        counts.raised,
        outcome.cursor,
        "; done" if outcome.done else "",
    )
    if not outcome.done:
        get_queue().enqueue(
            BACKFILL_JOB,
            backfill_payload(
                organization_id=organization_id, after_id=outcome.cursor, batch_size=batch_size
            ),
        )
