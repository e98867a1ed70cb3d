"""Shared policies for the policy tests."""

from __future__ import annotations

import pytest

from socialdesk.policy import CompiledPolicy, compile_policy, load_policy

# The example, exactly as written there: it must load as-is.
MINISTRY_YAML = """\
rules:
  - id: no-alcohol
    explain: "We do not talk about drinking: many in our community abstain."
    action: block
    terms: [beer, wine, vodka, booze, drunk, cocktail]
"""


@pytest.fixture(scope="session")
def ministry() -> CompiledPolicy:
    return compile_policy(load_policy(MINISTRY_YAML))
