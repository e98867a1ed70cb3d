"""Reading form fields: an id from a select is a positive row id or refused, naming the field."""

from __future__ import annotations

import pytest

from socialdesk.common.errors import ValidationFailed
from socialdesk.common.pagination import MAX_ROW_ID
from socialdesk.web import forms


@pytest.mark.parametrize("raw", ["abc", "0", "-3", str(MAX_ROW_ID + 1), "9" * 30])
def test_an_id_that_names_no_row_is_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        forms.optional_id({"team_id": raw}, "team_id")
    assert refused.value.field == "team_id"


def test_an_id_is_read_and_empty_is_none() -> None:
    assert forms.optional_id({"team_id": "42"}, "team_id") == 42
    assert forms.optional_id({"team_id": str(MAX_ROW_ID)}, "team_id") == MAX_ROW_ID
    assert forms.optional_id({"team_id": ""}, "team_id") is None
    assert forms.optional_id({}, "team_id") is None
