"""The documentation is checked like code: every setting is documented with its real default,
the CLI reference matches ``--help``, and no relative link is broken."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from socialdesk.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
OPERATIONS = DOCS / "operations.md"
ENV_PREFIX = "SOCIALDESK_"


# -- settings -----------------------------------------------------------------------------


def _sections(markdown: str) -> dict[str, str]:
    """``### `SOCIALDESK_X` `` headings and the text under each, up to the next heading."""
    sections: dict[str, str] = {}
    current: str | None = None
    for line in markdown.splitlines():
        heading = re.match(r"^#{1,6}\s+(.*)$", line)
        if heading:
            name = re.fullmatch(rf"`({ENV_PREFIX}\w+)`", heading.group(1).strip())
            current = name.group(1) if name else None
            if current is not None:
                sections[current] = ""
        elif current is not None:
            sections[current] += line + "\n"
    return sections


def _documented_default(default: Any) -> str:
    """How the docs write a default: booleans as the environment takes them, empty as empty."""
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if default == "":
        return "empty"
    return f"`{default}`"


def test_every_setting_is_documented_with_its_default() -> None:
    sections = _sections(OPERATIONS.read_text(encoding="utf-8"))
    missing, wrong = [], []
    for name, field in Settings.model_fields.items():
        env = ENV_PREFIX + name.upper()
        section = sections.get(env)
        if section is None:
            missing.append(env)
            continue
        if f"Setting `{name}`" not in section:
            wrong.append(f"{env}: the section does not name the setting `{name}`")
        expected = f"Default: {_documented_default(field.default)}"
        if expected not in section:
            wrong.append(f"{env}: expected {expected!r} in its section")
        prose = [line for line in section.splitlines() if line.strip()][1:]
        if not prose:
            wrong.append(f"{env}: says nothing about what the setting means")
    assert not missing, f"settings missing from docs/operations.md: {', '.join(missing)}"
    assert not wrong, "\n".join(wrong)


def test_no_setting_is_documented_that_does_not_exist() -> None:
    documented = set(_sections(OPERATIONS.read_text(encoding="utf-8")))
    real = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    assert documented - real == set(), "docs/operations.md documents settings that do not exist"


# -- CLI reference ------------------------------------------------------------------------


def _generator() -> ModuleType:
    path = ROOT / "scripts" / "gen_cli_docs.py"
    spec = importlib.util.spec_from_file_location("gen_cli_docs", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_reference_is_up_to_date() -> None:
    expected = _generator().render()
    current = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert current == expected, (
        "docs/cli.md is out of date with the commands' --help: "
        "run `python scripts/gen_cli_docs.py` and commit the result"
    )


def test_cli_reference_covers_every_command() -> None:
    import click

    from socialdesk.cli import main

    text = _generator().render()

    def walk(command: click.Command, path: str, ctx: click.Context) -> None:
        assert f"## `{path}`" in text, f"{path} is missing from the CLI reference"
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    walk(sub, f"{path} {name}", click.Context(sub, info_name=name, parent=ctx))

    walk(main, "socialdesk", click.Context(main, info_name="socialdesk"))


# -- links --------------------------------------------------------------------------------

MARKDOWN = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:...


def _prose(markdown: str) -> str:
    """The text outside fenced code blocks and inline code, where links live."""
    without_fences = re.sub(r"^(```|~~~).*?^\1\s*$", "", markdown, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", without_fences)


def _anchors(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes."""
    anchors = set()
    for line in _prose_headings(markdown):
        anchors.add(re.sub(r"[^\w\- ]", "", line.strip().lower()).replace(" ", "-"))
    return anchors


def _prose_headings(markdown: str) -> list[str]:
    without_fences = re.sub(r"^(```|~~~).*?^\1\s*$", "", markdown, flags=re.MULTILINE | re.DOTALL)
    return [m.group(1) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*$", without_fences, re.M)]


def _links(path: Path) -> list[str]:
    text = _prose(path.read_text(encoding="utf-8"))
    return INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)


@pytest.mark.parametrize("document", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_to_existing_files(document: Path) -> None:
    broken = []
    for target in _links(document):
        if EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        destination = (document.parent / file_part).resolve() if file_part else document
        if not destination.exists():
            broken.append(f"{target}: {destination.relative_to(ROOT)} does not exist")
            continue
        if (
            anchor
            and destination.suffix == ".md"
            and anchor not in _anchors(destination.read_text(encoding="utf-8"))
        ):
            broken.append(f"{target}: no heading #{anchor} in {destination.name}")
    assert not broken, f"broken links in {document.relative_to(ROOT)}:\n" + "\n".join(broken)


def test_the_link_checker_sees_links() -> None:
    # Guards the checker itself: a regex that matched nothing would pass every document.
    sample = (
        "See [ops](operations.md#backups) and [site](https://example.org).\n```\n[x](nope)\n```"
    )
    assert INLINE_LINK.findall(_prose(sample)) == ["operations.md#backups", "https://example.org"]
    assert "keys-and-rotation" in _anchors("## Keys and rotation\n")
    assert "socialdesk-db-upgrade" in _anchors("## `socialdesk db upgrade`\n")
    assert _links(ROOT / "README.md"), "README.md links to the docs"
