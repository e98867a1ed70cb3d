"""Command-line checks: ``socialdesk policy check`` and ``socialdesk text length``.

Both print one JSON object on standard output. TEXT is the argument, or standard input when
the argument is left out (one trailing line break, as ``echo`` adds, is dropped).

Exit codes, so scripts can branch without parsing JSON:

- ``policy check``: 0 when the message may be sent without a second person (``allow`` or
  ``warn``), 1 when it may not (``approve`` or ``block``), 2 when it could not be checked (bad
  arguments, unreadable or invalid policy; the reason goes to standard error).
- ``text length``: 0 when the text fits the channel, 1 when it is too long, 2 on bad arguments.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from socialdesk.connectors.base import ChannelKind, Visibility
from socialdesk.policy.checker import Outcome, check, compile_policy
from socialdesk.policy.length import channel_length, count, sign
from socialdesk.policy.rules import Policy, PolicyError, load_policy_file, load_starter

EXIT_SENDABLE = 0
EXIT_HELD = 1
EXIT_ERROR = 2

_CHANNELS = click.Choice([c.value for c in ChannelKind])
_VISIBILITIES = click.Choice([Visibility.PUBLIC.value, Visibility.DIRECT.value])


def _read_text(text: str | None) -> str:
    if text is not None:
        return text
    data = sys.stdin.read()
    if data.endswith("\r\n"):
        return data[:-2]
    return data.removesuffix("\n")


def _emit(payload: dict[str, Any]) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False))


@click.group("policy")
def policy() -> None:
    """The code of conduct: check drafts against a policy."""


@policy.command("check")
@click.option(
    "--policy",
    "policy_file",
    type=click.Path(dir_okay=False),
    help="Policy YAML file.",
)
@click.option("--starter", help="Use a starter policy instead of a file (faith, finance...).")
@click.option("--channel", type=_CHANNELS, required=True, help="Where the message goes.")
@click.option(
    "--visibility",
    type=_VISIBILITIES,
    default=Visibility.PUBLIC.value,
    show_default=True,
    help="A public post or reply, or a private message.",
)
@click.option("--signature", default=None, help='Agent signature appended as " ^SIG".')
@click.argument("text", required=False)
def check_command(  # noqa: PLR0917 - click passes every option by position
    policy_file: str | None,
    starter: str | None,
    channel: str,
    visibility: str,
    signature: str | None,
    text: str | None,
) -> None:
    """Check TEXT (or standard input) and print the decision as JSON."""
    if (policy_file is None) == (starter is None):
        click.echo("error: give exactly one of --policy FILE or --starter NAME", err=True)
        sys.exit(EXIT_ERROR)
    try:
        loaded: Policy = (
            load_policy_file(policy_file) if policy_file is not None else load_starter(str(starter))
        )
    except PolicyError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(EXIT_ERROR)
    decision = check(
        compile_policy(loaded),
        _read_text(text),
        channel=ChannelKind(channel),
        visibility=Visibility(visibility),
        signature=signature,
    )
    _emit(decision.to_json())
    sendable = decision.outcome in (Outcome.ALLOW, Outcome.WARN)
    sys.exit(EXIT_SENDABLE if sendable else EXIT_HELD)


@click.group("text")
def text_group() -> None:
    """Measure text the way each network does."""


@text_group.command("length")
@click.option("--channel", type=_CHANNELS, required=True, help="Which network's counting.")
@click.option(
    "--visibility",
    type=_VISIBILITIES,
    default=Visibility.PUBLIC.value,
    show_default=True,
    help="A public post or a private message (limits differ).",
)
@click.option("--signature", default=None, help='Agent signature appended as " ^SIG".')
@click.argument("text", required=False)
def length_command(channel: str, visibility: str, signature: str | None, text: str | None) -> None:
    """Print {"length": N, "limit": L, "valid": true|false} for TEXT (or standard input)."""
    spec = channel_length(ChannelKind(channel), Visibility(visibility))
    length = count(sign(_read_text(text), signature), spec.counting)
    valid = spec.limit is None or length <= spec.limit
    _emit({"length": length, "limit": spec.limit, "valid": valid})
    sys.exit(EXIT_SENDABLE if valid else EXIT_HELD)
