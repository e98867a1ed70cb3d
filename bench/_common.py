"""What bench/ingest.py and bench/inbox.py share: the re-keyed twcs corpus, a fresh migrated
SQLite database, and percentiles."""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
SHARED_TWCS = ROOT.parent / "shared" / "data" / "twcs"
SOURCE = SHARED_TWCS / "twcs_5000.csv"

# Each copy of the source shifts its ids by this much: twcs tweet and user ids stay below 3.2M.
ID_STRIDE = 10_000_000


def skip_unless_corpus() -> None:
    """Benchmarks read the real corpus beside the repo; without it they say so and stop."""
    if not SOURCE.is_file():
        reason = f"the twcs corpus is not at {SOURCE}"
        print(reason)
        print(json.dumps({"skipped": reason}))
        raise SystemExit(0)


def _shift(value: str, offset: int) -> str:
    value = value.strip()
    if not value:
        return value
    return str(int(value.split(".", 1)[0]) + offset)


def rekeyed_rows(total: int) -> Iterator[list[str]]:
    """``total`` rows made from the real corpus rows: copy k adds k * ID_STRIDE to every tweet
    id, reply id and customer id (brands keep their handles) and moves its times k hours on, so
    each copy is a new set of the same real threads, texts and brands."""
    from socialdesk.importers.twcs import format_time, parse_time

    with SOURCE.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        source = list(reader)
    col = {name: header.index(name) for name in header}
    times = [parse_time(r[col["created_at"]]) for r in source]
    produced = 0
    for copy in range(math.ceil(total / len(source))):
        offset = copy * ID_STRIDE
        later = timedelta(hours=copy)
        for row, when in zip(source, times, strict=True):
            if produced == total:
                return
            out = list(row)
            out[col["tweet_id"]] = _shift(row[col["tweet_id"]], offset)
            out[col["in_response_to_tweet_id"]] = _shift(
                row[col["in_response_to_tweet_id"]], offset
            )
            out[col["response_tweet_id"]] = ",".join(
                _shift(r, offset) for r in row[col["response_tweet_id"]].split(",") if r.strip()
            )
            if row[col["inbound"]] == "True":
                out[col["author_id"]] = _shift(row[col["author_id"]], offset)
            out[col["created_at"]] = format_time(when + later)
            produced += 1
            yield out


def write_corpus(path: Path, total: int) -> int:
    """Write the re-keyed corpus as a twcs CSV file; returns the number of rows."""
    from socialdesk.importers.twcs import COLUMNS

    n = 0
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for row in rekeyed_rows(total):
            writer.writerow(row)
            n += 1
    return n


def use_database(path: Path) -> str:
    """Point socialdesk at a SQLite file (before anything reads the settings)."""
    url = f"sqlite:///{path}"
    os.environ["SOCIALDESK_DATABASE_URL"] = url
    os.environ["SOCIALDESK_VAR_DIR"] = str(path.parent)
    os.environ.setdefault("SOCIALDESK_JOBS_BACKEND", "memory")
    return url


def migrate_fresh(path: Path) -> None:
    from socialdesk.db.migrate import upgrade
    from socialdesk.db.session import get_engine

    use_database(path)
    upgrade(get_engine())


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]
