"""SLA policies: which targets apply to which conversations, in an order an admin sets.

The policy for a conversation is the first enabled one (lowest position) whose conditions all
hold: priority, channel (the brand account's kind) and brand account, each ignored when unset.
Plain keyword-only functions that never commit; every refusal names the field.
"""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from socialdesk.channels.models import BrandAccount
from socialdesk.common import clock
from socialdesk.common.errors import Conflict, NotFound, ValidationFailed
from socialdesk.connectors.base import ChannelKind
from socialdesk.conversations.models import Conversation, Priority
from socialdesk.schedules import service as schedules_service
from socialdesk.sla.models import SlaClock, SlaPolicy
from socialdesk.sla.schemas import SlaPolicyCreate, SlaPolicyUpdate

NAME_MAX = 120
MAX_TARGET_MINUTES = 366 * 24 * 60  # a year: anything longer is a typo
MAX_WARN_MINUTES = 7 * 24 * 60
TARGET_FIELDS = ("first_response_minutes", "next_response_minutes", "resolution_minutes")


def get_or_raise(session: Session, *, organization_id: int, policy_id: int) -> SlaPolicy:
    policy = session.get(SlaPolicy, policy_id)
    if policy is None or policy.organization_id != organization_id:
        raise NotFound(f"SLA policy {policy_id} does not exist")
    return policy


def list_policies(session: Session, *, organization_id: int) -> list[SlaPolicy]:
    return list(
        session.scalars(
            select(SlaPolicy)
            .where(SlaPolicy.organization_id == organization_id)
            .order_by(SlaPolicy.position, SlaPolicy.id)
        )
    )


# -- validation ---------------------------------------------------------------------------


def _check_name(session: Session, organization_id: int, name: str, own_id: int | None) -> str:
    clean = name.strip()
    if not clean:
        raise ValidationFailed("give the policy a name, such as Urgent on X", field="name")
    if len(clean) > NAME_MAX:
        raise ValidationFailed(f"the name is longer than {NAME_MAX} characters", field="name")
    taken = session.scalar(
        select(SlaPolicy.id).where(
            SlaPolicy.organization_id == organization_id,
            func.lower(SlaPolicy.name) == clean.lower(),
        )
    )
    if taken is not None and taken != own_id:
        raise Conflict(f"an SLA policy named {clean!r} already exists", field="name")
    return clean


def _check(session: Session, policy: SlaPolicy) -> None:
    """The policy as it would be stored: every field in range and its references in the
    organization."""
    if policy.priority is not None and policy.priority not in {p.value for p in Priority}:
        raise ValidationFailed(
            f"priority must be 0 (low) to 3 (urgent), not {policy.priority}", field="priority"
        )
    kinds = [k.value for k in ChannelKind]
    if policy.channel is not None and policy.channel not in kinds:
        raise ValidationFailed(
            f"channel must be one of {', '.join(kinds)}, not {policy.channel!r}", field="channel"
        )
    if policy.brand_account_id is not None:
        account = session.get(BrandAccount, policy.brand_account_id)
        if account is None or account.organization_id != policy.organization_id:
            raise NotFound(
                f"brand account {policy.brand_account_id} does not exist", field="brand_account_id"
            )
        if policy.channel is not None and account.kind != policy.channel:
            raise ValidationFailed(
                f"brand account {account.display_name or account.handle} is on {account.kind}, "
                f"not {policy.channel}: the policy could never apply",
                field="brand_account_id",
            )
    for name in TARGET_FIELDS:
        value = getattr(policy, name)
        if value is not None and not 1 <= value <= MAX_TARGET_MINUTES:
            raise ValidationFailed(
                f"{name} must be 1 to {MAX_TARGET_MINUTES} minutes, not {value}", field=name
            )
    if all(getattr(policy, name) is None for name in TARGET_FIELDS):
        raise ValidationFailed(
            "set at least one target: first response, next response or resolution",
            field="first_response_minutes",
        )
    if not 0 <= policy.warn_before_minutes <= MAX_WARN_MINUTES:
        raise ValidationFailed(
            f"warn_before_minutes must be 0 to {MAX_WARN_MINUTES}, not "
            f"{policy.warn_before_minutes}",
            field="warn_before_minutes",
        )
    if policy.business_hours_id is not None:
        try:
            schedules_service.get_or_raise(
                session,
                organization_id=policy.organization_id,
                business_hours_id=policy.business_hours_id,
            )
        except NotFound as exc:
            raise NotFound(exc.message, field="business_hours_id") from None


# -- writing ------------------------------------------------------------------------------


def create(session: Session, *, organization_id: int, data: SlaPolicyCreate) -> SlaPolicy:
    now = clock.now()
    count = len(list_policies(session, organization_id=organization_id))
    policy = SlaPolicy(
        organization_id=organization_id,
        name=_check_name(session, organization_id, data.name, None),
        position=count,
        enabled=data.enabled,
        priority=data.priority,
        channel=data.channel or None,
        brand_account_id=data.brand_account_id,
        first_response_minutes=data.first_response_minutes,
        next_response_minutes=data.next_response_minutes,
        resolution_minutes=data.resolution_minutes,
        business_hours_id=data.business_hours_id,
        warn_before_minutes=data.warn_before_minutes,
        created_at=now,
        updated_at=now,
    )
    _check(session, policy)
    session.add(policy)
    session.flush()
    if data.position is not None:
        move_to(session, policy=policy, position=data.position)
    return policy


def update_policy(session: Session, *, policy: SlaPolicy, data: SlaPolicyUpdate) -> SlaPolicy:
    """Apply the fields that were sent (``model_fields_set``); null clears a condition or a
    target. Running clocks follow at once (the caller resyncs them, see jobs.py)."""
    sent = data.model_fields_set
    if "name" in sent:
        if data.name is None:
            raise ValidationFailed("a policy needs a name", field="name")
        policy.name = _check_name(session, policy.organization_id, data.name, policy.id)
    if "enabled" in sent:
        if data.enabled is None:
            raise ValidationFailed("enabled is true or false", field="enabled")
        policy.enabled = data.enabled
    if "warn_before_minutes" in sent:
        if data.warn_before_minutes is None:
            raise ValidationFailed("warn_before_minutes is a number", field="warn_before_minutes")
        policy.warn_before_minutes = data.warn_before_minutes
    for name in (
        "priority",
        "channel",
        "brand_account_id",
        "business_hours_id",
        *TARGET_FIELDS,
    ):
        if name in sent:
            value = getattr(data, name)
            setattr(policy, name, value if value != "" else None)
    with session.no_autoflush:
        _check(session, policy)
    policy.updated_at = clock.now()
    session.flush()
    return policy


def _renumber(session: Session, ordered: list[SlaPolicy]) -> None:
    for index, policy in enumerate(ordered):
        if policy.position != index:
            policy.position = index
    session.flush()


def move_to(session: Session, *, policy: SlaPolicy, position: int) -> list[SlaPolicy]:
    """Put ``policy`` at ``position`` (0 first; clamped to the list), the others keep their
    relative order."""
    ordered = [
        p for p in list_policies(session, organization_id=policy.organization_id) if p is not policy
    ]
    ordered.insert(max(0, min(position, len(ordered))), policy)
    _renumber(session, ordered)
    return ordered


def reorder(session: Session, *, organization_id: int, ids: list[int]) -> list[SlaPolicy]:
    """The whole order at once: ``ids`` must name every policy of the organization once."""
    current = {p.id: p for p in list_policies(session, organization_id=organization_id)}
    if sorted(ids) != sorted(current):
        missing = sorted(set(current) - set(ids))
        unknown = sorted(set(ids) - set(current))
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        problems = []
        if missing:
            problems.append(f"missing {missing}")
        if unknown:
            problems.append(f"not policies of yours {unknown}")
        if repeated:
            problems.append(f"repeated {repeated}")
        raise ValidationFailed(
            f"ids must list every policy exactly once: {'; '.join(problems)}", field="ids"
        )
    ordered = [current[i] for i in ids]
    _renumber(session, ordered)
    return ordered


def delete(session: Session, *, policy: SlaPolicy) -> None:
    """Remove a policy that never measured anything; one with clocks is kept for the reports
    (disable it instead)."""
    measured = session.scalar(
        select(func.count()).select_from(SlaClock).where(SlaClock.policy_id == policy.id)
    )
    if measured:
        raise Conflict(
            f"{policy.name!r} measured {measured} clock(s) that the reports still show: "
            "disable it instead",
            field="sla_policy_id",
        )
    session.execute(
        update(Conversation)
        .where(Conversation.sla_policy_id == policy.id)
        .values(sla_policy_id=None)
        .execution_options(synchronize_session=False)
    )
    organization_id = policy.organization_id
    session.delete(policy)
    session.flush()
    _renumber(session, list_policies(session, organization_id=organization_id))


# -- matching -----------------------------------------------------------------------------


def matches(policy: SlaPolicy, *, priority: int, channel: str, brand_account_id: int) -> bool:
    return (
        policy.enabled
        and (policy.priority is None or policy.priority == priority)
        and (policy.channel is None or policy.channel == channel)
        and (policy.brand_account_id is None or policy.brand_account_id == brand_account_id)
    )


def channel_of(session: Session, conversation: Conversation) -> str:
    kind = session.scalar(
        select(BrandAccount.kind).where(BrandAccount.id == conversation.brand_account_id)
    )
    return kind or ""


def pick(session: Session, *, conversation: Conversation) -> SlaPolicy | None:
    """The first enabled policy, in order, whose set conditions all hold for ``conversation``."""
    channel = channel_of(session, conversation)
    for policy in list_policies(session, organization_id=conversation.organization_id):
        if matches(
            policy,
            priority=conversation.priority,
            channel=channel,
            brand_account_id=conversation.brand_account_id,
        ):
            return policy
    return None
