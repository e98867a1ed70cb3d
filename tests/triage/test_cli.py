import json

import pytest
from click.testing import CliRunner

from socialdesk.triage.classify import artifact_path
from socialdesk.triage.cli import triage

pytestmark = pytest.mark.skipif(
    not artifact_path("default").is_file(), reason="the default triage model is not built"
)


def test_classify_writes_one_json_object_per_input_line() -> None:
    runner = CliRunner()
    result = runner.invoke(
        triage,
        ["classify", "--tier", "default"],
        input="thank you, brilliant service!\nmy order is late AGAIN, useless\n",
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert len(lines) == 2
    for line in lines:
        for key in ("sentiment", "complaint", "intent", "priority", "language"):
            assert key in line
        assert line["sentiment"] in {"negative", "neutral", "positive"}
        assert isinstance(line["complaint"], bool)
        assert set(line["sentiment_scores"]) == {"negative", "neutral", "positive"}
        assert "complaint_score" in line
        assert line["priority_reasons"]
    assert lines[0]["sentiment"] == "positive"
    assert lines[1]["complaint"] is True


def test_unknown_tier_is_refused() -> None:
    result = CliRunner().invoke(triage, ["classify", "--tier", "huge"], input="hi\n")
    assert result.exit_code != 0
    assert "huge" in result.output
