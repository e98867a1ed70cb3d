"""``socialdesk triage``: classify messages from stdin, triage stored history, retrain the
models."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
from sqlalchemy import select

from socialdesk.accounts.models import Organization
from socialdesk.triage.backfill import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE
from socialdesk.triage.classify import TIERS, get_triager
from socialdesk.triage.embeddings import ARTIFACTS

BATCH = 256
# The inline backfill reports its progress at most this often.
PROGRESS_SECONDS = 2.0


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


@triage.command("backfill")
@click.option(
    "--organization",
    "org_slug",
    metavar="SLUG",
    default=None,
    help="Only this organization's messages (default: every organization).",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1, max=MAX_BATCH_SIZE),
    default=DEFAULT_BATCH_SIZE,
    show_default=True,
    help="Messages per transaction.",
)
def backfill_command(org_slug: str | None, batch_size: int) -> None:
    """Triage the stored inbound messages that have no triage yet (imported history), here and
    now, one committed batch at a time. Safe to run again, or beside the worker: what is
    triaged already is left alone. The import command queues the same work as the
    triage.backfill job."""
    from socialdesk.db.session import session_scope
    from socialdesk.triage import backfill

    organization_id: int | None = None
    with session_scope(write=False) as session:
        if org_slug is not None:
            organization_id = session.scalar(
                select(Organization.id).where(Organization.slug == org_slug)
            )
            if organization_id is None:
                raise click.ClickException(f"no organization with slug {org_slug!r}")
        todo = backfill.count_untriaged(session, organization_id=organization_id)
    where = f"organization {org_slug}" if org_slug else "every organization"
    click.echo(f"{todo} inbound messages without triage in {where}", err=True)
    shown = time.perf_counter()

    def progress(totals: backfill.BackfillTotals) -> None:
        nonlocal shown
        if time.perf_counter() - shown >= PROGRESS_SECONDS:
            shown = time.perf_counter()
            click.echo(
                f"  {totals.scanned}/{todo} read, {totals.triaged} triaged "
                f"({totals.per_second:.0f} messages/s)",
                err=True,
            )

    try:
        totals = backfill.run(
            organization_id=organization_id, batch_size=batch_size, on_batch=progress
        )
    except backfill.BatchFailed as error:
        raise click.ClickException(str(error)) from error
    click.echo(
        f"triaged {totals.triaged} messages in {totals.batches} batches "
        f"({totals.already} triaged meanwhile, {totals.skipped} skipped); "
        f"{totals.conversations} conversation updates, {totals.raised} raised in priority "
        f"({totals.seconds:.1f} s, {totals.per_second:.0f} messages/s)"
    )


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
@click.option(
    "--keep-encoder",
    is_flag=True,
    help="Train the accurate tier on the fine-tuned encoder already in --out instead of "
    "fine-tuning it again (which needs PyTorch).",
)
def train_command(
    *,
    data_dir: Path,
    annotations: Path,
    corrections: Path | None,
    tiers: tuple[str, ...],
    out_dir: Path,
    embedding_cache: Path | None,
    keep_encoder: bool,
) -> None:
    """Rebuild the triage models from labelled data (needs scikit-learn and SciPy).

    The accurate tier's sentence encoder is MiniLM fine-tuned on the complaint data first,
    which needs PyTorch, transformers and onnx (the finetune extras), unless --keep-encoder.
    """
    from socialdesk.triage.finetune import FineTuneUnavailable

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
            keep_encoder=keep_encoder,
            log=lambda message: click.echo(message, err=True),
        )
    except (TrainingDataError, FineTuneUnavailable) as error:
        raise click.ClickException(str(error)) from error
    click.echo(json.dumps(figures, sort_keys=True))
