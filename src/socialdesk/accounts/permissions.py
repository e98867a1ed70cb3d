"""What each role may do. The web layer checks these on every route."""

from __future__ import annotations

import enum

from socialdesk.accounts.models import Member, Role
from socialdesk.common.errors import PermissionDenied


class Permission(enum.StrEnum):
    READ = "conversations.read"
    REPLY = "conversations.reply"
    MANAGE = "conversations.manage"  # assign, status, tags, snooze, priority
    NOTE = "conversations.note"
    APPROVE = "outbound.approve"
    CHANNELS_MANAGE = "channels.manage"
    MEMBERS_MANAGE = "members.manage"
    IMPORT = "data.import"
    # Routing rules, SLA policies, business hours, automation, alerts, follow-up settings and
    # saved replies.
    ROUTING_MANAGE = "routing.manage"
    # Export or erase everything kept about one customer (their rights of access and erasure).
    PRIVACY = "contacts.privacy"


_AGENT = {Permission.READ, Permission.REPLY, Permission.MANAGE, Permission.NOTE}
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.AGENT: frozenset(_AGENT),
    Role.APPROVER: frozenset(_AGENT | {Permission.APPROVE}),
    Role.ADMIN: frozenset(set(Permission)),
    Role.OWNER: frozenset(set(Permission)),
}

# The roles that run the organization (admins' notices, handovers, closing others' work).
ADMIN_ROLES: frozenset[str] = frozenset({Role.OWNER.value, Role.ADMIN.value})


# API token scopes: a token carries the member's permissions intersected with its scopes.
TOKEN_SCOPES: dict[str, frozenset[Permission]] = {
    "read": frozenset({Permission.READ}),
    "reply": frozenset({Permission.READ, Permission.REPLY, Permission.NOTE}),
    "manage": frozenset({Permission.READ, Permission.MANAGE, Permission.NOTE}),
    "approve": frozenset({Permission.READ, Permission.APPROVE}),
    "admin": frozenset(set(Permission)),
}


def granted(member: Member, scopes: list[str] | None = None) -> frozenset[Permission]:
    """What a member may do; with token scopes, only what the scopes also allow."""
    allowed = ROLE_PERMISSIONS[Role(member.role)]
    if scopes:
        scoped: set[Permission] = set()
        for scope in scopes:
            scoped |= TOKEN_SCOPES.get(scope, frozenset())
        allowed = allowed & frozenset(scoped)
    return allowed


def has(member: Member, permission: Permission, scopes: list[str] | None = None) -> bool:
    return permission in granted(member, scopes)


def require(member: Member, permission: Permission, scopes: list[str] | None = None) -> None:
    if permission in ROLE_PERMISSIONS[Role(member.role)] and not has(member, permission, scopes):
        raise PermissionDenied(f"this API token's scopes do not allow {permission.value}")
    if not has(member, permission, scopes):
        raise PermissionDenied(
            f"your role ({member.role}) does not allow {permission.value}; ask an admin"
        )
