"""The check every outgoing message passes: a compiled policy, a draft, a decision.

:func:`compile_policy` turns a :class:`~socialdesk.policy.rules.Policy` into a
:class:`CompiledPolicy` once (all term lists of all rules become one matcher); :func:`check`
then judges one draft for one channel and visibility. The decision is the strictest action among
the violations (block > approve > warn > allow); every violation names its rule, the clause,
the action and the span of the draft it is about. A draft longer than the channel allows
(signature included) is blocked with its own clause, rule id ``length``.

:func:`check` is pure and deterministic, and never raises: should anything inside fail, the
draft is held back with the clause of rule ``checker-error`` (fail closed), because the send
gateway must never let an unchecked message out.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import regex

from socialdesk.connectors.base import ChannelKind, LengthCounting, Visibility
from socialdesk.policy.entities import HASHTAG, MENTION, Link, find_urls, host_allowed
from socialdesk.policy.length import channel_length, count, overflow_start, sign
from socialdesk.policy.matcher import TermGroup, TermHit, TermMatcher
from socialdesk.policy.rules import (
    Action,
    LimitsRule,
    LinksRule,
    PersonalData,
    PersonalDataRule,
    Policy,
    RequiredTextRule,
    Rule,
    TermsRule,
    Tone,
    ToneRule,
    dump_policy,
)

log = logging.getLogger(__name__)

LENGTH_RULE = "length"
ERROR_RULE = "checker-error"
PRIVATE_SUGGESTION = "Move this conversation to a private message before sharing personal data."
# A pattern written by a policy author gets this long per draft; a pattern that takes longer
# (catastrophic backtracking) counts as a match, so the draft is held back rather than sent.
PATTERN_TIMEOUT_SECONDS = 0.05
# The timeout costs about 5 us per call, a lot when a policy has many patterns. A pattern that
# cannot backtrack catastrophically (no quantified group, no back-reference, at most two
# unbounded quantifiers: at worst quadratic) runs without it on drafts up to this length.
SAFE_PATTERN_MAX_TEXT = 2000
_QUANTIFIED_GROUP = re.compile(r"\)[*+?{]")
_BACKREFERENCE = re.compile(r"\\[1-9]|\(\?P=|\\g<")
_UNBOUNDED = re.compile(r"(?<!\\)(?:[*+]|\{\d*,\})")


def pattern_is_simple(pattern: str) -> bool:
    """A conservative test that a regular expression cannot backtrack catastrophically."""
    return (
        not _QUANTIFIED_GROUP.search(pattern)
        and not _BACKREFERENCE.search(pattern)
        and len(_UNBOUNDED.findall(pattern)) <= 2
    )


class Outcome(enum.StrEnum):
    ALLOW = "allow"
    WARN = "warn"
    APPROVE = "approve"
    BLOCK = "block"


_SEVERITY = {Outcome.ALLOW: 0, Outcome.WARN: 1, Outcome.APPROVE: 2, Outcome.BLOCK: 3}
_OUTCOME_OF = {
    Action.WARN: Outcome.WARN,
    Action.APPROVE: Outcome.APPROVE,
    Action.BLOCK: Outcome.BLOCK,
}


class Violation(NamedTuple):
    """One rule broken by ``text[start:end]`` of the draft. (A named tuple: a large policy can
    produce hundreds per draft, and tuples are several times cheaper to build than frozen
    dataclasses.)"""

    rule: str
    explain: str
    action: Action
    start: int
    end: int
    kind: str  # terms, links, personal_data, tone, required_text, limits, length
    suggestion: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rule": self.rule,
            "explain": self.explain,
            "action": str(self.action),
            "start": self.start,
            "end": self.end,
            "kind": self.kind,
        }
        if self.suggestion:
            out["suggestion"] = self.suggestion
        return out


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    violations: tuple[Violation, ...]
    length: int  # of the draft with the signature, as the channel counts
    limit: int | None
    counting: LengthCounting
    policy_fingerprint: str = ""

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else self.limit - self.length

    def to_json(self) -> dict[str, Any]:
        return {
            "decision": str(self.outcome),
            "violations": [v.to_json() for v in self.violations],
            "length": self.length,
            "limit": self.limit,
            "counting": str(self.counting),
            "policy": self.policy_fingerprint,
        }


@dataclass(frozen=True, slots=True)
class _Owner:
    rule_index: int
    purpose: str  # terms, hostile, profanity, when


@dataclass(slots=True)
class _RuleExtras:
    owners: dict[str, int] = field(default_factory=dict)  # purpose -> matcher owner id
    required: re.Pattern[str] | None = None
    patterns: tuple[tuple[regex.Pattern[str], bool], ...] = ()  # (pattern, simple)
    allow_values: frozenset[str] = frozenset()
    allowed_domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Plan:
    """Which rules apply to one channel and visibility."""

    term_owners: frozenset[int]  # matcher owners of applicable term rules
    others: tuple[int, ...]  # indices of applicable rules of the other kinds


@dataclass(frozen=True, slots=True)
class CompiledPolicy:
    """A policy ready to check drafts quickly. Build it with :func:`compile_policy`."""

    policy: Policy
    fingerprint: str  # sha256 of the policy's canonical YAML: record it with each decision
    rules: tuple[Rule, ...]
    matcher: TermMatcher
    extras: tuple[_RuleExtras, ...]
    owners: tuple[_Owner, ...]
    _plans: dict[tuple[ChannelKind, Visibility], _Plan] = field(
        default_factory=dict, compare=False, repr=False
    )

    def plan(self, channel: ChannelKind, visibility: Visibility) -> _Plan:
        # Term rules are most of a large policy; they cost nothing unless the matcher found
        # one of their terms, so only the other kinds are visited one by one.
        key = (channel, visibility)
        plan = self._plans.get(key)
        if plan is None:
            applicable = [
                i for i, rule in enumerate(self.rules) if rule.applies_to(channel, visibility)
            ]
            plan = _Plan(
                term_owners=frozenset(
                    self.extras[i].owners["terms"]
                    for i in applicable
                    if isinstance(self.rules[i], TermsRule)
                ),
                others=tuple(i for i in applicable if not isinstance(self.rules[i], TermsRule)),
            )
            self._plans[key] = plan
        return plan


def _literal_pattern(texts: Iterable[str]) -> re.Pattern[str]:
    pieces = []
    for text in texts:
        piece = re.escape(text)
        if text[:1].isalnum():
            piece = r"(?<![^\W_])" + piece
        if text[-1:].isalnum():
            piece += r"(?![^\W_])"
        pieces.append(piece)
    return re.compile("|".join(pieces), re.IGNORECASE)


def compile_policy(policy: Policy) -> CompiledPolicy:
    """Compile ``policy`` once; reuse the result for every check until the policy changes."""
    rules = tuple(r for r in policy.rules if r.enabled and r.id not in policy.disable)
    groups: list[TermGroup] = []
    owners: list[_Owner] = []
    extras: list[_RuleExtras] = []

    def owner(index: int, purpose: str, terms: Iterable[str], allow: Iterable[str]) -> int:
        owner_id = len(owners)
        owners.append(_Owner(index, purpose))
        groups.append(TermGroup(owner_id, tuple(terms), tuple(allow)))
        return owner_id

    for index, rule in enumerate(rules):
        extra = _RuleExtras()
        if isinstance(rule, TermsRule):
            terms = list(rule.terms)
            for name in rule.topics:
                terms.extend(policy.topic(name))
            extra.owners["terms"] = owner(index, "terms", terms, rule.allow)
        elif isinstance(rule, ToneRule):
            if Tone.PROFANITY in rule.tone:
                extra.owners["profanity"] = owner(
                    index, "profanity", policy.topic("profanity"), rule.allow
                )
            if Tone.HOSTILE in rule.tone:
                hostile = (*policy.topic("hostile"), *rule.hostile_terms)
                extra.owners["hostile"] = owner(index, "hostile", hostile, rule.allow)
        elif isinstance(rule, RequiredTextRule):
            triggers = list(rule.when)
            for name in rule.when_topics:
                triggers.extend(policy.topic(name))
            if triggers:
                extra.owners["when"] = owner(index, "when", triggers, rule.allow)
            extra.required = _literal_pattern(rule.required_text)
        elif isinstance(rule, PersonalDataRule):
            extra.patterns = tuple(
                (regex.compile(p.pattern, regex.IGNORECASE), pattern_is_simple(p.pattern))
                for p in rule.patterns
            )
            extra.allow_values = frozenset(_normalise_value(v) for v in rule.allow)
        elif isinstance(rule, LinksRule):
            extra.allowed_domains = rule.allowed_domains + tuple(a.lower() for a in rule.allow)
        extras.append(extra)

    fingerprint = hashlib.sha256(dump_policy(policy).encode("utf-8")).hexdigest()
    return CompiledPolicy(
        policy=policy,
        fingerprint=fingerprint,
        rules=rules,
        matcher=TermMatcher(groups),
        extras=tuple(extras),
        owners=tuple(owners),
    )


def check(
    compiled: CompiledPolicy,
    text: str,
    *,
    channel: ChannelKind,
    visibility: Visibility,
    signature: str | None = None,
) -> Decision:
    """Judge ``text`` (the draft, without signature) for ``channel`` and ``visibility``.

    ``signature`` is the agent's signature the gateway appends with
    :func:`socialdesk.policy.length.sign`; it counts toward the length but is not checked for
    content. Never raises.
    """
    try:
        return _check(compiled, text, channel=channel, visibility=visibility, signature=signature)
    except Exception:  # fail closed: an unchecked message must not leave
        log.exception("policy check failed; holding the message back")
        size = len(text) if isinstance(text, str) else 0
        return Decision(
            outcome=Outcome.BLOCK,
            violations=(
                Violation(
                    rule=ERROR_RULE,
                    explain="This message could not be checked against the code of conduct, "
                    "so it was held back. Try again, or ask an administrator to look at the "
                    "policy.",
                    action=Action.BLOCK,
                    start=0,
                    end=size,
                    kind="error",
                ),
            ),
            length=size,
            limit=None,
            counting=LengthCounting.NONE,
            policy_fingerprint=getattr(compiled, "fingerprint", ""),
        )


class _Draft:
    """What several rules need from one draft, each computed at most once."""

    def __init__(self, text: str, compiled: CompiledPolicy) -> None:
        self.text = text
        self._compiled = compiled
        self._hits: dict[int, list[TermHit]] | None = None
        self._links: list[Link] | None = None
        self._personal: list[tuple[PersonalData, int, int, str]] | None = None
        self._shouting: dict[int, list[tuple[int, int]]] = {}
        self._entities: dict[str, list[tuple[int, int]]] = {}

    def _grouped_hits(self) -> dict[int, list[TermHit]]:
        if self._hits is None:
            grouped: dict[int, list[TermHit]] = {}
            for hit in self._compiled.matcher.find(self.text):
                grouped.setdefault(hit.owner, []).append(hit)
            self._hits = grouped
        return self._hits

    def owners_hit(self) -> set[int]:
        return set(self._grouped_hits())

    def hits(self, owner: int) -> list[TermHit]:
        return self._grouped_hits().get(owner, [])

    def shouting(self, min_letters: int) -> list[tuple[int, int]]:
        if min_letters not in self._shouting:
            self._shouting[min_letters] = find_shouting(self.text, min_letters)
        return self._shouting[min_letters]

    def spans(self, name: str, pattern: re.Pattern[str]) -> list[tuple[int, int]]:
        if name not in self._entities:
            self._entities[name] = [(m.start(), m.end()) for m in pattern.finditer(self.text)]
        return self._entities[name]

    def links(self) -> list[Link]:
        if self._links is None:
            self._links = find_urls(self.text)
        return self._links

    def personal(self) -> list[tuple[PersonalData, int, int, str]]:
        if self._personal is None:
            self._personal = find_personal_data(self.text)
        return self._personal


def _check(
    compiled: CompiledPolicy,
    text: str,
    *,
    channel: ChannelKind,
    visibility: Visibility,
    signature: str | None,
) -> Decision:
    draft = _Draft(text, compiled)
    plan = compiled.plan(channel, visibility)
    violations: list[Violation] = []
    if plan.term_owners:
        for owner_id in sorted(plan.term_owners & draft.owners_hit()):
            rule = compiled.rules[compiled.owners[owner_id].rule_index]
            violations.extend(_violation(rule, h.start, h.end) for h in draft.hits(owner_id))
    for index in plan.others:
        violations.extend(_judge(compiled.rules[index], compiled.extras[index], draft))

    counting_limit = channel_length(channel, visibility)
    limit = counting_limit.limit
    if visibility is Visibility.PUBLIC and channel in compiled.policy.channel_limits:
        limit = compiled.policy.channel_limits[channel]
    signed = sign(text, signature)
    length = count(signed, counting_limit.counting)
    if limit is not None and length > limit:
        suffix = signed[len(text.rstrip()) :] if signed != text else ""
        start = overflow_start(text.rstrip(), counting_limit.counting, limit, suffix=suffix)
        violations.append(
            Violation(
                rule=LENGTH_RULE,
                explain=f"Too long for {channel}: {length} of {limit} "
                f"{_unit(counting_limit.counting)}, signature included. Shorten it by "
                f"{length - limit}.",
                action=Action.BLOCK,
                start=min(start, len(text)),
                end=len(text),
                kind="length",
            )
        )

    violations.sort(key=lambda v: (v.start, v.end, v.rule))
    return Decision(
        outcome=outcome_for(violations),
        violations=tuple(violations),
        length=length,
        limit=limit,
        counting=counting_limit.counting,
        policy_fingerprint=compiled.fingerprint,
    )


def _unit(counting: LengthCounting) -> str:
    return {
        LengthCounting.X_WEIGHTED: "weighted characters",
        LengthCounting.GRAPHEMES: "characters",
        LengthCounting.MASTODON: "characters",
    }.get(counting, "characters")


def _violation(rule: Rule, start: int, end: int, suggestion: str | None = None) -> Violation:
    return Violation(
        rule=rule.id,
        explain=rule.explain,
        action=rule.action,
        start=start,
        end=end,
        kind=rule.kind,
        suggestion=suggestion,
    )


def _judge(rule: Rule, extra: _RuleExtras, draft: _Draft) -> list[Violation]:
    judge: Callable[[Any, _RuleExtras, _Draft], list[Violation]] = _JUDGES[type(rule)]
    return judge(rule, extra, draft)


def _judge_terms(rule: TermsRule, extra: _RuleExtras, draft: _Draft) -> list[Violation]:
    return [_violation(rule, h.start, h.end) for h in draft.hits(extra.owners["terms"])]


def _judge_links(rule: LinksRule, extra: _RuleExtras, draft: _Draft) -> list[Violation]:
    return [
        _violation(rule, link.start, link.end)
        for link in draft.links()
        if not host_allowed(link.host, extra.allowed_domains)
    ]


def _judge_tone(rule: ToneRule, extra: _RuleExtras, draft: _Draft) -> list[Violation]:
    found: list[Violation] = []
    for purpose in ("profanity", "hostile"):
        if purpose in extra.owners:
            found.extend(
                _violation(rule, h.start, h.end) for h in draft.hits(extra.owners[purpose])
            )
    if Tone.SHOUTING in rule.tone:
        found.extend(_violation(rule, s, e) for s, e in draft.shouting(rule.shouting_min_letters))
    return found


def _judge_required(rule: RequiredTextRule, extra: _RuleExtras, draft: _Draft) -> list[Violation]:
    text = draft.text
    span = (0, len(text))
    if rule.when or rule.when_topics:
        triggers = draft.hits(extra.owners["when"]) if "when" in extra.owners else []
        if not triggers:
            return []
        span = (triggers[0].start, triggers[0].end)
    assert extra.required is not None
    if extra.required.search(text):
        return []
    return [_violation(rule, *span)]


def _judge_limits(rule: LimitsRule, extra: _RuleExtras, draft: _Draft) -> list[Violation]:
    found: list[Violation] = []
    for name, limit, pattern in (
        ("mentions", rule.max_mentions, MENTION),
        ("hashtags", rule.max_hashtags, HASHTAG),
    ):
        if limit is None:
            continue
        spans = draft.spans(name, pattern)
        if len(spans) > limit:
            found.append(_violation(rule, spans[limit][0], spans[-1][1]))
    return found


def _judge_personal(rule: PersonalDataRule, extra: _RuleExtras, draft: _Draft) -> list[Violation]:
    found: list[Violation] = []
    kinds = set(rule.personal_data)
    if kinds:
        for kind, start, end, value in draft.personal():
            if kind in kinds and not _value_allowed(kind, value, extra.allow_values):
                found.append(_violation(rule, start, end, PRIVATE_SUGGESTION))
    short = len(draft.text) <= SAFE_PATTERN_MAX_TEXT
    for pattern, simple in extra.patterns:
        try:
            timeout = None if simple and short else PATTERN_TIMEOUT_SECONDS
            for m in pattern.finditer(draft.text, timeout=timeout):
                if m.end() > m.start() and _normalise_value(m.group()) not in extra.allow_values:
                    found.append(_violation(rule, m.start(), m.end(), PRIVATE_SUGGESTION))
        except TimeoutError:
            log.warning("pattern of rule %s timed out; holding the message back", rule.id)
            found.append(_violation(rule, 0, len(draft.text), PRIVATE_SUGGESTION))
    return found


_JUDGES: dict[type, Callable[[Any, _RuleExtras, _Draft], list[Violation]]] = {
    TermsRule: _judge_terms,
    LinksRule: _judge_links,
    PersonalDataRule: _judge_personal,
    ToneRule: _judge_tone,
    RequiredTextRule: _judge_required,
    LimitsRule: _judge_limits,
}


# ------------------------------------------------------------------------------------------
# Personal data

_DOMAIN_LABEL = r"[A-Za-z0-9]++(?:-++[A-Za-z0-9]++)*+"
_EMAIL = re.compile(rf"(?<![\w.+\-@])[\w.+\-]++@{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})+(?![\w-])")
_CARD = re.compile(r"(?<![\w+])(?:\d[ -]?){12,18}\d(?!\w)")
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    # Written with separators: +44 20 7946 0958, (555) 123-4567, 020-7946-0958
    r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,5}\)[ .-]?)?\d{2,5}(?:[ .-]\d{2,5}){1,5}"
    # Digits only: only with a country code or a trunk zero, as bare digits are usually
    # order or ticket numbers
    r"|\+\d{7,15}|0\d{9,10}"
    r")(?![\w])"
)
_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def find_personal_data(text: str) -> list[tuple[PersonalData, int, int, str]]:
    """Email addresses, phone numbers and payment card numbers in ``text``, as (kind, start,
    end, value). A card number must pass the Luhn check; a phone number has 7 to 15 digits and
    is not a date."""
    found: list[tuple[PersonalData, int, int, str]] = []
    if "@" in text:
        for m in _EMAIL.finditer(text):
            top = m.group().rsplit(".", 1)[-1]
            if len(top) >= 2 and top.isalpha():  # a real address ends in a named domain
                found.append((PersonalData.EMAIL, m.start(), m.end(), m.group()))
    if not any(ch.isdigit() for ch in text):
        return found
    cards: list[tuple[int, int]] = []
    for m in _CARD.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if 13 <= len(digits) <= 19 and luhn_valid(digits):
            cards.append((m.start(), m.end()))
            found.append((PersonalData.CARD, m.start(), m.end(), m.group()))
    emails = [(s, e) for k, s, e, _ in found if k is PersonalData.EMAIL]
    for m in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", m.group())
        if not 7 <= len(digits) <= 15 or _DATE.fullmatch(m.group()):
            continue
        if any(s < m.end() and m.start() < e for s, e in cards + emails):
            continue
        found.append((PersonalData.PHONE, m.start(), m.end(), m.group()))
    found.sort(key=lambda item: (item[1], item[2]))
    return found


def _normalise_value(value: str) -> str:
    value = value.strip().lower()
    if "@" in value:
        return value
    digits = re.sub(r"\D", "", value)
    return digits or value


def _value_allowed(kind: PersonalData, value: str, allowed: frozenset[str]) -> bool:
    if not allowed:
        return False
    normal = _normalise_value(value)
    if normal in allowed:
        return True
    if kind is PersonalData.EMAIL:
        domain = "@" + normal.rsplit("@", 1)[-1]
        return domain in allowed
    # "+1 800 555 0199" and "800-555-0199" are the same number.
    return any(
        len(a) >= 7 and a.isdigit() and (normal.endswith(a) or a.endswith(normal)) for a in allowed
    )


# ------------------------------------------------------------------------------------------
# Shouting

_WORD = re.compile(r"[^\W\d_]+")


_CAPITALS_RUN = regex.compile(r"(?<!\p{L})\p{Lu}{2,}(?:[^\p{L}\n]+\p{Lu}+)*(?!\p{L})")


def find_shouting(text: str, min_letters: int = 12) -> list[tuple[int, int]]:
    """Runs of two or more words in capitals with at least ``min_letters`` letters between
    them. Acronyms on their own (FAQ, USA, ASAP) are not shouting."""
    spans: list[tuple[int, int]] = []
    for m in _CAPITALS_RUN.finditer(text):
        words = _WORD.findall(m.group())
        if len(words) >= 2 and sum(len(w) for w in words) >= min_letters:
            spans.append((m.start(), m.end()))
    return spans


def outcome_for(violations: Iterable[Violation]) -> Outcome:
    """The strictest outcome among ``violations`` (allow when there are none)."""
    outcome = Outcome.ALLOW
    for violation in violations:
        candidate = _OUTCOME_OF[violation.action]
        if _SEVERITY[candidate] > _SEVERITY[outcome]:
            outcome = candidate
    return outcome
