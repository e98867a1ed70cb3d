"""Priority from signals, with the reasons a person can read.

Priority is deliberately a transparent points table rather than a learned model: an agent must
be able to see why a message jumped the queue, and an organisation must be able to change the
table. Each signal that fires adds points and one reason; the total picks the level.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from socialdesk.common import clock


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


@dataclass(frozen=True)
class TriageContext:
    """What the desk knows about the sender beyond the text (all optional).

    ``previous_contacts`` are the times of this contact's earlier inbound messages; the desk
    passes what it has stored. ``audience`` is the follower count where the channel gives one.
    """

    vip: bool = False
    previous_contacts: tuple[datetime, ...] = ()
    audience: int | None = None
    received_at: datetime | None = None

    def __post_init__(self) -> None:
        for moment in (*self.previous_contacts, self.received_at):
            if moment is not None:
                clock.require_aware(moment, "TriageContext time")
        if self.audience is not None and self.audience < 0:
            raise ValueError(f"audience must be zero or more, got {self.audience}")


@dataclass(frozen=True)
class Signals:
    """Model outputs the priority depends on."""

    complaint: float
    negative: float
    positive: float
    intent: str


@dataclass(frozen=True)
class PriorityDecision:
    priority: Priority
    points: int
    reasons: tuple[str, ...] = field(default_factory=tuple)


REPEAT_WINDOW = timedelta(hours=6)
LARGE_AUDIENCE = 10_000
HUGE_AUDIENCE = 100_000

# Each group: a name for the reason, the points, and word patterns. Safety outranks everything:
# a single hit makes the message urgent.
_SAFETY = re.compile(
    r"\b(food poisoning|poison\w*|injur\w*|hurt|bleed\w*|hospital|ambulance|fire|smoke|burn(?:ed|t|ing)?|"
    r"explod\w*|unsafe|danger\w*|allergic|assault\w*|harass\w*|threaten\w*|police|scared|"
    r"screw in|glass in|mould|mold)\b",
    re.IGNORECASE,
)
_SECURITY = re.compile(
    r"\b(hack(?:ed|er)?|stolen|stole|fraud\w*|scam\w*|phishing|unauthori[sz]ed|compromised|"
    r"identity theft|charged (?:me )?twice|double charged|took my money|taken my money)\b",
    re.IGNORECASE,
)
_OUTAGE = re.compile(
    r"\b(outage|down|no (?:service|signal|internet|network|power|wifi|water)|not working|"
    r"doesn'?t work|won'?t (?:work|load|start|turn on|connect)|can'?t (?:log ?in|sign in|connect|"
    r"access|use)|unable to|stuck|crash\w*|frozen|freez\w*|offline)\b",
    re.IGNORECASE,
)
_TIME = re.compile(
    r"\b(urgent\w*|asap|immediately|right now|emergency|stranded|tonight|today|"
    r"flight (?:is |leaves )?(?:in|at)|boarding|missed (?:my )?(?:flight|connection|train))\b",
    re.IGNORECASE,
)
_CHURN = re.compile(
    r"\b(cancel(?:l?ing)? my|switch(?:ing)? to|leav(?:e|ing) (?:you|\w+ for)|never (?:again|"
    r"order|shop|fly)|going back to|port(?:ing)? (?:my number|out|now))\b",
    re.IGNORECASE,
)


def _hit(pattern: re.Pattern[str], text: str) -> str | None:
    found = pattern.search(text)
    return found.group(0).lower() if found else None


def decide(
    *,
    text: str,
    signals: Signals,
    context: TriageContext | None = None,
    now: datetime | None = None,
) -> PriorityDecision:
    """Score the signals of one message and name every one that counted."""
    context = context or TriageContext()
    points = 0
    reasons: list[str] = []
    forced_urgent = False

    if signals.complaint >= 0.5:
        points += 2
        reasons.append(f"complaint (score {signals.complaint:.2f})")
    if signals.negative >= 0.6:
        points += 1
        reasons.append(f"negative tone (score {signals.negative:.2f})")
    if (word := _hit(_SAFETY, text)) is not None:
        forced_urgent = True
        points += 4
        reasons.append(f"safety words: '{word}'")
    if (word := _hit(_SECURITY, text)) is not None:
        points += 3
        reasons.append(f"security or fraud words: '{word}'")
    if (word := _hit(_OUTAGE, text)) is not None:
        points += 1
        reasons.append(f"something is not working: '{word}'")
    if (word := _hit(_TIME, text)) is not None:
        points += 1
        reasons.append(f"time pressure: '{word}'")
    if (word := _hit(_CHURN, text)) is not None:
        points += 1
        reasons.append(f"may leave: '{word}'")
    if context.vip:
        points += 2
        reasons.append("VIP contact")
    moment = context.received_at or now or clock.now()
    recent = [t for t in context.previous_contacts if timedelta(0) <= moment - t <= REPEAT_WINDOW]
    if recent:
        extra = 2 if len(recent) >= 2 else 1
        points += extra
        hours = int(REPEAT_WINDOW.total_seconds() // 3600)
        reasons.append(f"contacted {len(recent)} time(s) before in the last {hours} hours")
    if context.audience is not None and context.audience >= LARGE_AUDIENCE:
        extra = 2 if context.audience >= HUGE_AUDIENCE else 1
        points += extra
        reasons.append(f"large audience ({context.audience:,} followers)")
    if points == 0 and (signals.intent in {"praise", "other"} or signals.positive >= 0.6):
        reasons.append(f"nothing to act on urgently ({signals.intent})")
        return PriorityDecision(Priority.LOW, points, tuple(reasons))

    if forced_urgent or points >= 6:
        level = Priority.URGENT
    elif points >= 4:
        level = Priority.HIGH
    elif points >= 1 or signals.intent in {"question", "complaint"}:
        level = Priority.NORMAL
    else:
        level = Priority.LOW
    if not reasons:
        reasons.append(f"{signals.intent} with no urgency signal")
    return PriorityDecision(level, points, tuple(reasons))
