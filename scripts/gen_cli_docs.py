"""Write docs/cli.md, the command-line reference, from the commands' own ``--help``.

    python scripts/gen_cli_docs.py          # rewrite docs/cli.md
    python scripts/gen_cli_docs.py --check  # exit 1 if docs/cli.md is out of date

It walks the click group tree of ``socialdesk.cli:main``, so a command mounted there appears
here without further work. The help is rendered at a fixed width, so the output does not
depend on the terminal it runs in. tests/docs checks that the file is up to date.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "cli.md"
PROGRAM = "socialdesk"
WIDTH = 100

HEADER = """# Command-line reference

Generated from each command's `--help` by `scripts/gen_cli_docs.py`; do not edit by hand.
After changing a command, run `python scripts/gen_cli_docs.py` (tests/docs fails until the
file matches).

Every setting the commands read is described in [operations.md](operations.md).
"""


def _walk(
    command: click.Command, ctx: click.Context
) -> Iterator[tuple[click.Command, click.Context]]:
    """Depth first, subcommands in name order, hidden commands left out."""
    yield command, ctx
    if isinstance(command, click.Group):
        for name in sorted(command.list_commands(ctx)):
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            sub_ctx = click.Context(
                sub, info_name=name, parent=ctx, terminal_width=WIDTH, max_content_width=WIDTH
            )
            yield from _walk(sub, sub_ctx)


def render() -> str:
    """The whole of docs/cli.md as it should be now."""
    sys.path.insert(0, str(ROOT / "src"))
    from socialdesk.cli import main

    root_ctx = click.Context(main, info_name=PROGRAM, terminal_width=WIDTH, max_content_width=WIDTH)
    commands = list(_walk(main, root_ctx))
    contents = [
        f"{'  ' * (len(ctx.command_path.split()) - 1)}- [`{ctx.command_path}`](#{_anchor(ctx)})"
        for _command, ctx in commands
    ]
    sections = []
    for command, ctx in commands:
        help_text = command.get_help(ctx).rstrip()
        sections.append(f"## `{ctx.command_path}`\n\n```text\n{help_text}\n```\n")
    return "\n".join([HEADER, "\n".join(contents) + "\n", *sections])


def _anchor(ctx: click.Context) -> str:
    # GitHub's heading anchors: lower case, spaces to dashes, punctuation dropped.
    path = ctx.command_path.lower().replace(" ", "-")
    return "".join(c for c in path if c.isalnum() or c in "-_")


def main(argv: list[str]) -> int:
    expected = render()
    if "--check" in argv:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != expected:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run python scripts/gen_cli_docs.py")
            return 1
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(expected, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
