"""Benchmark the desk's reads through the real HTTP app.

    python bench/inbox.py [--smoke] [--db PATH] [--messages N] [--requests N]

Without --db it fills a fresh SQLite database through the real import path
(``importers.twcs.import_file``) with the re-keyed twcs corpus of bench/ingest.py: 1,000,000
messages (--smoke: 20,000). With --db it reuses such a database (``bench/ingest.py --db PATH``
keeps one), migrated to the current schema first. It adds a bench member with a token, and
tags and assigns about 2% of the conversations once, so the filtered lists have something to
find.

Then it starts uvicorn on a loopback port in a separate process (the app as ``socialdesk
serve`` runs it, without the job worker) and measures with httpx, one request at a time,
keep-alive, each endpoint warmed up first:

* inbox: ``GET /api/conversations`` (open conversations, newest activity first, 50 a page);
* inbox_counts: ``GET /api/conversations/counts`` (the numbers beside the filters);
* inbox_counts_search: ``GET /api/conversations/counts?q=WORD``, the numbers beside the filters
  with a search, over the words of ``search``;
* inbox_counts_search_customer: the same with the customers' names of ``search_customer``;
* inbox_tag: ``GET /api/conversations?tag=billing``;
* inbox_mine: ``GET /api/conversations?assignee=me``;
* inbox_awaiting: ``GET /api/conversations?awaiting=customer`` (open conversations the brand
  answered last: few in an import, where such a thread is resolved, so the hardest case);
* inbox_page2: the second page of the inbox (cursor);
* search: ``GET /api/conversations?q=WORD`` over several words;
* search_customer: ``GET /api/conversations?q=NAME`` with the names of a sample of customers
  (found through the customers' name index as well as the messages' full-text index);
* open_conversation: ``GET /api/conversations/{id}`` then ``/messages``, timed together;
* html_inbox: ``GET /`` (the desk's inbox page) with a login session cookie;
* html_conversation: ``GET /conversations/{id}``, the conversation's page with its side panels;
* html_customers: ``GET /contacts``, the Customers page (recently active first);
* html_customers_search: ``GET /contacts?q=NAME``, the Customers page's search, with the names
  of ``search_customer``;
* html_customer: ``GET /contacts/{id}``, a customer's own page.

The last line printed is one JSON object with p50 and p95 milliseconds per endpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from _common import ROOT, migrate_fresh, percentile, skip_unless_corpus, use_database, write_corpus

SEARCH_WORDS = ("refund", "iphone", "battery", "flight", "delivery", "password", "update", "wifi")
TAG = "billing"
SHARE = 50  # every 50th conversation is tagged, and every 50th (offset) assigned


def fill(db: Path, messages: int) -> None:
    from socialdesk.accounts import service as accounts_service
    from socialdesk.db.session import get_sessionmaker, session_scope
    from socialdesk.importers.twcs import import_file

    migrate_fresh(db)
    corpus = db.parent / "corpus.csv"
    write_corpus(corpus, messages)
    with session_scope() as session:
        org = accounts_service.create_organization(session, name="Bench", slug="bench")
        organization_id = org.id
    started = time.perf_counter()
    report = import_file(
        corpus, session_factory=get_sessionmaker(), organization_id=organization_id
    )
    print(f"filled: {report.ingest.created} messages in {time.perf_counter() - started:.0f} s")
    corpus.unlink()


def prepare() -> dict[str, Any]:
    """A member with an API token and a login session; tags and assignments to filter on."""
    from sqlalchemy import func, insert, select, update

    from socialdesk.accounts import service as accounts_service
    from socialdesk.accounts.models import Member, Organization, Role
    from socialdesk.contacts.models import Contact
    from socialdesk.conversations.models import Conversation, ConversationTag, Message
    from socialdesk.db.session import session_scope

    with session_scope() as session:
        org = session.scalars(
            select(Organization)
            .join(Conversation, Conversation.organization_id == Organization.id)
            .group_by(Organization.id)
            .order_by(func.count(Conversation.id).desc())
            .limit(1)
        ).first()
        if org is None:
            raise SystemExit("the database has no conversations: fill it first")
        email = "inbox-bench@example.org"
        member = session.scalar(select(Member).where(Member.email == email))
        if member is None:
            member = accounts_service.create_member(
                session,
                organization_id=org.id,
                email=email,
                name="Inbox Bench",
                role=Role.OWNER,
                password=os.urandom(12).hex(),
            )
        token = accounts_service.create_api_token(session, member=member, name="bench").token
        cookie = accounts_service.start_session(session, member=member, source_address=None).token
        tagged = session.scalar(
            select(func.count()).select_from(ConversationTag).where(ConversationTag.name == TAG)
        )
        if not tagged:
            ids = session.scalars(
                select(Conversation.id)
                .where(Conversation.organization_id == org.id, Conversation.id % SHARE == 0)
                .order_by(Conversation.id)
            ).all()
            session.execute(
                insert(ConversationTag),
                [{"conversation_id": i, "name": TAG, "organization_id": org.id} for i in ids],
            )
            session.execute(
                update(Conversation)
                .where(Conversation.organization_id == org.id, Conversation.id % SHARE == 1)
                .values(assignee_id=member.id)
            )
        counts = session.execute(
            select(func.count(Conversation.id), func.max(Conversation.id)).where(
                Conversation.organization_id == org.id
            )
        ).one()
        messages = session.scalar(
            select(func.count(Message.id)).where(Message.organization_id == org.id)
        )
        # Conversations to open: a fixed random sample, half of them with several messages.
        rng = random.Random(7)
        longer = session.scalars(
            select(Conversation.id)
            .where(Conversation.organization_id == org.id, Conversation.message_count > 1)
            .limit(2000)
        ).all()
        sample = [rng.randint(1, counts[1]) for _ in range(200)] + list(longer)
        existing = set(session.scalars(select(Conversation.id).where(Conversation.id.in_(sample))))
        open_ids = [i for i in sample if i in existing]
        rng.shuffle(open_ids)
        contact_ids = [
            c
            for c in session.scalars(
                select(Conversation.contact_id).where(Conversation.id.in_(open_ids[:200]))
            )
            if c is not None
        ]
        customer_names = [
            name
            for name in session.scalars(select(Contact.name).where(Contact.id.in_(contact_ids)))
            if name
        ]
    return {
        "token": token,
        "cookie": cookie,
        "conversations": counts[0],
        "messages": messages,
        "open_ids": open_ids,
        "contact_ids": contact_ids,
        "customer_names": customer_names,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(url: str, var_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SOCIALDESK_DATABASE_URL": url,
        "SOCIALDESK_VAR_DIR": str(var_dir),
        "SOCIALDESK_JOBS_BACKEND": "memory",
        "PYTHONPATH": str(ROOT / "src"),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "socialdesk.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )


def measure(call: Callable[[int], None], requests: int, warmup: int = 5) -> list[float]:
    for i in range(warmup):
        call(i)
    times = []
    for i in range(requests):
        started = time.perf_counter()
        call(i)
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="20,000 messages, fewer requests")
    parser.add_argument("--db", type=Path, default=None, help="reuse this database")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None, help="timed requests per endpoint")
    args = parser.parse_args()
    requests = args.requests or (30 if args.smoke else 200)

    import httpx

    with tempfile.TemporaryDirectory(prefix="socialdesk-inbox-") as tmp:
        work = Path(tmp)
        if args.db:
            if not args.db.is_file():
                parser.error(f"{args.db} does not exist")
            db = args.db.resolve()
            migrate_fresh(db)  # a database kept by an older version gains the newer tables
            url = use_database(db)
            os.environ["SOCIALDESK_VAR_DIR"] = str(work)
        else:
            skip_unless_corpus()
            db = work / "inbox.db"
            fill(db, args.messages or (20_000 if args.smoke else 1_000_000))
            url = use_database(db)
        setup = prepare()
        print(f"database: {setup['messages']} messages, {setup['conversations']} conversations")

        port = free_port()
        server = start_server(url, work, port)
        try:
            base = f"http://127.0.0.1:{port}"
            api = httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {setup['token']}"}, timeout=60
            )
            for _ in range(300):
                try:
                    if api.get("/api/conversations", params={"limit": 1}).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
            else:
                raise SystemExit("the server did not answer within 60 s")

            def get(path: str, **params: Any) -> httpx.Response:
                response = api.get(path, params=params)
                response.raise_for_status()
                return response

            cursor = get("/api/conversations").json()["next_cursor"]
            open_ids = setup["open_ids"]

            def open_conversation(i: int) -> None:
                cid = open_ids[i % len(open_ids)]
                get(f"/api/conversations/{cid}")
                get(f"/api/conversations/{cid}/messages")

            web = httpx.Client(base_url=base, cookies={"sd_session": setup["cookie"]}, timeout=60)

            def page(path: str) -> None:
                response = web.get(path)
                response.raise_for_status()
                assert "text/html" in response.headers["content-type"]

            def html_inbox(_i: int) -> None:
                page("/")

            def html_conversation(i: int) -> None:
                page(f"/conversations/{open_ids[i % len(open_ids)]}")

            contact_ids = setup["contact_ids"]

            def html_customer(i: int) -> None:
                page(f"/contacts/{contact_ids[i % len(contact_ids)]}")

            def fetch(path: str, **params: Any) -> Callable[[int], None]:
                def run(_i: int) -> None:
                    get(path, **params)

                return run

            def search(i: int) -> None:
                get("/api/conversations", q=SEARCH_WORDS[i % len(SEARCH_WORDS)])

            customer_names = setup["customer_names"]

            def search_customer(i: int) -> None:
                get("/api/conversations", q=customer_names[i % len(customer_names)])

            def counts_search(i: int) -> None:
                get("/api/conversations/counts", q=SEARCH_WORDS[i % len(SEARCH_WORDS)])

            def counts_search_customer(i: int) -> None:
                get("/api/conversations/counts", q=customer_names[i % len(customer_names)])

            def html_customers_search(i: int) -> None:
                name = customer_names[i % len(customer_names)]
                page(f"/contacts?q={quote(name)}")

            endpoints: dict[str, Callable[[int], None]] = {
                "inbox": fetch("/api/conversations"),
                "inbox_counts": fetch("/api/conversations/counts"),
                "inbox_counts_search": counts_search,
                "inbox_counts_search_customer": counts_search_customer,
                "inbox_tag": fetch("/api/conversations", tag=TAG),
                "inbox_mine": fetch("/api/conversations", assignee="me"),
                "inbox_awaiting": fetch("/api/conversations", awaiting="customer"),
                "inbox_page2": fetch("/api/conversations", cursor=cursor),
                "search": search,
                "search_customer": search_customer,
                "open_conversation": open_conversation,
                "html_inbox": html_inbox,
                "html_conversation": html_conversation,
                "html_customers": lambda _i: page("/contacts"),
                "html_customers_search": html_customers_search,
                "html_customer": html_customer,
            }
            figures: dict[str, Any] = {
                "messages": setup["messages"],
                "conversations": setup["conversations"],
                "requests_per_endpoint": requests,
            }
            for name, call in endpoints.items():
                times = measure(call, requests)
                p50, p95 = percentile(times, 50), percentile(times, 95)
                figures[f"{name}_p50_ms"] = round(p50, 1)
                figures[f"{name}_p95_ms"] = round(p95, 1)
                print(f"{name:28s} p50 {p50:7.1f} ms   p95 {p95:7.1f} ms")
        finally:
            server.terminate()
            server.wait(timeout=30)
    figures["worst_p95_ms"] = max(v for k, v in figures.items() if k.endswith("_p95_ms"))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
