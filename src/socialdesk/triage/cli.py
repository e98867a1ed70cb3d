"""``socialdesk triage``: classify messages from stdin, retrain the models."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from socialdesk.triage.classify import TIERS, get_triager
from socialdesk.triage.embeddings import ARTIFACTS

BATCH = 256


@click.group("triage")
def triage() -> None:
    """Sentiment, complaint, intent, priority and language of customer messages."""


@triage.command("classify")
@click.option(
    "--tier", type=click.Choice(TIERS), default="default", show_default=True, help="Model tier."
)
def classify_command(tier: str) -> None:
    """Read one message per line on stdin; write one JSON object per line."""
    triager = get_triager(tier)
    pending: list[str] = []

    def flush() -> None:
        for result in triager.classify_batch(pending):
            sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        sys.stdout.flush()
        pending.clear()

    for line in sys.stdin:
        pending.append(line.rstrip("\n"))
        if len(pending) >= BATCH:
            flush()
    if pending:
        flush()


@triage.command("train")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("../shared/data"),
    show_default=True,
    help="Folder with sentiment/, complaints/ and twcs/.",
)
@click.option(
    "--annotations",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("data/annotations/triage/twcs_annotations.csv"),
    show_default=True,
    help="Intent and urgency annotations (tweet ids and labels).",
)
@click.option(
    "--with-corrections",
    "corrections",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help='JSONL of agent corrections: {"text", "field", "label"} per line.',
)
@click.option(
    "--tier",
    "tiers",
    type=click.Choice(TIERS),
    multiple=True,
    help="Tier(s) to train; all when omitted.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=ARTIFACTS,
    show_default="the artifacts folder inside the installed package",
    help="Where the artifacts are written.",
)
@click.option(
    "--embedding-cache",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="File that remembers MiniLM vectors between runs (accurate tier).",
)
def train_command(
    *,
    data_dir: Path,
    annotations: Path,
    corrections: Path | None,
    tiers: tuple[str, ...],
    out_dir: Path,
    embedding_cache: Path | None,
) -> None:
    """Rebuild the triage models from labelled data (needs scikit-learn and SciPy)."""
    try:
        from socialdesk.triage.training import TrainingDataError, train
    except ImportError as error:  # pragma: no cover - depends on the installed extras
        raise click.ClickException(
            f"training needs scikit-learn and SciPy ({error}); install the training extras"
        ) from error
    try:
        figures = train(
            data_dir=data_dir,
            annotations=annotations,
            out_dir=out_dir,
            tiers=tiers or TIERS,
            corrections=corrections,
            embedding_cache=embedding_cache,
            log=lambda message: click.echo(message, err=True),
        )
    except TrainingDataError as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps(figures, sort_keys=True))
