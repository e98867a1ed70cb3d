"""Benchmark the minute task of volume alerts: what one check costs on a busy desk.

    python bench/alerts.py [--smoke] [--messages N] [--repeat R]

Fills a fresh SQLite database (the real schema, migrated) with N customer messages (default
500,000; --smoke 20,000) spread evenly over the last 8 days, their texts the real customer
tweets of ../shared/data/twcs/twcs_5000.csv in turn, each with a stored triage row (complaint,
intent and sentiment cycling), all in one organization: a week of a desk that gets about
2,500 messages an hour at the default size. The rows are written with SQL, not through the
ingest flow, which bench/ingest.py measures.

Then, with the clock at the end of those 8 days, it times in the same run:

* bare: ``SELECT count(*)`` of the organization's triage rows of the last 30 minutes on their
  index, the least any check can read;
* check: ``alerts.service.check`` of eight alerts (no filter, complaints, a negative
  question, a channel, one word, three words, complaints with words, a one-day window), the
  usual level already worked out, as 59 of every 60 minutes run;
* refresh: the same checks when the usual level (a week of matching messages) is worked out
  again, as once an hour;
* minute: the whole minute task (``alerts.jobs.check_alerts``) over the eight alerts;
* each alert's check on its own (its own transaction, as the minute task runs it).

Each figure is the median of R runs (default 5) in milliseconds. The last line printed is one
JSON object with the figures.
"""

from __future__ import annotations

import argparse
import csv
import functools
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from _common import SOURCE, migrate_fresh, skip_unless_corpus

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SPAN = timedelta(days=8)
INTENTS = ("complaint", "question", "praise", "feedback", "idea", "other")
SENTIMENTS = ("negative", "neutral", "positive")
ALERTS: tuple[tuple[str, dict[str, Any], int], ...] = (
    ("everything", {}, 30),
    ("complaints", {"complaint": True}, 30),
    ("negative questions", {"intent": "question", "sentiment": "negative"}, 30),
    ("on email", {"channel": "email"}, 30),
    ("refund", {"words": ["refund"]}, 30),
    ("app trouble", {"words": ["app", "login", "password"]}, 30),
    ("delivery complaints", {"complaint": True, "words": ["delivery", "parcel"]}, 30),
    ("daily complaints", {"complaint": True}, 24 * 60),
)


def _texts() -> list[str]:
    with SOURCE.open(newline="", encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f) if row["inbound"] == "True"]


def fill(messages: int) -> int:
    """The organization and its week of messages; returns the organization's id."""
    from sqlalchemy import insert

    from socialdesk.accounts import service as accounts_service
    from socialdesk.channels import service as channels_service
    from socialdesk.common.clock import FrozenClock, use_clock
    from socialdesk.contacts.models import Contact
    from socialdesk.conversations.models import Conversation, Message
    from socialdesk.db.session import session_scope
    from socialdesk.triage.models import MessageTriage

    texts = _texts()
    start = NOW - SPAN
    step = SPAN / messages
    with use_clock(FrozenClock(start)), session_scope() as session:
        org = accounts_service.create_organization(session, name="Bench", slug="bench")
        accounts = [
            channels_service.create(
                session, organization_id=org.id, kind=kind, handle=f"bench-{kind}"
            )
            for kind in ("x", "email")
        ]
        contact = Contact(organization_id=org.id, name="Bench", attributes={}, created_at=start)
        session.add(contact)
        session.flush()
        conversations = []
        for account in accounts:
            conversation = Conversation(
                organization_id=org.id,
                brand_account_id=account.id,
                contact_id=contact.id,
                status="open",
                priority=1,
                subject="bench",
                message_count=0,
                created_at=start,
                last_activity_at=NOW,
                last_preview="",
            )
            session.add(conversation)
            conversations.append(conversation)
        session.flush()
        organization_id = org.id
        chunk = 20_000
        for first in range(0, messages, chunk):
            numbers = range(first, min(first + chunk, messages))
            rows = []
            labels = []
            for n in numbers:
                at = start + step * n
                conversation = conversations[n % 7 == 0]  # one in seven by email
                rows.append(
                    {
                        "id": n + 1,
                        "organization_id": organization_id,
                        "conversation_id": conversation.id,
                        "brand_account_id": conversation.brand_account_id,
                        "direction": "inbound",
                        "visibility": "public",
                        "author_contact_id": contact.id,
                        "text": texts[n % len(texts)],
                        "native_id": f"b{n}",
                        "created_at": at,
                        "received_at": at,
                        "delivery_attempts": 0,
                    }
                )
                labels.append(
                    {
                        "message_id": n + 1,
                        "organization_id": organization_id,
                        "sentiment": SENTIMENTS[(n // 2) % 3],
                        "complaint": n % 4 == 0,
                        "intent": INTENTS[n % 6],
                        "priority": "normal",
                        "language": "en",
                        "scores": {},
                        "reasons": [],
                        "tier": "bench",
                        "corrected": False,
                        "created_at": at + timedelta(seconds=1),
                    }
                )
            session.execute(insert(Message), rows)
            session.execute(insert(MessageTriage), labels)
    return organization_id


def make_alerts(organization_id: int) -> list[int]:
    from socialdesk.alerts import service
    from socialdesk.common.clock import FrozenClock, use_clock
    from socialdesk.db.session import session_scope

    ids = []
    with use_clock(FrozenClock(NOW)), session_scope() as session:
        for name, filters, window in ALERTS:
            alert = service.create(
                session,
                organization_id=organization_id,
                spec=service.AlertSpec(
                    name=name,
                    window_minutes=window,
                    threshold=10**5,  # never fires: the check, not the telling, is measured
                    notify_to="admins",
                    filters=filters,
                    baseline_factor=2.0,
                ),
                actor=None,
            )
            ids.append(alert.id)
    return ids


def median_ms(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="20,000 messages")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    skip_unless_corpus()
    messages = args.messages or (20_000 if args.smoke else 500_000)

    from sqlalchemy import func, select

    with tempfile.TemporaryDirectory(prefix="socialdesk-bench-") as tmp:
        migrate_fresh(Path(tmp) / "alerts.db")
        from socialdesk.alerts import jobs as alerts_jobs
        from socialdesk.alerts import service
        from socialdesk.alerts.models import VolumeAlert
        from socialdesk.common.clock import FrozenClock, use_clock
        from socialdesk.db.session import session_scope
        from socialdesk.triage.models import MessageTriage

        started = time.perf_counter()
        organization_id = fill(messages)
        print(f"filled {messages} messages in {time.perf_counter() - started:.1f} s")
        ids = make_alerts(organization_id)

        def bare() -> int:
            with session_scope(write=False) as session:
                return int(
                    session.scalar(
                        select(func.count())
                        .select_from(MessageTriage)
                        .where(
                            MessageTriage.organization_id == organization_id,
                            MessageTriage.created_at >= NOW - timedelta(minutes=30),
                        )
                    )
                    or 0
                )

        def check_all(*, refresh: bool) -> dict[str, int]:
            counts = {}
            with session_scope() as session:
                for alert_id in ids:
                    alert = session.get_one(VolumeAlert, alert_id)
                    if refresh:
                        alert.baseline_at = None
                    counts[alert.name] = service.check(session, alert, now=NOW).count
            return counts

        def check_one(alert_id: int) -> None:
            with session_scope() as session:
                service.check(session, session.get_one(VolumeAlert, alert_id), now=NOW)

        with use_clock(FrozenClock(NOW)):
            counts = check_all(refresh=True)  # warm, and the usual levels worked out
            per_alert = {
                name: median_ms(functools.partial(check_one, alert_id), args.repeat)
                for (name, _, _), alert_id in zip(ALERTS, ids, strict=True)
            }
            figures: dict[str, Any] = {
                "messages": messages,
                "alerts": len(ids),
                "window_messages": bare(),
                "bare_count_ms": median_ms(bare, args.repeat),
                "check_ms_per_alert": round(
                    median_ms(lambda: check_all(refresh=False), args.repeat) / len(ids), 2
                ),
                "refresh_ms_per_alert": round(
                    median_ms(lambda: check_all(refresh=True), args.repeat) / len(ids), 2
                ),
                "minute_task_ms": median_ms(alerts_jobs.check_alerts, args.repeat),
                "counts": counts,
                "check_ms": per_alert,
            }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
