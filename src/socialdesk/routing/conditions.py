"""The condition and action language shared by routing rules and automation rules.

A rule's ``conditions`` is a list of ``{"field", "op", "value"}`` objects that must all hold;
its ``actions`` a list of ``{"type", ...}`` objects run in order. Both are validated here into
typed values before they are stored, and every error names the condition or action (by its
position, counted from 1) and the part of it that is wrong, e.g.
``condition 2 (priority): op must be one of =, >=, <=, not '>'`` with field
``conditions[1].op``. What is stored is the normalised form (:func:`dump_conditions`,
:func:`dump_actions`), so a rule reads back exactly as it will be evaluated.

Evaluation reads the conversation through :class:`Facts`, which loads what a condition needs
(the brand account's kind, the contact, the latest customer message, open commitments) once
and only when a condition asks for it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from socialdesk.channels.models import BrandAccount
from socialdesk.commitments.models import Commitment, CommitmentStatus
from socialdesk.common.errors import ValidationFailed
from socialdesk.connectors.base import ChannelKind, Visibility
from socialdesk.contacts.models import Contact
from socialdesk.conversations.models import Conversation, Direction, Message, Priority, Status
from socialdesk.conversations.service import customer_is, normalise_tag

MAX_CONDITIONS = 20
MAX_ACTIONS = 10
MAX_LIST = 50
MAX_KEYWORD = 100
MAX_NOTIFY_TEXT = 500

INTENTS = ("complaint", "question", "praise", "feedback", "idea", "other")
SENTIMENTS = ("negative", "neutral", "positive")
PRIORITY_NAMES = {p.name.lower(): p.value for p in Priority}
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")


class Kind(enum.StrEnum):
    """What sort of value a field takes."""

    CHOICE = "choice"  # one of a fixed set of words
    ID = "id"  # an object id of the organization (or null where allowed)
    BOOL = "bool"
    PRIORITY = "priority"  # 0-3 or low/normal/high/urgent
    LANGUAGE = "language"  # an ISO 639-1 code (or "und")
    KEYWORDS = "keywords"  # words or phrases
    ASSIGNEE = "assignee"  # none / any


EQUALITY = ("is", "is_not", "in", "not_in")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    kind: Kind
    ops: tuple[str, ...]
    choices: tuple[str, ...] = ()
    nullable: bool = False  # "is null" means "has none" (team_id)


FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        FieldSpec(
            "channel",
            "Channel",
            Kind.CHOICE,
            EQUALITY,
            tuple(c.value for c in ChannelKind),
        ),
        FieldSpec("brand_account_id", "Brand account", Kind.ID, EQUALITY),
        FieldSpec("intent", "Intent", Kind.CHOICE, EQUALITY, INTENTS),
        FieldSpec("sentiment", "Sentiment", Kind.CHOICE, EQUALITY, SENTIMENTS),
        FieldSpec("is_complaint", "Is a complaint", Kind.BOOL, ("is",)),
        FieldSpec("priority", "Priority", Kind.PRIORITY, ("=", ">=", "<=")),
        FieldSpec("language", "Language", Kind.LANGUAGE, EQUALITY),
        FieldSpec("keywords", "Keywords in the latest message", Kind.KEYWORDS, ("any", "none")),
        FieldSpec("contact_vip", "Contact is a VIP", Kind.BOOL, ("is",)),
        FieldSpec(
            "contact_has_open_commitments", "Contact has open commitments", Kind.BOOL, ("is",)
        ),
        FieldSpec("team_id", "Team", Kind.ID, EQUALITY, nullable=True),
        FieldSpec("status", "Status", Kind.CHOICE, EQUALITY, tuple(s.value for s in Status)),
        FieldSpec("assignee", "Assignee", Kind.ASSIGNEE, ("is",), ("none", "any")),
    )
}

Scalar = str | int | bool | None
Value = Scalar | tuple[Scalar, ...]


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Value

    def dump(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"field": self.field, "op": self.op, "value": value}


# -- parsing conditions ----------------------------------------------------------------------


class _Where:
    """Builds errors that name the item and the part of it that is wrong."""

    def __init__(self, noun: str, plural: str, index: int, label: str | None) -> None:
        self.noun, self.plural, self.index, self.label = noun, plural, index, label

    def fail(self, part: str, message: str) -> ValidationFailed:
        name = f"{self.noun} {self.index + 1}" + (f" ({self.label})" if self.label else "")
        return ValidationFailed(f"{name}: {message}", field=f"{self.plural}[{self.index}].{part}")


def _as_list(raw: object, what: str, field: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValidationFailed(f"{what} must be a list", field=field)
    return raw


def parse_conditions(raw: object) -> list[Condition]:
    """Validate a rule's conditions (all must hold; an empty list always holds)."""
    items = _as_list(raw, "conditions", "conditions")
    if len(items) > MAX_CONDITIONS:
        raise ValidationFailed(
            f"a rule takes at most {MAX_CONDITIONS} conditions, not {len(items)}",
            field="conditions",
        )
    return [_parse_condition(i, item) for i, item in enumerate(items)]


def _parse_condition(index: int, item: object) -> Condition:
    if not isinstance(item, dict):
        raise _Where("condition", "conditions", index, None).fail(
            "field", 'must be an object like {"field": "priority", "op": ">=", "value": "high"}'
        )
    name = item.get("field")
    where = _Where("condition", "conditions", index, name if isinstance(name, str) else None)
    unknown = set(item) - {"field", "op", "value"}
    if unknown:
        raise where.fail(
            sorted(unknown)[0], f"unknown key {sorted(unknown)[0]!r}; use field, op and value"
        )
    if not isinstance(name, str) or name not in FIELDS:
        raise where.fail("field", f"field must be one of {', '.join(FIELDS)}, not {name!r}")
    spec = FIELDS[name]
    op = item.get("op", spec.ops[0])
    if op not in spec.ops:
        raise where.fail("op", f"op must be one of {', '.join(spec.ops)}, not {op!r}")
    if "value" not in item:
        raise where.fail("value", "value is missing")
    value = _parse_value(spec, str(op), item["value"], where)
    return Condition(field=name, op=str(op), value=value)


def _parse_value(spec: FieldSpec, op: str, raw: object, where: _Where) -> Value:
    if spec.kind is Kind.KEYWORDS:
        words = raw if isinstance(raw, list) else [raw]
        cleaned: list[str] = []
        for word in words:
            if not isinstance(word, str) or not word.strip():
                raise where.fail("value", "keywords must be non-empty words or phrases")
            if len(word.strip()) > MAX_KEYWORD:
                raise where.fail("value", f"a keyword is at most {MAX_KEYWORD} characters")
            cleaned.append(" ".join(word.split()).lower())
        if not cleaned:
            raise where.fail("value", "give at least one keyword")
        if len(cleaned) > MAX_LIST:
            raise where.fail("value", f"at most {MAX_LIST} keywords")
        return tuple(dict.fromkeys(cleaned))
    if op in ("in", "not_in"):
        if not isinstance(raw, list) or not raw:
            raise where.fail("value", f"op {op} needs a non-empty list of values")
        if len(raw) > MAX_LIST:
            raise where.fail("value", f"at most {MAX_LIST} values")
        return tuple(dict.fromkeys(_parse_scalar(spec, one, where) for one in raw))
    if isinstance(raw, list):
        raise where.fail("value", f"op {op} takes one value; use in for a list")
    return _parse_scalar(spec, raw, where)


def _parse_scalar(spec: FieldSpec, raw: object, where: _Where) -> Scalar:  # noqa: PLR0911
    kind = spec.kind
    if kind is Kind.CHOICE or kind is Kind.ASSIGNEE:
        word = raw.strip().lower() if isinstance(raw, str) else raw
        if word not in spec.choices:
            raise where.fail(
                "value", f"value must be one of {', '.join(spec.choices)}, not {raw!r}"
            )
        return str(word)
    if kind is Kind.BOOL:
        if isinstance(raw, bool):
            return raw
        raise where.fail("value", f"value must be true or false, not {raw!r}")
    if kind is Kind.ID:
        if raw is None and spec.nullable:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
            extra = " or null" if spec.nullable else ""
            raise where.fail(
                "value", f"value must be an id (a positive number){extra}, not {raw!r}"
            )
        return raw
    if kind is Kind.PRIORITY:
        if isinstance(raw, str) and raw.strip().lower() in PRIORITY_NAMES:
            return PRIORITY_NAMES[raw.strip().lower()]
        if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= 3:
            return raw
        raise where.fail("value", f"value must be low, normal, high, urgent or 0 to 3, not {raw!r}")
    # Kind.LANGUAGE
    code = raw.strip().lower() if isinstance(raw, str) else raw
    if not isinstance(code, str) or not _LANGUAGE.match(code):
        raise where.fail("value", f"value must be a language code like en or es, not {raw!r}")
    return code


def dump_conditions(conditions: Sequence[Condition]) -> list[dict[str, Any]]:
    return [c.dump() for c in conditions]


def parse_text_value(field: str, op: str, text: str) -> object:
    """What a form's text box means for ``field`` and ``op``, as the JSON the parser takes:
    comma-separated lists, yes/no for booleans, numbers for ids, "none" for no team."""
    spec = FIELDS.get(field)
    text = text.strip()
    if spec is None:
        return text
    if spec.kind is Kind.KEYWORDS:
        return [w.strip() for w in text.split(",") if w.strip()]
    if op in ("in", "not_in"):
        return [_text_scalar(spec, part.strip()) for part in text.split(",") if part.strip()]
    return _text_scalar(spec, text)


_WORDS_TRUE = ("yes", "true", "1", "on")
_WORDS_FALSE = ("no", "false", "0", "off")


def _text_scalar(spec: FieldSpec, text: str) -> object:
    if spec.kind is Kind.BOOL:
        lowered = text.lower()
        if lowered in _WORDS_TRUE + _WORDS_FALSE:
            return lowered in _WORDS_TRUE
        return text
    if spec.kind is Kind.ID:
        if spec.nullable and text.lower() in ("", "none", "null"):
            return None
        return int(text) if text.isdigit() else text
    if spec.kind is Kind.PRIORITY and text.isdigit():
        return int(text)
    return text


def value_text(condition: Condition) -> str:
    """The inverse of :func:`parse_text_value`, for filling a form with a stored condition."""
    values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
    out = []
    for value in values:
        if isinstance(value, bool):
            out.append("yes" if value else "no")
        elif value is None:
            out.append("none")
        elif condition.field == "priority" and isinstance(value, int):
            out.append(Priority(value).name.lower())
        else:
            out.append(str(value))
    return ", ".join(out)


# -- actions ---------------------------------------------------------------------------------


class NotifyTo(enum.StrEnum):
    TEAM_LEAD = "team_lead"
    TEAM = "team"
    MEMBER = "member"
    ASSIGNEE = "assignee"


@dataclass(frozen=True)
class SetTeam:
    team_id: int
    type: str = "set_team"


@dataclass(frozen=True)
class SetPriority:
    priority: int
    # Rules raise priority; lowering it must be asked for explicitly.
    allow_lower: bool = False
    type: str = "set_priority"


@dataclass(frozen=True)
class AddTag:
    tag: str
    type: str = "add_tag"


@dataclass(frozen=True)
class AssignTo:
    member_id: int
    type: str = "assign_to"


@dataclass(frozen=True)
class AutoAssign:
    team_id: int | None = None  # None: the conversation's team (or anyone, without one)
    type: str = "auto_assign"


@dataclass(frozen=True)
class Notify:
    to: str
    member_id: int | None = None
    team_id: int | None = None  # None: the conversation's team
    webhook: bool = False  # also post to the team's Slack-compatible webhook
    message: str = ""
    type: str = "notify"


Action = SetTeam | SetPriority | AddTag | AssignTo | AutoAssign | Notify

ROUTING_ACTIONS = ("set_team", "set_priority", "add_tag", "assign_to", "auto_assign")
AUTOMATION_ACTIONS = (*ROUTING_ACTIONS, "notify")
ACTION_LABELS = {
    "set_team": "Set the team",
    "set_priority": "Set the priority",
    "add_tag": "Add a tag",
    "assign_to": "Assign to a member",
    "auto_assign": "Assign to whoever is on duty",
    "notify": "Notify",
}
_ACTION_KEYS: dict[str, frozenset[str]] = {
    "set_team": frozenset({"team_id"}),
    "set_priority": frozenset({"priority", "allow_lower"}),
    "add_tag": frozenset({"tag"}),
    "assign_to": frozenset({"member_id"}),
    "auto_assign": frozenset({"team_id"}),
    "notify": frozenset({"to", "member_id", "team_id", "webhook", "message"}),
}


def parse_actions(raw: object, *, allowed: Sequence[str]) -> list[Action]:
    items = _as_list(raw, "actions", "actions")
    if not items:
        raise ValidationFailed("a rule needs at least one action", field="actions")
    if len(items) > MAX_ACTIONS:
        raise ValidationFailed(
            f"a rule takes at most {MAX_ACTIONS} actions, not {len(items)}", field="actions"
        )
    return [_parse_action(i, item, allowed) for i, item in enumerate(items)]


def _id(item: dict[str, Any], key: str, where: _Where, *, required: bool) -> int | None:
    raw = item.get(key)
    if raw is None and not required:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 1:
        raise where.fail(key, f"{key} must be an id (a positive number), not {raw!r}")
    return raw


def _flag(item: dict[str, Any], key: str, where: _Where) -> bool:
    raw = item.get(key, False)
    if not isinstance(raw, bool):
        raise where.fail(key, f"{key} must be true or false, not {raw!r}")
    return raw


def _parse_action(index: int, item: object, allowed: Sequence[str]) -> Action:
    if not isinstance(item, dict):
        raise _Where("action", "actions", index, None).fail(
            "type", 'must be an object like {"type": "add_tag", "tag": "refund"}'
        )
    kind = item.get("type")
    where = _Where("action", "actions", index, kind if isinstance(kind, str) else None)
    if kind not in allowed:
        raise where.fail("type", f"type must be one of {', '.join(allowed)}, not {kind!r}")
    unknown = set(item) - _ACTION_KEYS[str(kind)] - {"type"}
    if unknown:
        first = sorted(unknown)[0]
        keys = ", ".join(sorted(_ACTION_KEYS[str(kind)]))
        raise where.fail(first, f"unknown key {first!r}; {kind} takes {keys}")
    if kind == "set_team":
        return SetTeam(team_id=_id(item, "team_id", where, required=True) or 0)
    if kind == "set_priority":
        level = item.get("priority")
        spec = FieldSpec("priority", "Priority", Kind.PRIORITY, ("=",))
        if level is None:
            raise where.fail("priority", "priority is missing")
        try:
            value = _parse_scalar(spec, level, where)
        except ValidationFailed as exc:
            raise where.fail(
                "priority", f"priority must be low, normal, high, urgent or 0 to 3, not {level!r}"
            ) from exc
        assert isinstance(value, int)
        return SetPriority(priority=value, allow_lower=_flag(item, "allow_lower", where))
    if kind == "add_tag":
        tag = item.get("tag")
        if not isinstance(tag, str):
            raise where.fail("tag", "tag must be text")
        try:
            return AddTag(tag=normalise_tag(tag))
        except ValidationFailed as exc:
            raise where.fail("tag", exc.message) from exc
    if kind == "assign_to":
        return AssignTo(member_id=_id(item, "member_id", where, required=True) or 0)
    if kind == "auto_assign":
        return AutoAssign(team_id=_id(item, "team_id", where, required=False))
    return _parse_notify(item, where)


def _parse_notify(item: dict[str, Any], where: _Where) -> Notify:
    to = item.get("to")
    if to not in {n.value for n in NotifyTo}:
        choices = ", ".join(n.value for n in NotifyTo)
        raise where.fail("to", f"to must be one of {choices}, not {to!r}")
    member_id = _id(item, "member_id", where, required=to == NotifyTo.MEMBER)
    if to != NotifyTo.MEMBER and member_id is not None:
        raise where.fail("member_id", "member_id goes only with to: member")
    message = item.get("message", "")
    if not isinstance(message, str) or len(message) > MAX_NOTIFY_TEXT:
        raise where.fail("message", f"message must be text of at most {MAX_NOTIFY_TEXT} characters")
    return Notify(
        to=str(to),
        member_id=member_id,
        team_id=_id(item, "team_id", where, required=False),
        webhook=_flag(item, "webhook", where),
        message=message.strip(),
    )


def dump_actions(actions: Sequence[Action]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for action in actions:
        data = {k: v for k, v in vars(action).items() if k != "type"}
        if isinstance(action, SetPriority) and not action.allow_lower:
            data.pop("allow_lower")
        if isinstance(action, Notify):
            data = {k: v for k, v in data.items() if v not in (None, "", False)}
        if isinstance(action, AutoAssign) and action.team_id is None:
            data = {}
        out.append({"type": action.type, **data})
    return out


def referenced_ids(
    conditions: Sequence[Condition], actions: Sequence[Action]
) -> dict[str, set[tuple[int, str]]]:
    """The object ids a rule refers to, with where it refers to them (for checking that they
    exist in the rule's organization)."""
    found: dict[str, set[tuple[int, str]]] = {"team": set(), "member": set(), "brand": set()}
    for i, condition in enumerate(conditions):
        values = condition.value if isinstance(condition.value, tuple) else (condition.value,)
        kind = {"team_id": "team", "brand_account_id": "brand"}.get(condition.field)
        if kind:
            for value in values:
                if isinstance(value, int) and not isinstance(value, bool):
                    found[kind].add((value, f"conditions[{i}].value"))
    for i, action in enumerate(actions):
        team_id = getattr(action, "team_id", None)
        member_id = getattr(action, "member_id", None)
        if team_id is not None:
            found["team"].add((team_id, f"actions[{i}].team_id"))
        if member_id is not None:
            found["member"].add((member_id, f"actions[{i}].member_id"))
    return found


# -- evaluation ------------------------------------------------------------------------------


@lru_cache(maxsize=512)
def keyword_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """Any of ``words`` as a whole word or phrase, case-insensitively ("refund" matches
    "Refund!" but not "refunded"; a phrase matches across any run of spaces)."""
    parts = [r"\s+".join(re.escape(piece) for piece in word.split()) for word in words]
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


class Facts:
    """What conditions read about one conversation, each loaded at most once."""

    def __init__(self, session: Session, conversation: Conversation) -> None:
        self.session = session
        self.conversation = conversation

    @cached_property
    def channel(self) -> str:
        account = self.session.get(BrandAccount, self.conversation.brand_account_id)
        return account.kind if account else ""

    @cached_property
    def contact(self) -> Contact | None:
        if self.conversation.contact_id is None:
            return None
        return self.session.get(Contact, self.conversation.contact_id)

    @cached_property
    def latest_customer_text(self) -> str:
        text = self.session.scalar(
            select(Message.text)
            .where(
                Message.conversation_id == self.conversation.id,
                Message.direction == Direction.INBOUND.value,
                Message.visibility != Visibility.NOTE.value,
            )
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(1)
        )
        return text or ""

    @cached_property
    def contact_has_open_commitments(self) -> bool:
        if self.conversation.contact_id is None:
            return False
        conversations = select(Conversation.id).where(
            customer_is(self.conversation.organization_id, self.conversation.contact_id)
        )
        return bool(
            self.session.scalar(
                select(
                    exists().where(
                        Commitment.conversation_id.in_(conversations),
                        Commitment.status == CommitmentStatus.OPEN.value,
                    )
                )
            )
        )

    def value(self, field: str) -> Scalar:  # noqa: PLR0911
        c = self.conversation
        if field == "channel":
            return self.channel
        if field == "brand_account_id":
            return c.brand_account_id
        if field == "intent":
            return c.intent
        if field == "sentiment":
            return c.sentiment
        if field == "is_complaint":
            return c.is_complaint
        if field == "priority":
            return c.priority
        if field == "language":
            return c.language
        if field == "contact_vip":
            return bool(self.contact and self.contact.is_vip)
        if field == "contact_has_open_commitments":
            return self.contact_has_open_commitments
        if field == "team_id":
            return c.team_id
        if field == "status":
            return c.status
        if field == "assignee":
            return "none" if c.assignee_id is None else "any"
        raise KeyError(field)


def holds(condition: Condition, facts: Facts) -> bool:  # noqa: PLR0911
    if condition.field == "keywords":
        assert isinstance(condition.value, tuple)
        words = tuple(str(w) for w in condition.value)
        found = keyword_pattern(words).search(facts.latest_customer_text) is not None
        return found if condition.op == "any" else not found
    actual = facts.value(condition.field)
    op, expected = condition.op, condition.value
    if op in ("is", "="):
        return actual == expected
    if op == "is_not":
        return actual != expected
    if op == "in":
        assert isinstance(expected, tuple)
        return actual in expected
    if op == "not_in":
        assert isinstance(expected, tuple)
        return actual not in expected
    if not isinstance(actual, int) or not isinstance(expected, int):
        return False
    if op == ">=":
        return actual >= expected
    return actual <= expected  # "<="


def matches(conditions: Sequence[Condition], facts: Facts) -> bool:
    # What conditions read (the account, the contact, messages, commitments) does not depend
    # on changes pending in this transaction, so flushing them first would only cost time.
    with facts.session.no_autoflush:
        return all(holds(c, facts) for c in conditions)


def describe_condition(condition: Condition) -> str:
    """A condition in words, for lists of rules."""
    spec = FIELDS[condition.field]
    op = {
        "is": "is",
        "is_not": "is not",
        "in": "is one of",
        "not_in": "is none of",
        "=": "is",
        ">=": "is at least",
        "<=": "is at most",
        "any": "has any of",
        "none": "has none of",
    }[condition.op]
    return f"{spec.label.lower()} {op} {value_text(condition)}"
