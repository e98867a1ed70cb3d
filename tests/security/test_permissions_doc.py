"""docs/permissions.md says what the code does: its role and scope tables are compared with
ROLE_PERMISSIONS and TOKEN_SCOPES cell by cell."""

from __future__ import annotations

from pathlib import Path

from socialdesk.accounts.models import Role
from socialdesk.accounts.permissions import ROLE_PERMISSIONS, TOKEN_SCOPES, Permission

DOC = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def _table(heading: str) -> list[list[str]]:
    """The rows of the first table under ``## heading``, cells stripped of backticks."""
    lines = DOC.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"## {heading}")
    rows: list[list[str]] = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|") and not line.startswith("|---"):
            rows.append([c.strip().strip("`") for c in line.strip("|").split("|")])
    return rows


def test_every_permission_is_described() -> None:
    rows = _table("Permissions")[1:]
    assert [r[0] for r in rows] == [p.value for p in Permission]
    assert all(r[1] for r in rows)


def test_role_table_matches_role_permissions() -> None:
    header, *rows = _table("Roles")
    roles = [Role(name) for name in header[1:]]
    assert set(roles) == set(Role)
    assert [r[0] for r in rows] == [p.value for p in Permission]
    for row in rows:
        permission = Permission(row[0])
        for role, cell in zip(roles, row[1:], strict=True):
            assert (cell == "yes") == (permission in ROLE_PERMISSIONS[role]), (role, permission)


def test_scope_table_matches_token_scopes() -> None:
    rows = _table("API token scopes")[1:]
    assert [r[0] for r in rows] == list(TOKEN_SCOPES)
    for name, cell in rows:
        expected = TOKEN_SCOPES[name]
        if cell == "all permissions":
            assert expected == frozenset(Permission)
        else:
            assert {Permission(p.strip().strip("`")) for p in cell.split(",")} == expected
