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

``ratio`` is flow messages/s over raw rows/s (wall clock); ``ratio_cpu`` the same on the
process's CPU time, which a busy shared machine disturbs less. The flow's figure counts stored
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

    figures = {
        "corpus_rows": rows,
        **flow,
        **raw,
        "ratio": round(flow["flow_msgs_per_s"] / raw["raw_rows_per_s"], 4),
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
