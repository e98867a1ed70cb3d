"""Draw the fixed development / held-out split of brand replies for the promise annotations.

Run once; the output (``split.csv``) is committed and never regenerated with other settings.
The order of replies is a SHA-256 hash of ``SALT + tweet_id``, so the draw is reproducible and
independent of file order. Strata:

* ``random``: the next replies in hash order over ALL brand replies (a realistic sample);
* ``oversample``: the next replies in hash order that pass a broad screen for future-time or
  commitment wording (added because only a minority of brand replies make a promise);
* ``time``: replies with explicit time wording (``TIME_SCREEN``);
* ``extra`` (development only): every screened reply left after the other strata.

Strata are drawn in a fixed order and a reply is only ever drawn once, so the parts never overlap.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import re
from pathlib import Path

SALT = "socialdesk-commitments-split-v1:"
HELD_OUT_RANDOM = 300
HELD_OUT_OVERSAMPLE = 100
DEV_RANDOM = 150
DEV_OVERSAMPLE = 100
# Added after the first four strata were drawn, when reading 175 development replies showed that
# promises are rarer than expected (about 3-5% of random replies). Drawn last, so no reply that
# had already been read (all of them development replies) could move into the held-out part.
HELD_OUT_OVERSAMPLE_EXTRA = 100
# Added after strata 1, 2 and 5 of the held-out part had been annotated: they held only five
# promises that state a time, too few to measure due-time accuracy. These draw from replies not
# yet drawn that carry explicit time wording (TIME_SCREEN); all of them are used, the first ones
# in hash order going to the held-out part.
HELD_OUT_TIME = 130
DEV_TIME = 66
# Added after the held-out part had been scored: the development part then held no errors left
# to study (it scored 1.0 / 1.0). Every reply not yet drawn that passes the broad SCREEN (177)
# goes to the development part; none of them can move into the held-out part, whose strata are
# drawn first and are unchanged.
DEV_EXTRA = 10_000  # "all that remain"

# Deliberately broad: any future auxiliary, any time word, any follow-up verb phrase.
SCREEN = re.compile(
    r"\b(will|shall|going to|gonna|within|tomorrow|today|tonight|shortly|soon|asap|"
    r"hours?|hrs?|minutes?|mins?|days?|weeks?|business|monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday|get back|reach out|follow(?:ing)? up|be in touch|keep you|"
    r"expect|should (?:receive|see|get|arrive|be)|on (?:its|it's|their) way)\b|'ll\b|\u2019ll\b",
    re.IGNORECASE,
)

# Time wording only: relative days, clock times, durations, weekdays, dates and month names.
TIME_SCREEN = re.compile(
    r"\b(tomorrow|today|tonight|this (?:morning|afternoon|evening|week)|next (?:week|month)|"
    r"(?:end|close) of (?:the )?(?:day|business|week)|eod|within|"
    r"in (?:an?|\d+|one|two|three|few|couple)\b|\d+\s*(?:-|to)\s*\d+|hours?|hrs?|mins?|"
    r"minutes?|days?|weeks?|(?:mon|tues|wednes|thurs|fri|satur|sun)day|\d{1,2}/\d{1,2}|"
    r"\d{1,2}(?::\d\d)?\s*(?:am|pm)|jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec)\b",
    re.IGNORECASE,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "twcs_dir", type=Path, help="folder holding twcs_5000.csv and sample_threads.csv"
    )
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("split.csv"))
    args = parser.parse_args()

    replies: dict[str, str] = {}
    for name in ("twcs_5000.csv", "sample_threads.csv"):
        with (args.twcs_dir / name).open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                if row["inbound"] == "False":
                    replies[row["tweet_id"]] = row["text"]

    order = sorted(replies, key=lambda tid: hashlib.sha256((SALT + tid).encode()).hexdigest())
    taken: set[str] = set()
    rows: list[tuple[str, str, str]] = []

    def draw(
        part: str, stratum: str, count: int, *, screened: bool, screen: re.Pattern[str] = SCREEN
    ) -> None:
        picked = 0
        for tid in order:
            if picked == count:
                break
            if tid in taken or (screened and not screen.search(replies[tid])):
                continue
            taken.add(tid)
            rows.append((tid, part, stratum))
            picked += 1

    draw("heldout", "random", HELD_OUT_RANDOM, screened=False)
    draw("heldout", "oversample", HELD_OUT_OVERSAMPLE, screened=True)
    draw("dev", "random", DEV_RANDOM, screened=False)
    draw("dev", "oversample", DEV_OVERSAMPLE, screened=True)
    draw("heldout", "oversample", HELD_OUT_OVERSAMPLE_EXTRA, screened=True)
    draw("heldout", "time", HELD_OUT_TIME, screened=True, screen=TIME_SCREEN)
    draw("dev", "time", DEV_TIME, screened=True, screen=TIME_SCREEN)
    draw("dev", "extra", DEV_EXTRA, screened=True)

    with args.out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tweet_id", "part", "stratum"])
        writer.writerows(rows)
    screened = sum(1 for text in replies.values() if SCREEN.search(text))
    print(f"{len(replies)} brand replies, {screened} pass the screen; wrote {len(rows)} rows")


if __name__ == "__main__":
    main()
