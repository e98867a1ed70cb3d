"""How long the code-of-conduct check takes: a 280-character draft against a 1,000-rule policy.

    python bench/policy.py [--smoke]

The policy has 1,000 rules of every kind (mostly forbidden terms and topics, as real codes of
conduct have); drafts are brand replies from the public customer-support corpus in ../shared
(padded or cut to 280 characters, some with a forbidden word, a link, an emoji or a hashtag
added), or generated sentences when that corpus is absent. The process is pinned to one core.

Figures: p50 and p99 over drafts of the full check (all rules, length, signature) with warm
caches, as a long-running server has them; each draft is checked 5 times and its fastest run
kept, so time stolen by other processes on a shared machine does not count (single runs and
per-thread CPU time are reported too). Also p99 with the matcher's per-word caches emptied
before every check (a cold start). Each draft is 276 characters and the signature " ^JD" makes
it 280, a full-length post on X.

The baseline, measured in the same run on the same drafts, is the naive design: one compiled
regular expression per rule, all run over the draft (it finds far less: no inflections,
leetspeak, separators or hashtag compounds).

The last line is one JSON object with the figures. Target: p99 under 1,000 microseconds.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import statistics
import sys
import time
from pathlib import Path

from socialdesk.connectors.base import ChannelKind, Visibility
from socialdesk.policy import check, compile_policy, policy_from_data
from socialdesk.policy import matcher as matcher_module

RULES = 1000
DRAFT_CHARS = 280
SIGNATURE = "JD"
# The draft and the signature the gateway appends (" ^JD") make 280 characters together, a
# full-length post on X.
BODY_CHARS = DRAFT_CHARS - len(" ^" + SIGNATURE)
TARGET_P99_US = 1000
REPEAT = 5
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "data" / "twcs" / "twcs_5000.csv"

_SYLLABLES = ["ba", "ko", "ri", "zu", "me", "ta", "lo", "ven", "dar", "qui", "sol", "mex", "pra"]


def _pseudo_word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))


def build_policy(rng: random.Random) -> dict[str, object]:
    """1,000 rules: 900 term rules (5 terms each; every 10th has a phrase, every 20th a word
    people really write, every 25th a built-in topic), and 20 rules of each other kind."""
    real_terms = [
        "beer", "wine", "vodka", "booze", "drunk", "cocktail", "casino", "lottery", "lawsuit",
        "competitor", "free money", "crypto", "politics", "idiot", "scam", "lawyer",
    ]  # fmt: skip
    rules: list[dict[str, object]] = []
    topics = ["alcohol", "gambling", "tobacco", "drugs"]
    for i in range(900):
        terms = [_pseudo_word(rng) for _ in range(5)]
        if i % 20 == 0:
            terms[0] = rng.choice(real_terms)
        if i % 10 == 0:
            terms.append(f"{_pseudo_word(rng)} {_pseudo_word(rng)}")
        rule: dict[str, object] = {
            "id": f"terms-{i}",
            "explain": f"Clause {i} of the code of conduct.",
            "action": rng.choice(["warn", "approve", "block"]),
            "terms": terms,
        }
        if i % 25 == 0:
            rule["topics"] = [rng.choice(topics)]
        rules.append(rule)
    for i in range(20):
        rules.append(
            {
                "id": f"links-{i}",
                "explain": "Only our own sites.",
                "action": "approve",
                "allowed_domains": [f"brand{i}.example.com", "support.example.com"],
            }
        )
        rules.append(
            {
                "id": f"pii-{i}",
                "explain": "No personal data in public.",
                "action": "block",
                "personal_data": ["email", "phone", "card"],
                "patterns": {f"order-{i}": rf"\bORD{i}-\d{{6}}\b"},
            }
        )
        rules.append(
            {
                "id": f"tone-{i}",
                "explain": "Be kind.",
                "action": "block",
                "tone": ["hostile", "shouting", "profanity"],
            }
        )
        rules.append(
            {
                "id": f"required-{i}",
                "explain": "Promotions carry #ad.",
                "action": "warn",
                "required_text": ["#ad", "#sponsored"],
                "when_topics": ["promotion"],
            }
        )
        rules.append(
            {
                "id": f"limits-{i}",
                "explain": "Not spammy.",
                "action": "warn",
                "max_mentions": 3,
                "max_hashtags": 3,
            }
        )
    assert len(rules) == RULES
    return {"name": "bench", "rules": rules}


def load_drafts(rng: random.Random, n: int) -> tuple[list[str], str]:
    texts: list[str] = []
    source = "generated"
    if CORPUS.exists():
        with CORPUS.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                if row.get("inbound", "").strip().lower() == "false" and row.get("text"):
                    texts.append(" ".join(row["text"].split()))
        source = "twcs brand replies"
    if not texts:
        words = [
            "thanks",
            "for",
            "reaching",
            "out",
            "we",
            "are",
            "sorry",
            "to",
            "hear",
            "that",
            "please",
            "send",
            "us",
            "a",
            "DM",
        ]
        texts = [" ".join(rng.choice(words) for _ in range(40)) for _ in range(200)]
    extras = ["Beer and burgers on the weekend!", "https://support.example.com/help",
              "#BeerTime", "🍺", "b.e.e.r", "call +44 20 7946 0958", "PLEASE READ THIS NOW",
              "promo code SAVE10", "@bob@example.social", "日本語で", "v0dka"]  # fmt: skip
    drafts = []
    for i in range(n):
        text = texts[i % len(texts)]
        while len(text) < BODY_CHARS:
            text += " " + rng.choice(texts)
        if i % 3 == 0:
            cut = rng.randint(0, BODY_CHARS - 40)
            text = text[:cut] + " " + rng.choice(extras) + " " + text[cut:]
        drafts.append(text[:BODY_CHARS].rstrip().ljust(BODY_CHARS, "."))
    return drafts, source


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def naive_baseline(policy_data: dict[str, object]) -> list[re.Pattern[str]]:
    """One regular expression per rule, as a first implementation would write it."""
    patterns = []
    for rule in policy_data["rules"]:  # type: ignore[attr-defined]
        if "terms" in rule:
            alternatives = "|".join(re.escape(t) for t in rule["terms"])
            patterns.append(re.compile(rf"\b(?:{alternatives})\w*", re.IGNORECASE))
        elif "allowed_domains" in rule:
            patterns.append(re.compile(r"https?://([^/\s]+)"))
        elif "personal_data" in rule:
            patterns.append(re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+|\+?\d[\d ()-]{6,}\d"))
        elif "tone" in rule:
            patterns.append(re.compile(r"\b(?:stupid|idiot|shut up|damn)\b|[A-Z ]{12,}"))
        elif "required_text" in rule:
            patterns.append(re.compile(r"#ad\b|#sponsored\b", re.IGNORECASE))
        else:
            patterns.append(re.compile(r"[@#]\w+"))
    return patterns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--smoke", action="store_true", help="a short run for CI")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    rng = random.Random(20240601)
    data = build_policy(rng)
    started = time.perf_counter()
    compiled = compile_policy(policy_from_data(data))
    compile_ms = (time.perf_counter() - started) * 1000
    n = 300 if args.smoke else 3000
    drafts, source = load_drafts(rng, n * 2)
    warmup, measured = drafts[:n], drafts[n:]

    def run(text: str) -> None:
        check(
            compiled, text, channel=ChannelKind.X, visibility=Visibility.PUBLIC, signature=SIGNATURE
        )

    for text in warmup:
        run(text)
    # Each draft is checked REPEAT times and the fastest run kept: on a machine shared with
    # other work, a single run also measures the time other processes took the core away
    # (timeit takes the minimum for the same reason). Single runs are reported as well.
    warm: list[float] = []
    single: list[float] = []
    warm_cpu: list[float] = []
    blocked = 0
    for text in measured:
        runs = []
        for _ in range(REPEAT):
            c0 = time.thread_time_ns()
            t0 = time.perf_counter_ns()
            decision = check(
                compiled,
                text,
                channel=ChannelKind.X,
                visibility=Visibility.PUBLIC,
                signature=SIGNATURE,
            )
            runs.append((time.perf_counter_ns() - t0) / 1000)
            if len(runs) == 1:
                warm_cpu.append((time.thread_time_ns() - c0) / 1000)
        single.append(runs[0])
        warm.append(min(runs))
        blocked += decision.outcome.value != "allow"

    cold: list[float] = []
    for text in measured[: max(50, n // 10)]:
        matcher_module._forms.cache_clear()
        matcher_module._fold_char.cache_clear()
        t0 = time.perf_counter_ns()
        run(text)
        cold.append((time.perf_counter_ns() - t0) / 1000)

    patterns = naive_baseline(data)
    naive: list[float] = []
    naive_cpu: list[float] = []
    for text in measured:
        runs = []
        for _ in range(REPEAT):
            c0 = time.thread_time_ns()
            t0 = time.perf_counter_ns()
            for pattern in patterns:
                pattern.search(text)
            runs.append((time.perf_counter_ns() - t0) / 1000)
            if len(runs) == 1:
                naive_cpu.append((time.thread_time_ns() - c0) / 1000)
        naive.append(min(runs))

    p99_us = round(percentile(warm, 0.99), 1)
    figures: dict[str, object] = {
        "rules": RULES,
        "draft_chars": DRAFT_CHARS,
        "drafts": len(measured),
        "draft_source": source,
        "compile_ms": round(compile_ms, 1),
        "p50_us": round(statistics.median(warm), 1),
        "p99_us": p99_us,
        "p50_single_run_us": round(statistics.median(single), 1),
        "p99_single_run_us": round(percentile(single, 0.99), 1),
        "p99_cold_cache_us": round(percentile(cold, 0.99), 1),
        # CPU time of this thread: what the check costs when the machine is shared with other
        # work (wall time then also counts waiting for the core).
        "cpu_p50_us": round(statistics.median(warm_cpu), 1),
        "cpu_p99_us": round(percentile(warm_cpu, 0.99), 1),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "flagged_share": round(blocked / len(measured), 3),
        "baseline_p50_us": round(statistics.median(naive), 1),
        "baseline_p99_us": round(percentile(naive, 0.99), 1),
        "baseline_cpu_p99_us": round(percentile(naive_cpu, 0.99), 1),
        "target_p99_us": TARGET_P99_US,
    }
    figures["target_met"] = p99_us < TARGET_P99_US
    print(
        f"compiled {RULES} rules in {compile_ms:.0f} ms; checked {len(measured)} drafts "
        f"({source}); {blocked} flagged",
        file=sys.stderr,
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
