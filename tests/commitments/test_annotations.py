"""The promise annotations are well-formed, and the benchmark runs on them.

The labels live in the repository; the reply texts are in ../shared (tests that need them skip
when it is absent).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from socialdesk.commitments.extract import extract

ROOT = Path(__file__).resolve().parents[2]
ANNOTATIONS = ROOT / "data" / "annotations" / "commitments"


def split_rows() -> list[dict[str, str]]:
    with (ANNOTATIONS / "split.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def labels(part: str) -> list[dict[str, object]]:
    with (ANNOTATIONS / f"{part}.jsonl").open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def brand_replies(shared_dir: Path) -> dict[str, dict[str, str]]:
    rows: dict[str, dict[str, str]] = {}
    for name in ("twcs_5000.csv", "sample_threads.csv"):
        with (shared_dir / "data" / "twcs" / name).open(newline="", encoding="utf-8") as handle:
            rows.update({r["tweet_id"]: r for r in csv.DictReader(handle)})
    return rows


def test_split_is_fixed_and_disjoint() -> None:
    rows = split_rows()
    ids = [r["tweet_id"] for r in rows]
    assert len(ids) == len(set(ids))
    parts = {r["part"] for r in rows}
    assert parts == {"heldout", "dev"}
    assert sum(r["part"] == "heldout" for r in rows) >= 300
    assert sum(r["part"] == "heldout" and r["stratum"] == "random" for r in rows) == 300


@pytest.mark.parametrize("part", ["heldout", "dev"])
def test_label_files_match_the_split(part: str) -> None:
    expected = [r["tweet_id"] for r in split_rows() if r["part"] == part]
    found = labels(part)
    assert [label["tweet_id"] for label in found] == expected
    for label in found:
        promises = label["promises"]
        assert isinstance(promises, list)
        assert label["has_promise"] is bool(promises)
        assert set(label) == {"tweet_id", "stratum", "has_promise", "promises"}  # no text
        for promise in promises:
            assert 0 <= promise["start"] < promise["end"]
            assert promise["action"]
            if promise["due"] is not None:
                assert datetime.fromisoformat(promise["due"]).tzinfo is not None


def test_held_out_has_enough_promises() -> None:
    found = labels("heldout")
    assert sum(1 for label in found if label["has_promise"]) >= 50


def test_brand_zones_are_real_zones() -> None:
    zones = json.loads((ANNOTATIONS / "brand_zones.json").read_text(encoding="utf-8"))
    for zone in {zones["default"], *zones["brands"].values()}:
        ZoneInfo(zone)


@pytest.mark.parametrize("part", ["heldout", "dev"])
def test_spans_point_into_brand_replies(shared_dir: Path, part: str) -> None:
    replies = brand_replies(shared_dir)
    for label in labels(part):
        row = replies[str(label["tweet_id"])]
        assert row["inbound"] == "False"
        for promise in label["promises"]:  # type: ignore[attr-defined]
            span = row["text"][promise["start"] : promise["end"]]
            assert len(span) == promise["end"] - promise["start"]
            assert span == span.strip(), (label["tweet_id"], span)


def test_development_part_still_scores(shared_dir: Path) -> None:
    """A regression guard on the part the rules were tuned on (not the reported figure)."""
    replies = brand_replies(shared_dir)
    zones = json.loads((ANNOTATIONS / "brand_zones.json").read_text(encoding="utf-8"))
    predicted = gold = matched_predicted = matched_gold = 0
    for label in labels("dev"):
        row = replies[str(label["tweet_id"])]
        now = datetime.strptime(row["created_at"], "%a %b %d %H:%M:%S %z %Y")
        tz = ZoneInfo(zones["brands"].get(row["author_id"], zones["default"]))
        found = extract(row["text"], now=now, tz=tz)
        spans = [(p["start"], p["end"]) for p in label["promises"]]  # type: ignore[attr-defined]
        predicted += len(found)
        gold += len(spans)
        matched_predicted += sum(
            1 for p in found if any(p.start < e and s < p.end for s, e in spans)
        )
        matched_gold += sum(1 for s, e in spans if any(p.start < e and s < p.end for p in found))
    assert matched_predicted / predicted >= 0.9
    assert matched_gold / gold >= 0.9


def test_benchmark_smoke_ends_with_one_json_line(shared_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "commitments.py"), "--smoke", "--part", "dev"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env={"SOCIALDESK_SHARED_DIR": str(shared_dir), "PATH": ""},
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["smoke"] is True
    assert figures["rules"]["promise_precision"] is not None
    assert "baseline_keyword_will" in figures
