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


_AGENT = {Permission.READ, Permission.REPLY, Permission.MANAGE, Permission.NOTE}
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.AGENT: frozenset(_AGENT),
    Role.APPROVER: frozenset(_AGENT | {Permission.APPROVE}),
    Role.ADMIN: frozenset(set(Permission)),
    Role.OWNER: frozenset(set(Permission)),
}


def has(member: Member, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[Role(member.role)]


def require(member: Member, permission: Permission) -> None:
    if not has(member, permission):
        raise PermissionDenied(
            f"your role ({member.role}) does not allow {permission.value}; ask an admin"
        )
