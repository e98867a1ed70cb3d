"""``socialdesk policy check`` and ``socialdesk text length`` through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from socialdesk.policy.cli import EXIT_ERROR, EXIT_HELD, EXIT_SENDABLE, policy, text_group
from tests.policy.conftest import MINISTRY_YAML


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "ministry.yaml"
    path.write_text(MINISTRY_YAML, encoding="utf-8")
    return path


def test_check_blocks_the_ministry_example(policy_file: Path) -> None:
    result = CliRunner().invoke(
        policy,
        ["check", "--policy", str(policy_file), "--channel", "x",
         "Beer and burgers on the weekend yum yum"],
    )  # fmt: skip
    assert result.exit_code == EXIT_HELD
    payload = json.loads(result.stdout)
    assert payload["decision"] == "block"
    assert payload["violations"][0]["rule"] == "no-alcohol"
    assert payload["violations"][0]["explain"].startswith("We do not talk about drinking")
    assert (payload["violations"][0]["start"], payload["violations"][0]["end"]) == (0, 4)
    assert (payload["length"], payload["limit"]) == (39, 280)


def test_check_reads_standard_input_and_allows_clean_text(policy_file: Path) -> None:
    result = CliRunner().invoke(
        policy,
        ["check", "--policy", str(policy_file), "--channel", "mastodon", "--signature", "JD"],
        input="Burgers on the weekend yum yum\n",
    )
    assert result.exit_code == EXIT_SENDABLE
    payload = json.loads(result.stdout)
    assert payload["decision"] == "allow"
    assert payload["violations"] == []
    assert (payload["length"], payload["limit"]) == (len("Burgers on the weekend yum yum ^JD"), 500)


def test_check_with_a_starter_and_warn_is_sendable() -> None:
    result = CliRunner().invoke(
        policy, ["check", "--starter", "brand-safety", "--channel", "bluesky", "hi @a @b @c"]
    )
    assert result.exit_code == EXIT_SENDABLE
    assert json.loads(result.stdout)["decision"] == "warn"


def test_check_reports_an_invalid_policy(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINISTRY_YAML.replace("action: block", "action: deny"), encoding="utf-8")
    result = CliRunner().invoke(policy, ["check", "--policy", str(bad), "--channel", "x", "hi"])
    assert result.exit_code == EXIT_ERROR
    assert "line 4" in result.stderr
    assert "no-alcohol" in result.stderr
    missing = CliRunner().invoke(policy, ["check", "--channel", "x", "hi"])
    assert missing.exit_code == EXIT_ERROR
    wrong_channel = CliRunner().invoke(policy, ["check", "--starter", "faith", "--channel", "fax"])
    assert wrong_channel.exit_code == 2  # click's usage error


@pytest.mark.parametrize(
    ("args", "stdin", "expected", "code"),
    [
        (["--channel", "x", "hello"], None, {"length": 5, "limit": 280, "valid": True}, 0),
        (["--channel", "x", "a" * 281], None, {"length": 281, "limit": 280, "valid": False}, 1),
        (["--channel", "x", "https://example.com/" + "a" * 300], None,
         {"length": 23, "limit": 280, "valid": True}, 0),
        (["--channel", "bluesky"], "👨‍👩‍👧‍👦\n", {"length": 1, "limit": 300, "valid": True}, 0),
        (["--channel", "mastodon", "@alice@example.social hi"], None,
         {"length": 9, "limit": 500, "valid": True}, 0),
        (["--channel", "email", "x" * 100_000], None,
         {"length": 100_000, "limit": None, "valid": True}, 0),
        (["--channel", "x", "--signature", "JD", "hi"], None,
         {"length": 6, "limit": 280, "valid": True}, 0),
        (["--channel", "x", "--visibility", "direct", "a" * 281], None,
         {"length": 281, "limit": 10_000, "valid": True}, 0),
    ],
)  # fmt: skip
def test_text_length(
    args: list[str], stdin: str | None, expected: dict[str, object], code: int
) -> None:
    result = CliRunner().invoke(text_group, ["length", *args], input=stdin)
    assert result.exit_code == code, result.output
    assert json.loads(result.stdout) == expected
