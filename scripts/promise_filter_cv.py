"""Cross-validate the promise filter on the development part: rules alone vs rules + filter.

    python scripts/promise_filter_cv.py [--vector-cache FILE] [--c 3] [--min-recall 0.95]

Reads only ``dev.jsonl`` and ``../shared/data/twcs/`` (never the held-out part). Two views:

* **current rules, dev**: the detector as it is, on every development reply. The rules were
  tuned on these replies, so this shows what the filter costs in recall, not what it gains.
* **e781242 rules, dev / extra**: the detector as committed in e781242, on the development
  stratum ``extra`` that was drawn and annotated after it (GUIDELINE.md, section 4). Those
  rules never saw these replies, so their mistakes there are the kind the rules make on
  unseen replies: the only rule errors in the development part that can show whether the
  filter raises precision. e781242's extractor is read from git into a temporary folder.

Every reply is scored by filters trained without it (repeated 5-fold cross-validation grouped
by reply). The threshold is chosen as ``socialdesk commitments train`` chooses it (from the
current rules' recall on dev), so the e781242 figures are not tuned on. Ends with one JSON line.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from socialdesk.commitments import filter_training as training  # noqa: E402 - after sys.path

OLD_COMMIT = "e781242"
OLD_FILES = ("extract.py", "timeparse.py", "calendar.py")
SOURCE = "src/socialdesk/commitments"


def old_extractor(folder: Path) -> ModuleType:
    """e781242's ``extract`` module, imported from a copy whose imports point at the copy."""
    package = folder / "e781242_commitments"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    for name in OLD_FILES:
        command = ["git", "-C", str(ROOT), "show", f"{OLD_COMMIT}:{SOURCE}/{name}"]
        # Fixed arguments, and git found on PATH as a developer's shell finds it.
        source = subprocess.run(command, capture_output=True, text=True, check=True).stdout  # noqa: S603
        source = source.replace("socialdesk.commitments.", "e781242_commitments.")
        (package / name).write_text(source, encoding="utf-8")
    sys.path.insert(0, str(folder))
    return importlib.import_module("e781242_commitments.extract")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--shared-dir", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--vector-cache", type=Path, default=None)
    parser.add_argument("--c", type=float, default=training.C)
    parser.add_argument("--min-recall", type=float, default=training.MIN_CV_RECALL)
    parser.add_argument("--curve", action="store_true", help="print every threshold")
    args = parser.parse_args()

    replies = training.load_development(training.ANNOTATIONS, args.shared_dir / "data" / "twcs")
    words = training.vocabulary()
    vectors = training.cached_token_vectors(words, args.vector_cache, print)
    featurizer = training.Featurizer(words, vectors)
    current = {reply.tweet_id: training.rule_detections(reply) for reply in replies}
    with tempfile.TemporaryDirectory() as folder:
        old = old_extractor(Path(folder))
        previous = {
            reply.tweet_id: [
                (p.start, p.end) for p in old.extract(reply.text, now=reply.now, tz=reply.tz)
            ]
            for reply in replies
        }
    extra = [reply for reply in replies if reply.stratum == "extra"]

    scored_current = training.cross_validate(replies, featurizer, current, c=args.c)
    scored_previous = training.cross_validate(replies, featurizer, previous, c=args.c)
    chosen = training.choose_threshold(scored_current, replies, args.min_recall)

    def at(threshold: float) -> dict[str, dict[str, float]]:
        return {
            "current_rules_dev": training.figures_at(scored_current, replies, threshold).as_dict(),
            "e781242_rules_dev_extra": training.figures_at(
                scored_previous, extra, threshold
            ).as_dict(),
        }

    if args.curve:
        for threshold in training.THRESHOLDS[::4]:
            row = at(threshold)
            now, then = row["current_rules_dev"], row["e781242_rules_dev_extra"]
            print(
                f"threshold {threshold:.3f}  current/dev P={now['precision']:.3f} "
                f"R={now['recall']:.3f}  e781242/extra P={then['precision']:.3f} "
                f"R={then['recall']:.3f}"
            )
    result = {
        "c": args.c,
        "min_cv_recall": args.min_recall,
        "threshold": chosen.threshold,
        "rules": at(0.0),
        "rules_and_filter": at(chosen.threshold),
    }
    for name in ("rules", "rules_and_filter"):
        block = result[name]
        assert isinstance(block, dict)
        for view, figures in block.items():
            print(
                f"{name:17} {view:24} P={figures['precision']:.3f}±{figures['precision_sd']:.3f}"
                f" R={figures['recall']:.3f}±{figures['recall_sd']:.3f}"
                f" kept {figures['detections_kept']}"
            )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
