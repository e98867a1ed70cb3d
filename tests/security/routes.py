"""The application's routes as the security tests see them: every (method, path) of the app,
enumerated from ``create_app()``, with the permission each one requires read from its
dependencies (the ``permission`` attribute ``common.deps.require`` puts on its check). A route
that depends on several checks needs all of them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from socialdesk.accounts.permissions import Permission
from socialdesk.common.deps import current_actor


@dataclass(frozen=True)
class RouteInfo:
    method: str
    path: str
    permissions: frozenset[Permission]  # all of them are needed; empty: no role check
    authenticated: bool  # whether it asks who the caller is at all

    @property
    def id_params(self) -> list[str]:
        return [part[1:-1] for part in self.path.split("/") if part.startswith("{")]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _dependants(dependant: Any) -> Iterator[Any]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _endpoints(route: Any) -> Iterator[Any]:
    """The endpoint routes under ``route``: included routers are walked to their leaves."""
    if hasattr(route, "effective_route_contexts"):
        yield from route.effective_route_contexts()
    elif hasattr(route, "dependant"):
        yield route


def app_routes(app: FastAPI) -> list[RouteInfo]:
    found: list[RouteInfo] = []
    for top in app.routes:
        leaves = list(_endpoints(top))
        if not leaves:  # docs pages, the static mount: no dependencies to read
            path = getattr(top, "path", "")
            # HEAD is GET without the body: the same check, not a route of its own.
            for method in sorted((getattr(top, "methods", None) or {"GET"}) - {"HEAD"}):
                found.append(RouteInfo(method, path, frozenset(), False))
            continue
        for leaf in leaves:
            calls = [d.call for d in _dependants(leaf.dependant)]
            perms = frozenset(
                p for p in (getattr(c, "permission", None) for c in calls) if p is not None
            )
            authenticated = any(c is current_actor for c in calls)
            for method in sorted(leaf.methods - {"HEAD"}):
                found.append(RouteInfo(method, leaf.path, perms, authenticated))
    return found
