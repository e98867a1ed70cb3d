"""Reading, writing and merging policies; errors that say where the policy is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from socialdesk.connectors.base import ChannelKind, Visibility
from socialdesk.policy import (
    PolicyError,
    compile_policy,
    dump_policy,
    load_policy,
    load_policy_file,
    load_starter,
    merge_policies,
    policy_from_data,
    policy_to_data,
    starter_names,
)
from socialdesk.policy.rules import (
    Action,
    LimitsRule,
    LinksRule,
    PersonalData,
    PersonalDataRule,
    RequiredTextRule,
    TermsRule,
    Tone,
    ToneRule,
)
from tests.policy.conftest import MINISTRY_YAML

FULL_YAML = """\
name: Example brand
description: Every kind of rule
topics:
  sweets: [candy, lollipop, "🍭"]
  alcohol: [pálinka]
channel_limits:
  mastodon: 1000
rules:
  - id: no-sweets
    explain: We promote healthy food.
    action: warn
    topics: [sweets, alcohol]
    terms: [sugar rush]
    allow: [candy floss]
    channels: [x, mastodon]
  - id: own-links
    explain: Link only to our site.
    action: approve
    allowed_domains: [https://www.example.org/, shop.example.org]
  - id: pii
    explain: No personal data in public.
    action: block
    personal_data: [email, phone, card]
    patterns:
      order: "ORD-\\\\d{6}"
    allow: [help@example.org]
  - id: tone
    explain: Be kind.
    action: block
    tone: [hostile, shouting, profanity]
    hostile_terms: [as I said]
    shouting_min_letters: 8
  - id: disclose
    explain: Promotions carry #ad.
    action: block
    required_text: "#ad"
    when_topics: [promotion]
    when: [win a prize]
    visibility: [public]
  - id: limits
    explain: Not spammy.
    action: warn
    max_mentions: 2
    max_hashtags: 0
    enabled: false
    locked: true
"""


def test_the_issue_example_loads_as_is() -> None:
    policy = load_policy(MINISTRY_YAML)
    [rule] = policy.rules
    assert isinstance(rule, TermsRule)
    assert rule.id == "no-alcohol"
    assert rule.action is Action.BLOCK
    assert rule.terms == ("beer", "wine", "vodka", "booze", "drunk", "cocktail")
    assert rule.visibility == (Visibility.PUBLIC, Visibility.DIRECT)


def test_every_rule_kind_loads_typed() -> None:
    policy = load_policy(FULL_YAML)
    terms, links, pii, tone, required, limits = policy.rules
    assert isinstance(terms, TermsRule)
    assert terms.channels == (ChannelKind.X, ChannelKind.MASTODON)
    assert terms.allow == ("candy floss",)
    assert "🍭" in policy.topic("sweets")
    assert "beer" in policy.topic("alcohol")
    assert "pálinka" in policy.topic("alcohol")
    assert isinstance(links, LinksRule)
    assert links.allowed_domains == ("example.org", "shop.example.org")
    assert isinstance(pii, PersonalDataRule)
    assert pii.personal_data == (PersonalData.EMAIL, PersonalData.PHONE, PersonalData.CARD)
    assert pii.patterns[0].name == "order"
    assert pii.visibility == (Visibility.PUBLIC,)  # personal data is about public replies
    assert isinstance(tone, ToneRule)
    assert tone.tone == (Tone.HOSTILE, Tone.SHOUTING, Tone.PROFANITY)
    assert tone.shouting_min_letters == 8
    assert isinstance(required, RequiredTextRule)
    assert required.required_text == ("#ad",)
    assert required.when == ("win a prize",)
    assert isinstance(limits, LimitsRule)
    assert (limits.max_mentions, limits.max_hashtags, limits.enabled) == (2, 0, False)
    assert policy.channel_limits == {ChannelKind.MASTODON: 1000}


def test_dump_and_load_round_trip() -> None:
    policy = load_policy(FULL_YAML)
    assert load_policy(dump_policy(policy)) == policy
    assert policy_from_data(policy_to_data(policy)) == policy
    minimal = load_policy(MINISTRY_YAML)
    assert dump_policy(minimal).startswith("rules:\n- id: no-alcohol\n")


def test_load_from_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(MINISTRY_YAML.replace("action: block", "action: deny"), encoding="utf-8")
    with pytest.raises(PolicyError) as caught:
        load_policy_file(path)
    assert str(path) in caught.value.message
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy_file(tmp_path / "missing.yaml")


_R = "rules:\n  - id: t\n    explain: x\n    action: warn\n"


@pytest.mark.parametrize(
    ("yaml_text", "rule_id", "field", "line", "words"),
    [
        (MINISTRY_YAML.replace("action: block", "action: deny"), "no-alcohol", "action", 4,
         "block, approve, warn"),
        (MINISTRY_YAML.replace("terms:", "termz:"), "no-alcohol", None, 2, "nothing to check"),
        (MINISTRY_YAML + "    topics: [alcohool]\n", "no-alcohol", "topics", 6, "unknown topic"),
        (MINISTRY_YAML + "    colour: red\n", "no-alcohol", "colour", 6, "unknown key"),
        (MINISTRY_YAML + "    explian: typo\n", "no-alcohol", "explian", 6,
         "did you mean 'explain'"),
        (MINISTRY_YAML + "    allowed_domains: [example.org]\n", "no-alcohol", None, 2,
         "mixes kinds"),
        (MINISTRY_YAML.replace('    explain: "We do not talk about drinking: many in our '
                               'community abstain."\n', ""),
         "no-alcohol", "explain", 2, "required"),
        (MINISTRY_YAML + MINISTRY_YAML.replace("rules:\n", ""), "no-alcohol", "id", 6,
         "used twice"),
        (_R.replace("id: t", "id: Bad Id") + "    terms: [a]\n", None, "id", 2, "lower case"),
        (_R + "    patterns: ['(unclosed']\n", "t",
         "patterns", 5, "not a valid regular expression"),
        (_R + "    patterns: ['a*']\n", "t",
         "patterns", 5, "matches empty text"),
        (_R + "    max_mentions: -1\n", "t",
         "max_mentions", 5, "whole number"),
        (_R + "    allowed_domains: ['not a domain']\n",
         "t", "allowed_domains", 5, "not a domain"),
        (_R + "    tone: [rude]\n", "t", "tone", 5,
         "not one of"),
        (_R + "    terms: [a, '']\n", "t", "terms", 5,
         "is empty"),
        (_R + "    channels: [myspace]\n    terms: [a]\n",
         "t", "channels", 5, "not one of"),
        ("rules:\n  - id: t\n    explain: x\n    explain: y\n    action: warn\n", None, None, 4,
         "appears twice"),
        ("rules: {}\n", None, "rules", 1, "list of rules"),
        ("rules:\n  - just text\n", None, "rules", 2, "must be a mapping"),
        ("- a list\n", None, None, 1, "a policy is a mapping"),
        ("rules:\n  - id: t\n    explain: [unclosed\n", None, None, 4, "not valid YAML"),
        ("channel_limits:\n  myspace: 10\n", None, "channel_limits", 2, "not a channel"),
        ("rulez: []\n", None, "rulez", 1, "did you mean 'rules'"),
    ],
)  # fmt: skip
def test_errors_name_rule_field_and_line(
    yaml_text: str, rule_id: str | None, field: str | None, line: int, words: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy(yaml_text, source="policy.yaml")
    error = caught.value
    assert error.rule_id == rule_id
    assert error.field == field
    assert error.line == line
    assert words in error.message
    assert error.message.startswith(f"policy.yaml, line {line}")
    if rule_id:
        assert f"rule {rule_id!r}" in error.message


def test_empty_document_is_an_empty_policy() -> None:
    assert load_policy("").rules == ()


def test_starters_load_compile_and_round_trip() -> None:
    names = starter_names()
    assert {"faith", "public-sector", "finance", "brand-safety"} <= set(names)
    for name in names:
        policy = load_starter(name)
        assert policy.rules, name
        assert policy.name, name
        compile_policy(policy)
        assert load_policy(dump_policy(policy)) == policy
    with pytest.raises(PolicyError, match="no starter policy"):
        load_starter("nope")


OVERLAY_YAML = """\
name: Brand A
topics:
  alcohol: [sake]
channel_limits:
  mastodon: 5000
disable: [limits-off]
rules:
  - id: no-alcohol
    explain: Brand A says no drinks at all.
    action: approve
    terms: [beer]
  - id: brand-links
    explain: Brand A links.
    action: warn
    allowed_domains: [brand-a.example]
"""

ORG_YAML = """\
name: Org
topics:
  alcohol: [pálinka]
channel_limits:
  mastodon: 1000
  bluesky: 300
rules:
  - id: no-alcohol
    explain: No drinking talk.
    action: block
    topics: [alcohol]
  - id: civil
    explain: Be civil.
    action: block
    tone: [profanity]
    locked: true
  - id: limits-off
    explain: At most one hashtag.
    action: warn
    max_hashtags: 1
"""


def test_brand_overlay_refines_the_organization_policy() -> None:
    merged = merge_policies(load_policy(ORG_YAML), load_policy(OVERLAY_YAML))
    assert [r.id for r in merged.rules] == ["no-alcohol", "civil", "brand-links"]
    replaced = merged.rule("no-alcohol")
    assert replaced is not None
    assert replaced.action is Action.APPROVE
    assert merged.topics["alcohol"] == ("pálinka", "sake")
    assert merged.channel_limits == {ChannelKind.MASTODON: 5000, ChannelKind.BLUESKY: 300}
    assert merged.name == "Org / Brand A"
    compile_policy(merged)


def test_overlay_cannot_touch_locked_rules_or_unknown_ids() -> None:
    org = load_policy(ORG_YAML)
    replace_locked = load_policy(
        "rules:\n  - id: civil\n    explain: Relaxed.\n    action: warn\n    tone: [profanity]\n"
    )
    with pytest.raises(PolicyError, match="locked") as caught:
        merge_policies(org, replace_locked)
    assert caught.value.rule_id == "civil"
    with pytest.raises(PolicyError, match="locked"):
        merge_policies(org, load_policy("disable: [civil]\n"))
    with pytest.raises(PolicyError, match="does not have"):
        merge_policies(org, load_policy("disable: [ghost]\n"))
