"""Checks every outgoing message passes, at queue time and again right before delivery.

The code-of-conduct checker registers here; the channel length check is built in. A check
returns a decision and the reasons, each naming the clause that applies.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field

from socialdesk.connectors.base import Capabilities, ChannelKind, LengthCounting, Visibility
from socialdesk.policy import CompiledPolicy
from socialdesk.policy import Outcome as PolicyOutcome
from socialdesk.policy import check as policy_check
from socialdesk.policy import count as policy_count


class Decision(enum.IntEnum):
    # Ordered by strictness: the strictest outcome of all checks wins.
    ALLOW = 0
    WARN = 1
    APPROVE = 2
    BLOCK = 3


@dataclass(frozen=True)
class Reason:
    rule: str
    explain: str
    decision: Decision
    start: int | None = None
    end: int | None = None


@dataclass(frozen=True)
class Draft:
    organization_id: int
    brand_account_id: int
    channel: str
    capabilities: Capabilities
    text: str  # exactly what will be sent, signature included
    visibility: Visibility
    policy: CompiledPolicy | None = None  # the organization's code of conduct, if any


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    reasons: list[Reason] = field(default_factory=list)
    length: int | None = None
    limit: int | None = None

    def per_rule(self) -> list[Reason]:
        """The reasons with each rule once (its first match): a rule that matched twice, on
        two phrases of one clause, is one reason to read and holds a draft once."""
        seen: set[str] = set()
        kept = []
        for reason in self.reasons:
            if reason.rule not in seen:
                seen.add(reason.rule)
                kept.append(reason)
        return kept


Check = Callable[[Draft], Outcome]

_checks: list[Check] = []


def register(check: Check) -> Check:
    if check not in _checks:
        _checks.append(check)
    return check


def count_length(text: str, counting: LengthCounting) -> int:
    """Length as the network counts it (X weighted, graphemes, Mastodon's URL rule...)."""
    return policy_count(text, counting)


_DECISION_OF = {
    PolicyOutcome.ALLOW: Decision.ALLOW,
    PolicyOutcome.WARN: Decision.WARN,
    PolicyOutcome.APPROVE: Decision.APPROVE,
    PolicyOutcome.BLOCK: Decision.BLOCK,
}


def conduct_check(draft: Draft) -> Outcome:
    """The organization's written code of conduct. Length is left to length_check, which
    knows the account's own limit (a Mastodon instance may allow more than 500)."""
    if draft.policy is None:
        return Outcome(Decision.ALLOW)
    decision = policy_check(
        draft.policy, draft.text, channel=ChannelKind(draft.channel), visibility=draft.visibility
    )
    reasons = [
        Reason(
            rule=v.rule,
            explain=v.explain,
            decision=_DECISION_OF[PolicyOutcome(v.action.value)],
            start=v.start,
            end=v.end,
        )
        for v in decision.violations
        if v.kind != "length"
    ]
    return Outcome(max((r.decision for r in reasons), default=Decision.ALLOW), reasons)


def length_check(draft: Draft) -> Outcome:
    caps = draft.capabilities
    length = count_length(draft.text, caps.length_counting)
    if caps.max_length is not None and length > caps.max_length:
        return Outcome(
            Decision.BLOCK,
            [
                Reason(
                    rule="channel-length",
                    explain=(
                        f"{draft.channel} allows {caps.max_length} characters; this is {length}"
                    ),
                    decision=Decision.BLOCK,
                )
            ],
            length=length,
            limit=caps.max_length,
        )
    return Outcome(Decision.ALLOW, length=length, limit=caps.max_length)


def run_all(draft: Draft) -> Outcome:
    outcomes = [length_check(draft), conduct_check(draft), *(check(draft) for check in _checks)]
    reasons = [r for o in outcomes for r in o.reasons]
    decision = max((o.decision for o in outcomes), default=Decision.ALLOW)
    return Outcome(decision, reasons, length=outcomes[0].length, limit=outcomes[0].limit)
