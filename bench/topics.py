"""Benchmark the rising topics report: what one report costs on a busy desk, and where it goes.

    python bench/topics.py [--smoke] [--messages N] [--repeat R]

Fills a fresh SQLite database (the real schema, migrated) as bench/alerts.py does: N customer
messages (default 500,000; --smoke 20,000) spread evenly over the last 8 days, their texts the
real customer tweets of ../shared/data/twcs/twcs_5000.csv in turn, each with a stored triage
row (a complaint one time in four, intent and sentiment evenly spread), all in one
organization. Unlike there, the messages come from N / 3 customers, about three messages each,
days apart, since the report counts each customer once; and what is not the same for every
message is drawn at random (seeded: every run has the same data) rather than cycled: the
author, the triage labels, and the order of the texts, which are dealt like a deck shuffled
anew for each pass, so no pattern of the filler's own makes topics of nothing. On top of that,
the last hour holds a surge: 60 more messages from 60 new customers, real customer tweets with
"signal failure" put in the middle. The rows are written with SQL, not through the ingest flow.

Then, with the clock at the end of those 8 days, it times in the same run:

* read: the bare SQL of the 24-hour report and its usual period (the 7 days before): the same
  two counts and the same sampled SELECTs (``topics.service.rows``: a hash of the message id,
  at most 5,000 and 10,000 rows), rows fetched, no term read: the least any such report can
  cost;
* terms: ``topics.terms.terms`` of the texts of those rows alone (pure Python), so the split
  between the database and Python is visible; also given in microseconds per message;
* report: ``topics.service.report`` for the last hour, 24 hours and 7 days with no filter, and
  for 24 hours of complaints, each in its own read-only transaction.

Each figure is the median of R runs (default 5) in milliseconds, after one run to warm the
caches. As a check of the data, not of speed, it fails unless the 1-hour report names
"signal failure". The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from _common import migrate_fresh, skip_unless_corpus
from alerts import INTENTS, NOW, SENTIMENTS, SPAN, _texts, median_ms

CUSTOMER_MESSAGES = 3  # each customer writes this many of the N messages
SURGE = 60  # extra messages in the last hour, one per new customer
PHRASE = "signal failure"
REPORTS: tuple[tuple[str, int, dict[str, Any]], ...] = (
    ("1h", 60, {}),
    ("24h", 24 * 60, {}),
    ("7d", 7 * 24 * 60, {}),
    ("24h_complaints", 24 * 60, {"complaint": True}),
)
CHUNK = 20_000


def surge_text(text: str) -> str:
    """A real customer tweet with the phrase put in the middle, as its own clause."""
    words = text.split()
    middle = len(words) // 2
    return " ".join([*words[:middle], f", {PHRASE},", *words[middle:]])


def dealt(texts: list[str], rng: random.Random) -> Iterator[str]:
    """The texts in turn, in an order shuffled anew for each pass."""
    deck = list(texts)
    while True:
        rng.shuffle(deck)
        yield from deck


def fill(messages: int) -> int:
    """The organization, its customers and their week of messages with the last hour's surge;
    returns the organization's id."""
    from sqlalchemy import func, insert, select

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
    customers = max(1, messages // CUSTOMER_MESSAGES)
    rng = random.Random(2026)
    deck = dealt(texts, rng)
    with use_clock(FrozenClock(start)), session_scope() as session:
        org = accounts_service.create_organization(session, name="Bench", slug="bench")
        organization_id = org.id
        accounts = [
            channels_service.create(
                session, organization_id=organization_id, kind=kind, handle=f"bench-{kind}"
            )
            for kind in ("x", "email")
        ]
        first_contact = int(session.scalar(select(func.max(Contact.id))) or 0) + 1
        for first in range(0, customers + SURGE, CHUNK):
            session.execute(
                insert(Contact),
                [
                    {
                        "id": first_contact + c,
                        "organization_id": organization_id,
                        "name": f"Customer {c}",
                        "is_vip": False,
                        "attributes": {},
                        "created_at": start,
                    }
                    for c in range(first, min(first + CHUNK, customers + SURGE))
                ],
            )
        conversations = []
        for account in accounts:
            conversation = Conversation(
                organization_id=organization_id,
                brand_account_id=account.id,
                contact_id=first_contact,
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

        def rows(n: int, at: datetime, contact_id: int, text: str) -> tuple[dict[str, Any], ...]:
            conversation = conversations[n % 7 == 0]  # one in seven by email
            message = {
                "id": n + 1,
                "organization_id": organization_id,
                "conversation_id": conversation.id,
                "brand_account_id": conversation.brand_account_id,
                "direction": "inbound",
                "visibility": "public",
                "author_contact_id": contact_id,
                "text": text,
                "native_id": f"b{n}",
                "created_at": at,
                "received_at": at,
                "delivery_attempts": 0,
            }
            label = {
                "message_id": n + 1,
                "organization_id": organization_id,
                "sentiment": rng.choice(SENTIMENTS),
                "complaint": rng.random() < 0.25,
                "intent": rng.choice(INTENTS),
                "priority": "normal",
                "language": "en",
                "scores": {},
                "reasons": [],
                "tier": "bench",
                "corrected": False,
                "created_at": at + timedelta(seconds=1),
            }
            return message, label

        def write(batch: list[tuple[dict[str, Any], ...]]) -> None:
            session.execute(insert(Message), [message for message, _ in batch])
            session.execute(insert(MessageTriage), [label for _, label in batch])

        for first in range(0, messages, CHUNK):
            write(
                [
                    rows(
                        n,
                        start + step * n,
                        first_contact + rng.randrange(customers),
                        next(deck),
                    )
                    for n in range(first, min(first + CHUNK, messages))
                ]
            )
        # The surge: one message a minute over the last hour, each from a new customer.
        write(
            [
                rows(
                    messages + k,
                    NOW - timedelta(minutes=60) + timedelta(seconds=30 + 60 * k),
                    first_contact + customers + k,
                    surge_text(next(deck)),
                )
                for k in range(SURGE)
            ]
        )
    return organization_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="20,000 messages")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    skip_unless_corpus()
    messages = args.messages or (20_000 if args.smoke else 500_000)

    with tempfile.TemporaryDirectory(prefix="socialdesk-bench-") as tmp:
        migrate_fresh(Path(tmp) / "topics.db")
        from socialdesk.common.clock import FrozenClock, use_clock
        from socialdesk.db.session import session_scope
        from socialdesk.topics import service
        from socialdesk.topics.terms import terms

        started = time.perf_counter()
        organization_id = fill(messages)
        print(
            f"filled {messages} messages (+{SURGE} surge) in {time.perf_counter() - started:.1f} s"
        )

        period_start = NOW - timedelta(hours=24)
        usual_start, usual_end = service.usual_period(period_start, NOW)

        def read() -> list[str]:
            """The rows the 24-hour report reads, as it reads them; their texts."""
            texts: list[str] = []
            with session_scope(write=False) as session:
                for start, end, sample in (
                    (period_start, NOW, service.PERIOD_SAMPLE),
                    (usual_start, usual_end, service.USUAL_SAMPLE),
                ):
                    _, found = service.rows(
                        session,
                        organization_id=organization_id,
                        filters={},
                        start=start,
                        end=end,
                        sample=sample,
                    )
                    texts.extend(row.text or "" for row in found)
            return texts

        def extract(texts: list[str]) -> int:
            return sum(len(terms(text)) for text in texts)

        def run_report(minutes: int, filters: dict[str, Any]) -> service.Report:
            with session_scope(write=False) as session:
                return service.report(
                    session,
                    organization_id=organization_id,
                    minutes=minutes,
                    filters=filters,
                    now=NOW,
                )

        with use_clock(FrozenClock(NOW)):
            texts = read()  # warm
            extract(texts)
            found = {key: run_report(minutes, filters) for key, minutes, filters in REPORTS}
            hour = found["1h"]
            hour_terms = [topic.term for topic in hour.topics]
            surge_found = PHRASE in hour_terms
            if not surge_found:
                raise RuntimeError(
                    f"the 1-hour report does not name {PHRASE!r} among its topics: {hour_terms}"
                )
            read_ms = median_ms(read, args.repeat)
            terms_ms = median_ms(lambda: extract(texts), args.repeat)
            timed = {
                f"report_{key}_ms": median_ms(partial(run_report, minutes, filters), args.repeat)
                for key, minutes, filters in REPORTS
            }

    day = found["24h"]
    figures: dict[str, Any] = {
        "messages": messages,
        "contacts": max(1, messages // CUSTOMER_MESSAGES) + SURGE,
        "surge": SURGE,
        "surge_found": surge_found,
        "read_24h_rows": len(texts),
        "read_24h_ms": read_ms,
        "terms_24h_ms": terms_ms,
        "terms_us_per_message": round(terms_ms * 1000 / max(1, len(texts)), 2),
        **timed,
        "samples": {
            key: {
                "period_messages": report.period.messages,
                "period_read": report.period.read,
                "period_customers": report.period.customers,
                "usual_messages": report.usual.messages,
                "usual_read": report.usual.read,
                "usual_customers": report.usual.customers,
                "topics": [topic.term for topic in report.topics],
            }
            for key, report in found.items()
        },
    }
    print(
        f"24 hours and its usual week: {day.period.messages} + {day.usual.messages} messages, "
        f"{len(texts)} read"
    )
    print(f"read (bare SQL, no terms): {read_ms} ms")
    print(f"terms of those rows: {terms_ms} ms ({figures['terms_us_per_message']} us per message)")
    for key, report in found.items():
        named = ", ".join(topic.term for topic in report.topics[:5]) or "none"
        print(
            f"report {key}: {timed[f'report_{key}_ms']} ms "
            f"(read {report.period.read} of {report.period.messages} and "
            f"{report.usual.read} of {report.usual.messages}; topics: {named})"
        )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
