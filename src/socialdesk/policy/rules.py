"""The policy model: an organization's code of conduct as typed rules, read from and written to
YAML.

A policy is a list of rules. Every rule has an ``id``, the clause it enforces (``explain``,
shown to the agent), an ``action`` (``block``, ``approve`` or ``warn``) and exactly one kind,
told by the keys it has:

================  =====================================================================
kind              keys
================  =====================================================================
terms             ``terms`` and/or ``topics`` (named term lists, built-in or the policy's)
links             ``allowed_domains``
personal data     ``personal_data`` (email, phone, card) and/or ``patterns``
tone              ``tone`` (hostile, shouting, profanity), ``hostile_terms``,
                  ``shouting_min_letters``
required text     ``required_text``, applying always or ``when`` / ``when_topics`` match
limits            ``max_mentions`` and/or ``max_hashtags``
================  =====================================================================

Any rule may narrow where it applies with ``channels`` and ``visibility``, excuse innocent words
with ``allow``, be switched off with ``enabled: false``, and be ``locked`` so a brand account's
overlay can neither replace nor disable it. See docs/policy.md.

Errors name the rule, the field and the YAML line that was wrong.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, TypeAlias

import regex
import yaml

from socialdesk.common.errors import ValidationFailed
from socialdesk.connectors.base import ChannelKind, Visibility
from socialdesk.policy.topics import BUILTIN_TOPICS


class Action(enum.StrEnum):
    """What a violation of the rule does to the message."""

    WARN = "warn"  # the agent sees the clause and confirms
    APPROVE = "approve"  # an approver must let it out
    BLOCK = "block"  # it cannot be sent


class PersonalData(enum.StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    CARD = "card"


class Tone(enum.StrEnum):
    HOSTILE = "hostile"
    SHOUTING = "shouting"
    PROFANITY = "profanity"


class PolicyError(ValidationFailed):
    """A policy that cannot be used, with where it went wrong."""

    def __init__(
        self,
        problem: str,
        *,
        rule_id: str | None = None,
        field: str | None = None,
        line: int | None = None,
        source: str | None = None,
    ) -> None:
        where = []
        if source:
            where.append(source)
        if line is not None:
            where.append(f"line {line}")
        subject = []
        if rule_id is not None:
            subject.append(f"rule {rule_id!r}")
        if field is not None:
            subject.append(f"field {field!r}")
        prefix = ", ".join(where)
        message = (f"{prefix}: " if prefix else "") + (
            (", ".join(subject) + ": ") if subject else ""
        )
        super().__init__(message + problem, field=field)
        self.problem = problem
        self.rule_id = rule_id
        self.line = line
        self.source = source


@dataclass(frozen=True, slots=True, kw_only=True)
class NamedPattern:
    """An account or order number format, as a regular expression."""

    name: str
    pattern: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleBase:
    id: str
    explain: str
    action: Action
    channels: tuple[ChannelKind, ...] = ()  # empty: every channel
    visibility: tuple[Visibility, ...] = (Visibility.PUBLIC, Visibility.DIRECT)
    allow: tuple[str, ...] = ()  # words, phrases or values that never count as a violation
    enabled: bool = True
    locked: bool = False

    kind: ClassVar[str] = ""

    def applies_to(self, channel: ChannelKind, visibility: Visibility) -> bool:
        if not self.enabled:
            return False
        if self.channels and channel not in self.channels:
            return False
        return visibility in self.visibility


@dataclass(frozen=True, slots=True, kw_only=True)
class TermsRule(RuleBase):
    terms: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    kind: ClassVar[str] = "terms"


@dataclass(frozen=True, slots=True, kw_only=True)
class LinksRule(RuleBase):
    allowed_domains: tuple[str, ...] = ()
    kind: ClassVar[str] = "links"


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonalDataRule(RuleBase):
    personal_data: tuple[PersonalData, ...] = ()
    patterns: tuple[NamedPattern, ...] = ()
    # Personal data is about public replies: in a private message it is how care is given.
    visibility: tuple[Visibility, ...] = (Visibility.PUBLIC,)
    kind: ClassVar[str] = "personal_data"


@dataclass(frozen=True, slots=True, kw_only=True)
class ToneRule(RuleBase):
    tone: tuple[Tone, ...] = ()
    hostile_terms: tuple[str, ...] = ()
    shouting_min_letters: int = 12
    kind: ClassVar[str] = "tone"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequiredTextRule(RuleBase):
    required_text: tuple[str, ...] = ()  # any one of them satisfies the rule
    when: tuple[str, ...] = ()  # terms that make the rule apply; none: it always applies
    when_topics: tuple[str, ...] = ()
    kind: ClassVar[str] = "required_text"


@dataclass(frozen=True, slots=True, kw_only=True)
class LimitsRule(RuleBase):
    max_mentions: int | None = None
    max_hashtags: int | None = None
    kind: ClassVar[str] = "limits"


Rule: TypeAlias = (
    TermsRule | LinksRule | PersonalDataRule | ToneRule | RequiredTextRule | LimitsRule
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    name: str = ""
    description: str = ""
    topics: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    # Per-channel length limits that differ from the network's default (a Mastodon instance
    # that allows 1000 characters).
    channel_limits: Mapping[ChannelKind, int] = field(default_factory=dict)
    # Rule ids switched off; in a brand account's overlay, ids of the organization's rules.
    disable: tuple[str, ...] = ()

    def topic(self, name: str) -> tuple[str, ...]:
        """The terms of topic ``name``: the built-in list extended by the policy's own."""
        return tuple(BUILTIN_TOPICS.get(name, ())) + tuple(self.topics.get(name, ()))

    def rule(self, rule_id: str) -> Rule | None:
        return next((r for r in self.rules if r.id == rule_id), None)


# ------------------------------------------------------------------------------------------
# Reading YAML with line numbers


class _Map(dict[Any, Any]):
    line: int = 0
    key_lines: dict[Any, int]


class _Seq(list[Any]):
    line: int = 0
    item_lines: list[int]


class _Loader(yaml.SafeLoader):
    """Safe YAML that remembers the line of every mapping, key and list item, and refuses
    duplicate keys (which plain YAML silently overwrites)."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Map:
    loader.flatten_mapping(node)
    result = _Map()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            raise PolicyError("a key must be plain text", line=line) from None
        if key in result:
            raise PolicyError(f"key {key!r} appears twice in the same mapping", line=line)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> _Seq:
    result = _Seq(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def _line_of(container: object, key: object = None) -> int | None:
    if isinstance(container, _Map):
        return container.key_lines.get(key, container.line) if key is not None else container.line
    if isinstance(container, _Seq):
        if isinstance(key, int) and 0 <= key < len(container.item_lines):
            return container.item_lines[key]
        return container.line
    return None


# ------------------------------------------------------------------------------------------
# Validation


_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")
_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{2,63}")
_TOP_KEYS = ("name", "description", "topics", "rules", "channel_limits", "disable")
_COMMON_KEYS = ("id", "explain", "action", "channels", "visibility", "allow", "enabled", "locked")
_KIND_KEYS: dict[str, tuple[str, ...]] = {
    "terms": ("terms", "topics"),
    "links": ("allowed_domains",),
    "personal_data": ("personal_data", "patterns"),
    "tone": ("tone", "hostile_terms", "shouting_min_letters"),
    "required_text": ("required_text", "when", "when_topics"),
    "limits": ("max_mentions", "max_hashtags"),
}
# Keys that say which kind a rule is (the others only refine a kind).
_KIND_MARKERS: dict[str, str] = {
    "terms": "terms",
    "topics": "terms",
    "allowed_domains": "links",
    "personal_data": "personal_data",
    "patterns": "personal_data",
    "tone": "tone",
    "required_text": "required_text",
    "max_mentions": "limits",
    "max_hashtags": "limits",
}
MAX_TERM_LENGTH = 100
MAX_LIST = 5000


class _Reader:
    """Turns one parsed YAML document into a :class:`Policy`, or a :class:`PolicyError`."""

    def __init__(self, source: str | None) -> None:
        self.source = source

    def fail(
        self,
        problem: str,
        *,
        rule_id: str | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> PolicyError:
        return PolicyError(problem, rule_id=rule_id, field=field, line=line, source=self.source)

    def unknown_key(
        self, key: object, allowed: Sequence[str], *, container: object, rule_id: str | None
    ) -> PolicyError:
        hint = difflib.get_close_matches(str(key), allowed, n=1)
        suggestion = (
            f"; did you mean {hint[0]!r}?" if hint else f"; known keys: {', '.join(allowed)}"
        )
        return self.fail(
            f"unknown key {key!r}{suggestion}",
            rule_id=rule_id,
            field=str(key),
            line=_line_of(container, key),
        )

    # -- scalars and lists ------------------------------------------------------------------

    def text(
        self, data: Mapping[Any, Any], key: str, *, rule_id: str | None, required: bool = False
    ) -> str:
        if key not in data or data[key] is None:
            if required:
                raise self.fail("is required", rule_id=rule_id, field=key, line=_line_of(data))
            return ""
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(
                f"must be text, got {type(value).__name__}",
                rule_id=rule_id,
                field=key,
                line=_line_of(data, key),
            )
        value = str(value).strip()
        if required and not value:
            raise self.fail(
                "must not be empty", rule_id=rule_id, field=key, line=_line_of(data, key)
            )
        return value

    def flag(
        self, data: Mapping[Any, Any], key: str, default: bool, *, rule_id: str | None
    ) -> bool:
        if key not in data or data[key] is None:
            return default
        value = data[key]
        if not isinstance(value, bool):
            raise self.fail(
                f"must be true or false, got {value!r}",
                rule_id=rule_id,
                field=key,
                line=_line_of(data, key),
            )
        return value

    def count(
        self, data: Mapping[Any, Any], key: str, *, rule_id: str | None, minimum: int = 0
    ) -> int | None:
        if key not in data or data[key] is None:
            return None
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(
                f"must be a whole number of at least {minimum}, got {value!r}",
                rule_id=rule_id,
                field=key,
                line=_line_of(data, key),
            )
        return value

    def strings(
        self, data: Mapping[Any, Any], key: str, *, rule_id: str | None, one_allowed: bool = True
    ) -> tuple[str, ...]:
        if key not in data or data[key] is None:
            return ()
        value = data[key]
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and one_allowed:
            value = [value]
        if not isinstance(value, list):
            raise self.fail(
                f"must be a list of text, got {type(value).__name__}",
                rule_id=rule_id,
                field=key,
                line=_line_of(data, key),
            )
        if len(value) > MAX_LIST:
            raise self.fail(
                f"has {len(value)} entries; at most {MAX_LIST}",
                rule_id=rule_id,
                field=key,
                line=_line_of(data, key),
            )
        out: list[str] = []
        for index, item in enumerate(value):
            line = _line_of(value, index) or _line_of(data, key)
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                raise self.fail(
                    f"entry {index + 1} must be text, got {type(item).__name__}",
                    rule_id=rule_id,
                    field=key,
                    line=line,
                )
            text = str(item).strip()
            if not text:
                raise self.fail(
                    f"entry {index + 1} is empty", rule_id=rule_id, field=key, line=line
                )
            if len(text) > MAX_TERM_LENGTH:
                raise self.fail(
                    f"entry {index + 1} is longer than {MAX_TERM_LENGTH} characters",
                    rule_id=rule_id,
                    field=key,
                    line=line,
                )
            if text not in out:
                out.append(text)
        return tuple(out)

    def choices(
        self,
        data: Mapping[Any, Any],
        key: str,
        enum_type: type[enum.StrEnum],
        *,
        rule_id: str | None,
    ) -> tuple[Any, ...]:
        names = self.strings(data, key, rule_id=rule_id)
        allowed = [member.value for member in enum_type]
        out = []
        for name in names:
            if name.lower() not in allowed:
                raise self.fail(
                    f"{name!r} is not one of {', '.join(allowed)}",
                    rule_id=rule_id,
                    field=key,
                    line=_line_of(data, key),
                )
            out.append(enum_type(name.lower()))
        return tuple(out)

    # -- the document -----------------------------------------------------------------------

    def policy(self, data: object) -> Policy:
        if data is None:
            data = _Map()
        if not isinstance(data, dict):
            raise self.fail(
                f"a policy is a mapping with a 'rules' list, got {type(data).__name__}",
                line=_line_of(data),
            )
        for key in data:
            if key not in _TOP_KEYS:
                raise self.unknown_key(key, _TOP_KEYS, container=data, rule_id=None)
        topics = self.topics(data)
        raw_rules = data.get("rules")
        if raw_rules is None:
            raw_rules = []
        if not isinstance(raw_rules, list):
            raise self.fail("must be a list of rules", field="rules", line=_line_of(data, "rules"))
        rules: list[Rule] = []
        seen: dict[str, int | None] = {}
        for index, raw in enumerate(raw_rules):
            rule = self.rule(raw, index=index, container=raw_rules, topics=topics)
            if rule.id in seen:
                raise self.fail(
                    f"id is used twice (first at line {seen[rule.id]})",
                    rule_id=rule.id,
                    field="id",
                    line=_line_of(raw, "id"),
                )
            seen[rule.id] = _line_of(raw, "id")
            rules.append(rule)
        return Policy(
            name=self.text(data, "name", rule_id=None),
            description=self.text(data, "description", rule_id=None),
            topics=topics,
            rules=tuple(rules),
            channel_limits=self.channel_limits(data),
            disable=self.strings(data, "disable", rule_id=None),
        )

    def topics(self, data: Mapping[Any, Any]) -> dict[str, tuple[str, ...]]:
        raw = data.get("topics")
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise self.fail(
                "must map topic names to lists of terms",
                field="topics",
                line=_line_of(data, "topics"),
            )
        out: dict[str, tuple[str, ...]] = {}
        for name in raw:
            if not isinstance(name, str) or not _ID.fullmatch(name):
                raise self.fail(
                    f"topic name {name!r} must be lower case letters, digits, - _ or .",
                    field="topics",
                    line=_line_of(raw, name),
                )
            out[name] = self.strings(raw, name, rule_id=None)
        return out

    def channel_limits(self, data: Mapping[Any, Any]) -> dict[ChannelKind, int]:
        raw = data.get("channel_limits")
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            raise self.fail(
                "must map channel names to limits",
                field="channel_limits",
                line=_line_of(data, "channel_limits"),
            )
        out: dict[ChannelKind, int] = {}
        channels = [c.value for c in ChannelKind]
        for name in raw:
            if name not in channels:
                raise self.fail(
                    f"{name!r} is not a channel ({', '.join(channels)})",
                    field="channel_limits",
                    line=_line_of(raw, name),
                )
            limit = self.count(raw, name, rule_id=None, minimum=1)
            if limit is not None:
                out[ChannelKind(name)] = limit
        return out

    def rule(
        self, raw: object, *, index: int, container: object, topics: Mapping[str, tuple[str, ...]]
    ) -> Rule:
        if not isinstance(raw, dict):
            raise self.fail(
                f"rule {index + 1} must be a mapping with id, explain, action and what to check",
                field="rules",
                line=_line_of(container, index),
            )
        rule_id_raw = raw.get("id")
        if not isinstance(rule_id_raw, str) or not _ID.fullmatch(rule_id_raw):
            raise self.fail(
                f"rule {index + 1}: 'id' must be lower case letters, digits, - _ or . "
                f"(at most 64), got {rule_id_raw!r}",
                field="id",
                line=_line_of(raw, "id"),
            )
        rule_id = rule_id_raw
        kinds = sorted({_KIND_MARKERS[k] for k in raw if k in _KIND_MARKERS})
        if not kinds:
            raise self.fail(
                "says nothing to check; give one of terms/topics, allowed_domains, "
                "personal_data/patterns, tone, required_text, max_mentions/max_hashtags",
                rule_id=rule_id,
                line=_line_of(raw),
            )
        if len(kinds) > 1:
            raise self.fail(
                f"mixes kinds ({' and '.join(kinds)}); write one rule per kind",
                rule_id=rule_id,
                line=_line_of(raw),
            )
        kind = kinds[0]
        allowed_keys = _COMMON_KEYS + _KIND_KEYS[kind]
        for key in raw:
            if key not in allowed_keys:
                raise self.unknown_key(key, allowed_keys, container=raw, rule_id=rule_id)
        action_raw = self.text(raw, "action", rule_id=rule_id, required=True).lower()
        if action_raw not in [a.value for a in Action]:
            raise self.fail(
                f"must be one of block, approve, warn; got {action_raw!r}",
                rule_id=rule_id,
                field="action",
                line=_line_of(raw, "action"),
            )
        common: dict[str, Any] = {
            "id": rule_id,
            "explain": self.text(raw, "explain", rule_id=rule_id, required=True),
            "action": Action(action_raw),
            "channels": self.choices(raw, "channels", ChannelKind, rule_id=rule_id),
            "allow": self.strings(raw, "allow", rule_id=rule_id),
            "enabled": self.flag(raw, "enabled", True, rule_id=rule_id),
            "locked": self.flag(raw, "locked", False, rule_id=rule_id),
        }
        visibility = self.choices(raw, "visibility", Visibility, rule_id=rule_id)
        if visibility:
            common["visibility"] = visibility
        builder = getattr(self, f"_rule_{kind}")
        rule: Rule = builder(raw, common, rule_id, topics)
        return rule

    def _topic_names(
        self, raw: Mapping[Any, Any], key: str, rule_id: str, topics: Mapping[str, tuple[str, ...]]
    ) -> tuple[str, ...]:
        names = self.strings(raw, key, rule_id=rule_id)
        for name in names:
            if name not in BUILTIN_TOPICS and name not in topics:
                known = sorted(set(BUILTIN_TOPICS) | set(topics))
                raise self.fail(
                    f"unknown topic {name!r}; known topics: {', '.join(known)}",
                    rule_id=rule_id,
                    field=key,
                    line=_line_of(raw, key),
                )
        return names

    def _rule_terms(
        self,
        raw: Mapping[Any, Any],
        common: dict[str, Any],
        rule_id: str,
        topics: Mapping[str, tuple[str, ...]],
    ) -> TermsRule:
        terms = self.strings(raw, "terms", rule_id=rule_id)
        names = self._topic_names(raw, "topics", rule_id, topics)
        if not terms and not names:
            raise self.fail(
                "needs at least one term or topic",
                rule_id=rule_id,
                field="terms",
                line=_line_of(raw),
            )
        return TermsRule(**common, terms=terms, topics=names)

    def _rule_links(
        self,
        raw: Mapping[Any, Any],
        common: dict[str, Any],
        rule_id: str,
        topics: Mapping[str, tuple[str, ...]],
    ) -> LinksRule:
        domains = []
        for entry in self.strings(raw, "allowed_domains", rule_id=rule_id):
            domain = re.sub(r"^[a-z]+://", "", entry.lower()).split("/")[0].rstrip(".")
            domain = domain.removeprefix("www.")
            if not _DOMAIN.fullmatch(domain):
                raise self.fail(
                    f"{entry!r} is not a domain such as example.org",
                    rule_id=rule_id,
                    field="allowed_domains",
                    line=_line_of(raw, "allowed_domains"),
                )
            domains.append(domain)
        return LinksRule(**common, allowed_domains=tuple(domains))

    def _rule_personal_data(
        self,
        raw: Mapping[Any, Any],
        common: dict[str, Any],
        rule_id: str,
        topics: Mapping[str, tuple[str, ...]],
    ) -> PersonalDataRule:
        kinds = self.choices(raw, "personal_data", PersonalData, rule_id=rule_id)
        patterns = self._patterns(raw, rule_id)
        if not kinds and not patterns:
            raise self.fail(
                "needs personal_data kinds or patterns",
                rule_id=rule_id,
                field="personal_data",
                line=_line_of(raw),
            )
        return PersonalDataRule(**common, personal_data=kinds, patterns=patterns)

    def _patterns(self, raw: Mapping[Any, Any], rule_id: str) -> tuple[NamedPattern, ...]:
        value = raw.get("patterns")
        if value is None:
            return ()
        if isinstance(value, dict):
            items = [(str(k), v, _line_of(value, k)) for k, v in value.items()]
        elif isinstance(value, list):
            items = [(f"pattern-{i + 1}", v, _line_of(value, i)) for i, v in enumerate(value)]
        else:
            raise self.fail(
                "must map names to regular expressions (or list them)",
                rule_id=rule_id,
                field="patterns",
                line=_line_of(raw, "patterns"),
            )
        out = []
        for name, pattern, line in items:
            if not isinstance(pattern, str) or not pattern:
                raise self.fail(
                    f"pattern {name!r} must be a regular expression as text",
                    rule_id=rule_id,
                    field="patterns",
                    line=line,
                )
            try:
                compiled = regex.compile(pattern)
            except regex.error as exc:
                raise self.fail(
                    f"pattern {name!r} is not a valid regular expression: {exc}",
                    rule_id=rule_id,
                    field="patterns",
                    line=line,
                ) from None
            if compiled.search("") is not None:
                raise self.fail(
                    f"pattern {name!r} matches empty text, so it would flag every message",
                    rule_id=rule_id,
                    field="patterns",
                    line=line,
                )
            out.append(NamedPattern(name=name, pattern=pattern))
        return tuple(out)

    def _rule_tone(
        self,
        raw: Mapping[Any, Any],
        common: dict[str, Any],
        rule_id: str,
        topics: Mapping[str, tuple[str, ...]],
    ) -> ToneRule:
        tones = self.choices(raw, "tone", Tone, rule_id=rule_id)
        if not tones:
            raise self.fail(
                "needs at least one of hostile, shouting, profanity",
                rule_id=rule_id,
                field="tone",
                line=_line_of(raw, "tone"),
            )
        minimum = self.count(raw, "shouting_min_letters", rule_id=rule_id, minimum=4)
        return ToneRule(
            **common,
            tone=tones,
            hostile_terms=self.strings(raw, "hostile_terms", rule_id=rule_id),
            shouting_min_letters=minimum if minimum is not None else 12,
        )

    def _rule_required_text(
        self,
        raw: Mapping[Any, Any],
        common: dict[str, Any],
        rule_id: str,
        topics: Mapping[str, tuple[str, ...]],
    ) -> RequiredTextRule:
        required = self.strings(raw, "required_text", rule_id=rule_id)
        if not required:
            raise self.fail(
                "needs the text that must appear",
                rule_id=rule_id,
                field="required_text",
                line=_line_of(raw, "required_text"),
            )
        return RequiredTextRule(
            **common,
            required_text=required,
            when=self.strings(raw, "when", rule_id=rule_id),
            when_topics=self._topic_names(raw, "when_topics", rule_id, topics),
        )

    def _rule_limits(
        self,
        raw: Mapping[Any, Any],
        common: dict[str, Any],
        rule_id: str,
        topics: Mapping[str, tuple[str, ...]],
    ) -> LimitsRule:
        return LimitsRule(
            **common,
            max_mentions=self.count(raw, "max_mentions", rule_id=rule_id),
            max_hashtags=self.count(raw, "max_hashtags", rule_id=rule_id),
        )


# ------------------------------------------------------------------------------------------
# Public functions


def load_policy(text: str, *, source: str | None = None) -> Policy:
    """Read a policy from YAML text. ``source`` (a file name) prefixes error messages."""
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except PolicyError as exc:
        raise PolicyError(exc.problem, line=exc.line, source=source) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        raise PolicyError(f"not valid YAML: {problem}", line=line, source=source) from None
    except yaml.YAMLError as exc:
        raise PolicyError(f"not valid YAML: {exc}", source=source) from None
    return _Reader(source).policy(data)


def load_policy_file(path: str | Path) -> Policy:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PolicyError(f"cannot read the policy file: {exc}", source=str(path)) from None
    return load_policy(text, source=str(path))


def policy_from_data(data: Mapping[str, Any]) -> Policy:
    """Read a policy already parsed from JSON or YAML (no line numbers in errors)."""
    return _Reader(None).policy(dict(data))


def policy_to_data(policy: Policy) -> dict[str, Any]:
    """The policy as plain data, the same shape the YAML has. Defaults are left out."""
    out: dict[str, Any] = {}
    if policy.name:
        out["name"] = policy.name
    if policy.description:
        out["description"] = policy.description
    if policy.topics:
        out["topics"] = {name: list(terms) for name, terms in policy.topics.items()}
    if policy.channel_limits:
        out["channel_limits"] = {str(c): n for c, n in policy.channel_limits.items()}
    if policy.disable:
        out["disable"] = list(policy.disable)
    out["rules"] = [_rule_to_data(rule) for rule in policy.rules]
    return out


def _rule_to_data(rule: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {"id": rule.id, "explain": rule.explain, "action": str(rule.action)}
    default_visibility = type(rule)(id="x", explain="x", action=Action.WARN).visibility
    if rule.channels:
        out["channels"] = [str(c) for c in rule.channels]
    if rule.visibility != default_visibility:
        out["visibility"] = [str(v) for v in rule.visibility]
    if rule.allow:
        out["allow"] = list(rule.allow)
    if not rule.enabled:
        out["enabled"] = False
    if rule.locked:
        out["locked"] = True
    kind_data: dict[str, Any] = _KIND_TO_DATA[type(rule)](rule)
    # Empty lists and unset numbers are defaults: leave them out, as a person would.
    out.update((k, v) for k, v in kind_data.items() if v not in ((), [], {}, None))
    return out


def _terms_data(rule: Any) -> dict[str, Any]:
    return {"terms": list(rule.terms), "topics": list(rule.topics)}


def _links_data(rule: Any) -> dict[str, Any]:
    return {"allowed_domains": list(rule.allowed_domains)}


def _personal_data(rule: Any) -> dict[str, Any]:
    return {
        "personal_data": [str(k) for k in rule.personal_data],
        "patterns": {p.name: p.pattern for p in rule.patterns},
    }


def _tone_data(rule: Any) -> dict[str, Any]:
    minimum = rule.shouting_min_letters
    return {
        "tone": [str(t) for t in rule.tone],
        "hostile_terms": list(rule.hostile_terms),
        "shouting_min_letters": minimum if minimum != 12 else None,
    }


def _required_data(rule: Any) -> dict[str, Any]:
    return {
        "required_text": list(rule.required_text),
        "when": list(rule.when),
        "when_topics": list(rule.when_topics),
    }


def _limits_data(rule: Any) -> dict[str, Any]:
    return {"max_mentions": rule.max_mentions, "max_hashtags": rule.max_hashtags}


_KIND_TO_DATA: dict[type, Any] = {
    TermsRule: _terms_data,
    LinksRule: _links_data,
    PersonalDataRule: _personal_data,
    ToneRule: _tone_data,
    RequiredTextRule: _required_data,
    LimitsRule: _limits_data,
}


def dump_policy(policy: Policy) -> str:
    """The policy as YAML that :func:`load_policy` reads back to an equal policy."""
    return yaml.safe_dump(policy_to_data(policy), sort_keys=False, allow_unicode=True, width=100)


def merge_policies(org: Policy, overlay: Policy) -> Policy:
    """Refine an organization's policy for one brand account.

    The overlay may add rules, replace an organization rule by using its id, disable
    organization rules (``disable: [id]``), extend topics of the same name and set channel
    limits. It may neither replace nor disable a ``locked`` rule.
    """
    org_rules = {rule.id: rule for rule in org.rules}
    for rule_id in overlay.disable:
        if rule_id not in org_rules:
            raise PolicyError(
                "the overlay disables a rule the organization policy does not have",
                rule_id=rule_id,
                field="disable",
            )
        if org_rules[rule_id].locked:
            raise PolicyError(
                "is locked by the organization and cannot be disabled",
                rule_id=rule_id,
                field="disable",
            )
    overlay_ids = {rule.id for rule in overlay.rules}
    for rule in overlay.rules:
        base = org_rules.get(rule.id)
        if base is not None and base.locked:
            raise PolicyError(
                "is locked by the organization and cannot be replaced", rule_id=rule.id
            )
    disabled = set(org.disable) | set(overlay.disable)
    rules: list[Rule] = []
    for rule in org.rules:
        if rule.id in disabled:
            continue
        if rule.id in overlay_ids:
            replacement = overlay.rule(rule.id)
            assert replacement is not None
            rules.append(replacement)
        else:
            rules.append(rule)
    rules.extend(r for r in overlay.rules if r.id not in org_rules and r.id not in overlay.disable)
    topics = {name: tuple(terms) for name, terms in org.topics.items()}
    for name, terms in overlay.topics.items():
        topics[name] = topics.get(name, ()) + tuple(
            t for t in terms if t not in topics.get(name, ())
        )
    return Policy(
        name=org.name if not overlay.name else f"{org.name} / {overlay.name}".strip(" /"),
        description=org.description,
        topics=topics,
        rules=tuple(rules),
        channel_limits={**org.channel_limits, **overlay.channel_limits},
    )


# ------------------------------------------------------------------------------------------
# Starter policies shipped with the package


def starter_names() -> list[str]:
    """Names of the starter policies an organization can adopt (``faith``, ``finance``...)."""
    folder = resources.files("socialdesk.policy").joinpath("starters")
    return sorted(
        entry.name.removesuffix(".yaml")
        for entry in folder.iterdir()
        if entry.name.endswith(".yaml")
    )


def starter_text(name: str) -> str:
    if name not in starter_names():
        raise PolicyError(f"no starter policy {name!r}; starters: {', '.join(starter_names())}")
    folder = resources.files("socialdesk.policy").joinpath("starters")
    return folder.joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def load_starter(name: str) -> Policy:
    return load_policy(starter_text(name), source=f"starter {name}")
