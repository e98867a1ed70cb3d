"""Benchmark promise detection and due-time resolution on annotated real brand replies.

    python bench/commitments.py [--smoke] [--part heldout|dev] [--errors]

Reads the labels in ``data/annotations/commitments/`` (ids only) and the reply texts from
``../shared/data/twcs/`` (skips with a reason when that folder is absent). Measures, on the
held-out part unless told otherwise:

* per promise (the headline): a predicted promise is correct when its span overlaps a gold
  promise of the same reply; a gold promise is found when some predicted span overlaps it;
* per reply: does the reply make at least one promise;
* due time: of the found gold promises that state a time, the share whose predicted due is the
  same instant as the gold due; and of the found ones that state none, the share given a time
  anyway;
* the rules' figures for each stratum of the part (random, oversample, time, extra);
* the same figures for a keyword baseline: every sentence with "will" or "'ll" that is not a
  question is a promise, its due read by the same time parser.

The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from socialdesk.commitments.extract import extract  # noqa: E402 - after the path set-up above
from socialdesk.commitments.timeparse import resolve_due  # noqa: E402

ANNOTATIONS = ROOT / "data" / "annotations" / "commitments"
TWCS_FILES = ("twcs_5000.csv", "sample_threads.csv")
SMOKE_REPLIES = 200


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    due: datetime | None


@dataclass(frozen=True)
class Reply:
    tweet_id: str
    stratum: str
    text: str
    now: datetime
    tz: ZoneInfo
    gold: tuple[Span, ...]


Detector = Callable[[Reply], list[Span]]


def shared_dir() -> Path:
    return Path(os.environ.get("SOCIALDESK_SHARED_DIR", ROOT.parent / "shared"))


def load(part: str, twcs_dir: Path) -> list[Reply]:
    texts: dict[str, dict[str, str]] = {}
    for name in TWCS_FILES:
        with (twcs_dir / name).open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                texts[row["tweet_id"]] = row
    zones = json.loads((ANNOTATIONS / "brand_zones.json").read_text(encoding="utf-8"))
    replies = []
    with (ANNOTATIONS / f"{part}.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            label = json.loads(line)
            row = texts[label["tweet_id"]]
            zone = ZoneInfo(zones["brands"].get(row["author_id"], zones["default"]))
            now = datetime.strptime(row["created_at"], "%a %b %d %H:%M:%S %z %Y")
            gold = tuple(
                Span(p["start"], p["end"], datetime.fromisoformat(p["due"]) if p["due"] else None)
                for p in label["promises"]
            )
            replies.append(Reply(label["tweet_id"], label["stratum"], row["text"], now, zone, gold))
    return replies


def rules(reply: Reply) -> list[Span]:
    return [Span(p.start, p.end, p.due) for p in extract(reply.text, now=reply.now, tz=reply.tz)]


_KEYWORD = re.compile(r"\bwill\b|'ll\b|\u2019ll\b", re.IGNORECASE)
_SENTENCE = re.compile(r"[^.!?\n]+[.!?]*")


def keyword_baseline(reply: Reply) -> list[Span]:
    spans = []
    for match in _SENTENCE.finditer(reply.text):
        sentence = match.group(0)
        if _KEYWORD.search(sentence) and not sentence.rstrip().endswith("?"):
            found = resolve_due(sentence, now=reply.now, tz=reply.tz)
            spans.append(Span(match.start(), match.end(), found.due if found else None))
    return spans


def overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def score(replies: Iterable[Reply], predictions: dict[str, list[Span]]) -> dict[str, object]:
    tp_reply = fp_reply = fn_reply = 0
    pred_total = pred_ok = gold_total = gold_found = 0
    timed_found = timed_right = untimed_found = untimed_given_time = 0
    for reply in replies:
        predicted = predictions[reply.tweet_id]
        if reply.gold and predicted:
            tp_reply += 1
        elif predicted:
            fp_reply += 1
        elif reply.gold:
            fn_reply += 1
        pred_total += len(predicted)
        pred_ok += sum(1 for p in predicted if any(overlaps(p, g) for g in reply.gold))
        for gold in reply.gold:
            gold_total += 1
            match = next((p for p in predicted if overlaps(p, gold)), None)
            if match is None:
                continue
            gold_found += 1
            if gold.due is not None:
                timed_found += 1
                timed_right += match.due is not None and match.due == gold.due
            else:
                untimed_found += 1
                untimed_given_time += match.due is not None
    precision = ratio(pred_ok, pred_total)
    recall = ratio(gold_found, gold_total)
    f1 = (
        round(2 * precision * recall / (precision + recall), 4)
        if precision is not None and recall is not None and precision + recall
        else None
    )
    return {
        "promise_precision": precision,
        "promise_recall": recall,
        "promise_f1": f1,
        "reply_precision": ratio(tp_reply, tp_reply + fp_reply),
        "reply_recall": ratio(tp_reply, tp_reply + fn_reply),
        "due_exact": ratio(timed_right, timed_found),
        "due_exact_n": timed_found,
        "false_time_rate": ratio(untimed_given_time, untimed_found),
        "predicted": pred_total,
        "gold": gold_total,
    }


def show_errors(replies: list[Reply], predictions: dict[str, list[Span]]) -> None:
    for reply in replies:
        predicted = predictions[reply.tweet_id]
        wrong = [p for p in predicted if not any(overlaps(p, g) for g in reply.gold)]
        missed = [g for g in reply.gold if not any(overlaps(p, g) for p in predicted)]
        late = [
            (g, p)
            for g in reply.gold
            for p in predicted[:1]
            if overlaps(p, g) and g.due is not None and p.due != g.due
        ]
        if wrong or missed or late:
            print(f"--- {reply.tweet_id} {reply.now.astimezone(reply.tz):%a %Y-%m-%d %H:%M %Z}")
            print(f"    {reply.text!r}")
            for p in wrong:
                print(f"    FP  {reply.text[p.start : p.end]!r}")
            for g in missed:
                print(f"    FN  {reply.text[g.start : g.end]!r}")
            for g, p in late:
                due = p.due.isoformat() if p.due else None
                print(f"    DUE gold {g.due.isoformat() if g.due else None} got {due}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help=f"first {SMOKE_REPLIES} replies only")
    parser.add_argument("--part", choices=("heldout", "dev"), default="heldout")
    parser.add_argument("--errors", action="store_true", help="print each wrong reply")
    args = parser.parse_args()

    twcs_dir = shared_dir() / "data" / "twcs"
    if not all((twcs_dir / name).exists() for name in TWCS_FILES):
        reason = f"reply texts not found under {twcs_dir}; set SOCIALDESK_SHARED_DIR"
        print(reason)
        print(json.dumps({"skipped": reason}))
        return

    replies = load(args.part, twcs_dir)
    if args.smoke:
        replies = replies[:SMOKE_REPLIES]

    started = time.perf_counter()
    predicted = {reply.tweet_id: rules(reply) for reply in replies}
    elapsed = time.perf_counter() - started
    baseline = {reply.tweet_id: keyword_baseline(reply) for reply in replies}

    random_part = [r for r in replies if r.stratum == "random"]
    result: dict[str, object] = {
        "part": args.part,
        "smoke": args.smoke,
        "replies": len(replies),
        "replies_with_promises": sum(1 for r in replies if r.gold),
        "headline": "promise-level precision and recall (span overlap)",
        "rules": score(replies, predicted),
        "rules_random_stratum": score(random_part, predicted),
        "baseline_keyword_will": score(replies, baseline),
        "baseline_random_stratum": score(random_part, baseline),
        "rules_by_stratum": {
            stratum: score([r for r in replies if r.stratum == stratum], predicted)
            for stratum in sorted({r.stratum for r in replies})
        },
        "messages_per_second": round(len(replies) / elapsed, 1) if elapsed else None,
    }
    if args.errors:
        show_errors(replies, predicted)
    for name in (
        "rules",
        "rules_random_stratum",
        "baseline_keyword_will",
        "baseline_random_stratum",
    ):
        figures = result[name]
        assert isinstance(figures, dict)
        print(
            f"{name:26} P={figures['promise_precision']} R={figures['promise_recall']} "
            f"reply P={figures['reply_precision']} R={figures['reply_recall']} "
            f"due exact={figures['due_exact']} (n={figures['due_exact_n']})"
        )
    by_stratum = result["rules_by_stratum"]
    assert isinstance(by_stratum, dict)
    for stratum, figures in by_stratum.items():
        print(
            f"  rules, {stratum:17} P={figures['promise_precision']} "
            f"R={figures['promise_recall']} due exact={figures['due_exact']} "
            f"(n={figures['due_exact_n']}) of {figures['gold']} gold, {figures['predicted']} found"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
