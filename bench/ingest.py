"""Benchmark the import flow against a bare executemany of the same rows.

    python bench/ingest.py [--smoke] [--messages N] [--db PATH] [--profile]

Builds a corpus by re-keying the real rows of ../shared/data/twcs/twcs_5000.csv to N rows
(default 1,000,000; --smoke 20,000): every copy of the 5,000 rows gets new tweet, reply and
customer ids and later times, so it is the same real texts, brands and thread shapes again.

Then, in the same run and from the same CSV file:

* flow: the real ``socialdesk import twcs`` path (``importers.twcs.import_file``) into a fresh,
  migrated SQLite database (WAL, every index and the FTS5 index of the real schema): parsing,
  brand attachment, threading, contacts, conversations and their aggregates;
* raw: ``csv.reader`` straight into ``executemany`` on a bare 7-column table (no index, no
  trigger) in another fresh SQLite file with the same journal settings.

* floor: the rows the flow stored (contacts, identities, conversations, messages), read back
  and inserted again into another fresh, migrated database of the same schema, table by table,
  in the flow's id order, with ``executemany`` and the FTS5 index filled by one statement, as
  the flow fills it. Only the inserts are timed (the rows are read back beforehand, in chunks).
  This is what storing those rows costs in this schema with no import logic at all: a ceiling
  that no import flow into this schema can pass.

``ratio`` is flow messages/s over raw rows/s (wall clock); ``ratio_cpu`` the same on the
process's CPU time, which a busy shared machine disturbs less. ``floor_ratio`` is the floor's
messages/s over raw rows/s, the most ``ratio`` could be in this schema, and ``flow_vs_floor``
the flow's messages/s over the floor's. ``floor_messages_only_ratio`` counts only the
messages' own inserts and full-text entries: the most ``ratio`` could be even if conversations,
contacts and identities were free. The flow's figure counts stored
messages only (rows the import cannot attach to a brand are read and reported but not stored,
so they do not count). --db keeps the flow's database at PATH (bench/inbox.py --db can reuse
it). --profile prints the flow's cProfile top functions (by cumulative and by own time) to
stderr.

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import json
import pstats
import resource
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from _common import migrate_fresh, skip_unless_corpus, write_corpus


def run_flow(corpus: Path, db: Path, profile: bool) -> dict[str, float | int]:
    migrate_fresh(db)
    from socialdesk.accounts import service as accounts_service
    from socialdesk.db.session import get_sessionmaker, session_scope
    from socialdesk.importers.twcs import import_file

    with session_scope() as session:
        org = accounts_service.create_organization(session, name="Bench", slug="bench")
        organization_id = org.id
    problems = 0

    def count(_problem: object) -> None:
        nonlocal problems
        problems += 1

    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    cpu_started = time.process_time()
    if profiler:
        profiler.enable()
    report = import_file(
        corpus,
        session_factory=get_sessionmaker(),
        organization_id=organization_id,
        on_problem=count,
    )
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    if profiler:
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(30)
    result = report.ingest
    return {
        "flow_seconds": round(elapsed, 3),
        "flow_cpu_seconds": round(cpu, 3),
        "flow_rows": report.rows,
        "flow_messages": result.created,
        "flow_conversations": result.conversations_created,
        "flow_contacts": result.contacts_created,
        "flow_brand_accounts": len(report.accounts_created),
        "flow_unattached_rows": report.unattached,
        "flow_bad_rows": report.bad,
        "flow_reported_lines": problems,
        "flow_rows_per_s": round(report.rows / elapsed),
        "flow_msgs_per_s": round(result.created / elapsed),
        "flow_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def run_raw(corpus: Path, db: Path) -> dict[str, float | int]:
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE bare (tweet_id TEXT, author_id TEXT, inbound TEXT, created_at TEXT, "
        "text TEXT, response_tweet_id TEXT, in_response_to_tweet_id TEXT)"
    )
    started = time.perf_counter()
    cpu_started = time.process_time()
    with corpus.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO bare VALUES (?, ?, ?, ?, ?, ?, ?)", reader)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    rows = conn.execute("SELECT count(*) FROM bare").fetchone()[0]
    conn.close()
    return {
        "raw_seconds": round(elapsed, 3),
        "raw_cpu_seconds": round(cpu, 3),
        "raw_rows": rows,
        "raw_rows_per_s": round(rows / elapsed),
    }


FLOOR_TABLES = ("organizations", "brand_accounts", "contacts", "contact_identities")
FLOOR_CHUNK = 50_000


def run_floor(flow_db: Path, db: Path) -> dict[str, float | int]:
    """Insert the flow's stored rows again into a fresh database of the same schema."""
    from sqlalchemy import create_engine

    from socialdesk.db.migrate import upgrade

    engine = create_engine(f"sqlite:///{db}")  # not the app's engine: that one is the flow's
    upgrade(engine)
    engine.dispose()
    source = sqlite3.connect(flow_db)
    target = sqlite3.connect(db, isolation_level=None)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "foreign_keys=ON",
        "cache_size=-65536",
        "temp_store=MEMORY",
    ):  # as the app's connections (db/session.py)
        target.execute(f"PRAGMA {pragma}")
    elapsed = cpu = 0.0
    per_table: dict[str, float] = {}
    wall: dict[str, float] = {}
    for table in (*FLOOR_TABLES, "conversations", "messages"):
        columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
        statement = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        )
        rows = source.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY id")
        table_cpu = table_wall = 0.0
        while chunk := rows.fetchmany(FLOOR_CHUNK):
            started, cpu_started = time.perf_counter(), time.process_time()
            target.execute("BEGIN")
            if table == "messages":  # the FTS5 trigger is paused as the flow pauses it
                target.execute("INSERT INTO messages_fts_paused (id) VALUES (1)")
            target.executemany(statement, chunk)
            if table == "messages":
                target.execute("DELETE FROM messages_fts_paused")
            target.execute("COMMIT")
            table_wall += time.perf_counter() - started
            table_cpu += time.process_time() - cpu_started
        per_table[table], wall[table] = table_cpu, table_wall
        elapsed += table_wall
        cpu += table_cpu
    started, cpu_started = time.perf_counter(), time.process_time()
    target.execute("INSERT INTO messages_fts (rowid, text) SELECT id, text FROM messages")
    fts_wall = time.perf_counter() - started
    elapsed += fts_wall
    fts_cpu = time.process_time() - cpu_started
    cpu += fts_cpu
    messages = target.execute("SELECT count(*) FROM messages").fetchone()[0]
    source.close()
    target.close()
    return {
        "floor_seconds": round(elapsed, 3),
        "floor_cpu_seconds": round(cpu, 3),
        "floor_messages": messages,
        "floor_msgs_per_s": round(messages / elapsed) if elapsed else 0,
        # The messages alone (their row, indexes and full-text entry): what storing them would
        # cost if conversations, contacts and identities cost nothing.
        "floor_messages_only_msgs_per_s": round(messages / (wall["messages"] + fts_wall)),
        "floor_cpu_us_conversations": round(per_table["conversations"] / max(messages, 1) * 1e6, 1),
        "floor_cpu_us_messages": round(per_table["messages"] / max(messages, 1) * 1e6, 1),
        "floor_cpu_us_fts": round(fts_cpu / max(messages, 1) * 1e6, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="20,000 messages")
    parser.add_argument("--messages", type=int, default=None)
    parser.add_argument("--db", type=Path, default=None, help="keep the flow's database here")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    skip_unless_corpus()
    total = args.messages or (20_000 if args.smoke else 1_000_000)

    with tempfile.TemporaryDirectory(prefix="socialdesk-bench-") as tmp:
        work = Path(tmp)
        corpus = work / "corpus.csv"
        started = time.perf_counter()
        rows = write_corpus(corpus, total)
        built = time.perf_counter() - started
        print(f"corpus: {rows} rows, {corpus.stat().st_size / 1e6:.0f} MB in {built:.1f} s")

        db = args.db or work / "flow.db"
        if args.db and db.exists():
            parser.error(f"{db} exists; --db needs a new path")
        flow = run_flow(corpus, db, args.profile)
        print(f"flow: {flow}")
        raw = run_raw(corpus, work / "raw.db")
        print(f"raw: {raw}")
        floor = run_floor(db, work / "floor.db")
        print(f"floor: {floor}")

    figures: dict[str, object] = {
        "corpus_rows": rows,
        **flow,
        **raw,
        **floor,
        "ratio": round(flow["flow_msgs_per_s"] / raw["raw_rows_per_s"], 4),
        "floor_ratio": round(floor["floor_msgs_per_s"] / raw["raw_rows_per_s"], 4),
        "floor_messages_only_ratio": round(
            floor["floor_messages_only_msgs_per_s"] / raw["raw_rows_per_s"], 4
        ),
        "flow_vs_floor": round(flow["flow_msgs_per_s"] / max(floor["floor_msgs_per_s"], 1), 4),
        # The same ratio on CPU time: the machine may be shared, and wall time then shows
        # more of the neighbours than of this code.
        "ratio_cpu": round(
            (flow["flow_messages"] / flow["flow_cpu_seconds"])
            / (raw["raw_rows"] / raw["raw_cpu_seconds"]),
            4,
        ),
    }
    if args.db:
        figures["db"] = str(args.db)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
