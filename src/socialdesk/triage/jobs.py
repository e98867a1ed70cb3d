"""Jobs of the triage domain.

``triage.backfill`` triages stored messages that have no triage yet (imported history), one
batch per run: each run commits its batch and enqueues the next with the cursor it reached, so
a worker restart loses at most one batch and other jobs get their turn between batches.

One chain of these jobs per organization (and one for "every organization"): two imports in a
row would otherwise start two chains that read and classify the same messages, each storing
what the other has not yet (``ON CONFLICT DO NOTHING`` keeps the rows right, not the work or
the events). Two keys in the queue's storage, which every worker and the import command see,
keep it to one:

- the chain key holds the running chain's token and when it last ran a batch. An enqueue that
  cannot add it leaves the work to that chain; a job whose token is not the one held stops.
- the "more" key is set by every enqueue, after the messages it announces were committed. A
  pass that starts from the first message clears it before it reads. A pass that ends lets go
  of the chain key and then looks at "more": set, an enqueue came while the key was held and
  left its messages to this chain, which takes the key back (unless an enqueue after the
  release took it and started a chain of its own) and goes over everything again, from the
  first message: on PostgreSQL an import's ids can commit after a larger id was passed, so
  "after the cursor" is not enough, and what is triaged already costs only the look.

A chain whose worker was killed mid-batch never lets go (huey takes a job off the queue
before running it); an enqueue takes its key over when it has not run a batch for
``STALE_AFTER``. Running ``socialdesk triage backfill`` inline never waits for any of this.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta

from sqlalchemy.exc import OperationalError

from socialdesk.common import clock
from socialdesk.jobs.queue import JobQueue, get_queue
from socialdesk.jobs.registry import Payload, Retry, job
from socialdesk.triage import backfill

log = logging.getLogger(__name__)

BACKFILL_JOB = "triage.backfill"
# Far beyond one batch (seconds) and the job's retries (10 + 20 + 40 + 80 s of backoff): a
# chain this quiet has lost its next job.
STALE_AFTER = timedelta(minutes=10)


def backfill_payload(
    *,
    organization_id: int | None,
    after_id: int = 0,
    batch_size: int = backfill.DEFAULT_BATCH_SIZE,
    chain: str | None = None,
) -> Payload:
    return {
        "organization_id": organization_id,
        "after_id": after_id,
        "batch_size": batch_size,
        "chain": chain,
    }


def _scope(organization_id: int | None) -> str:
    return "all" if organization_id is None else str(organization_id)


def _chain_key(organization_id: int | None) -> str:
    return f"{BACKFILL_JOB}.chain.{_scope(organization_id)}"


def _more_key(organization_id: int | None) -> str:
    return f"{BACKFILL_JOB}.more.{_scope(organization_id)}"


def _claim(token: str) -> str:
    return json.dumps({"token": token, "at": clock.now().isoformat()})


def _token(claim: str | None) -> str | None:
    return None if claim is None else str(json.loads(claim)["token"])


def _is_stale(claim: str) -> bool:
    return clock.now() - datetime.fromisoformat(json.loads(claim)["at"]) > STALE_AFTER


def _start(
    queue: JobQueue,
    *,
    organization_id: int | None,
    batch_size: int,
    token: str,
    after_id: int = 0,
) -> None:
    """Queue the chain ``token``'s next batch (its first, from the first message, by default)."""
    queue.enqueue(
        BACKFILL_JOB,
        backfill_payload(
            organization_id=organization_id, after_id=after_id, batch_size=batch_size, chain=token
        ),
    )


def enqueue_backfill(
    *, organization_id: int | None, batch_size: int = backfill.DEFAULT_BATCH_SIZE
) -> bool:
    """See that a backfill of ``organization_id`` (or of every organization) will triage what
    was committed before this call: start a chain from the first message, or leave it to the
    chain already pending or running, which goes over again at its end. Whether a chain was
    started. For callers outside a transaction, such as the import command."""
    queue = get_queue()
    chain = _chain_key(organization_id)
    queue.put_key(_more_key(organization_id), "1")
    token = uuid.uuid4().hex
    if queue.add_key(chain, _claim(token)):
        _start(queue, organization_id=organization_id, batch_size=batch_size, token=token)
        return True
    held = queue.get_key(chain)
    if held is not None and not _is_stale(held):
        log.info(
            "triage backfill (organization %s): a chain is running; it will triage the new "
            "messages too",
            _scope(organization_id),
        )
        return False
    # Nobody ran a batch of that chain for STALE_AFTER: its worker died with the next job.
    taken = queue.pop_key(chain)
    if taken != held:
        # Refreshed by its chain, or taken over by another enqueue, in between.
        if taken is not None:
            queue.add_key(chain, taken)
        return False
    if not queue.add_key(chain, _claim(token)):
        return False
    log.warning(
        "triage backfill (organization %s): the running chain ran no batch for %s; a new one "
        "takes over from the first message",
        _scope(organization_id),
        STALE_AFTER,
    )
    _start(queue, organization_id=organization_id, batch_size=batch_size, token=token)
    return True


def _release(queue: JobQueue, organization_id: int | None, token: str) -> None:
    chain = _chain_key(organization_id)
    if _token(queue.get_key(chain)) == token:
        queue.pop_key(chain)


def _give_up(payload: Payload, reason: str) -> None:
    # The chain ends here; the next import starts one.
    token = payload.get("chain")
    if token is not None:
        raw_org = payload.get("organization_id")
        _release(get_queue(), None if raw_org is None else int(raw_org), str(token))


@job(BACKFILL_JOB, max_attempts=5, backoff_seconds=10, on_give_up=_give_up)
def run_backfill_batch(payload: Payload) -> None:
    raw_org = payload.get("organization_id")
    organization_id = None if raw_org is None else int(raw_org)
    after_id = int(payload.get("after_id", 0))
    batch_size = int(payload.get("batch_size", backfill.DEFAULT_BATCH_SIZE))
    raw_token = payload.get("chain")
    token = None if raw_token is None else str(raw_token)
    queue = get_queue()
    chain = _chain_key(organization_id)
    held = _token(queue.get_key(chain))
    if held is None:
        # A job queued before chains held a key (an upgrade), or whose chain let go: it
        # becomes the chain if no other started meanwhile.
        token = uuid.uuid4().hex
        if queue.add_key(chain, _claim(token)):
            _start(
                queue,
                organization_id=organization_id,
                batch_size=batch_size,
                token=token,
                after_id=after_id,
            )
        return
    if held != token:
        log.info(
            "triage backfill (organization %s): another chain took over; this one stops",
            _scope(organization_id),
        )
        return
    queue.put_key(chain, _claim(token))  # ran a batch just now (see STALE_AFTER)
    if after_id == 0:
        # This pass reads everything committed before now, which is all "more" announced.
        queue.pop_key(_more_key(organization_id))
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
    except Exception:
        # A bug, not to be retried (a retry would only start the chain again): the chain ends,
        # and lets go so that the next import starts one.
        _release(queue, organization_id, token)
        log.exception("triage backfill (organization %s) stopped", _scope(organization_id))
        return
    counts = outcome.counts
    log.info(
        "triage backfill (organization %s): %d triaged, %d already triaged, %d skipped, "
        "%d conversations (%d raised in priority), up to message %d%s",
        _scope(organization_id),
        counts.triaged,
        counts.already,
        counts.skipped,
        counts.conversations,
        counts.raised,
        outcome.cursor,
        "; done" if outcome.done else "",
    )

    def then(next_after: int) -> None:
        _start(
            queue,
            organization_id=organization_id,
            batch_size=batch_size,
            token=token,
            after_id=next_after,
        )

    if not outcome.done:
        then(outcome.cursor)
        return
    # The end of a pass: let go, then look whether messages were announced since the pass
    # started. An enqueue before the release left them to this chain, which takes its key back
    # and goes over everything again, from the first message (they may lie behind the cursor);
    # an enqueue after it has started a chain of its own, and this one stops.
    _release(queue, organization_id, token)
    if queue.get_key(_more_key(organization_id)) is not None and queue.add_key(
        chain, _claim(token)
    ):
        then(0)
