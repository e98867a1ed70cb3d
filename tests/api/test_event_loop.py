"""The API, the webhooks and the desk's pages never wait for the database on the event loop.

A route that takes the unit of work (``DB``) and is a coroutine runs its queries on the event
loop. On SQLite a writer waits there up to the busy timeout for the write lock; if the request
holding that lock needs the event loop to commit, nothing moves until the wait fails, and the
whole process stalls (found by fuzzing the API with concurrent requests). Plain ``def``
routes run in FastAPI's thread pool, where waiting is harmless.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Iterator
from typing import Any, get_args

from fastapi.routing import APIRoute

from socialdesk.app import create_app
from socialdesk.common.deps import DB, _authenticate

_UNIT_OF_WORK = get_args(DB)[1].dependency  # Annotated[Session, Depends(...)]
_AUTHENTICATE = _authenticate


def _routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router
            yield from _routes(route.original_router.routes)


def _checked(route: APIRoute) -> bool:
    module = route.endpoint.__module__
    return module.endswith(".api") or module == "socialdesk.channels.webhooks"


def test_no_api_or_webhook_route_is_a_coroutine_that_takes_the_database() -> None:
    routes = [r for r in _routes(create_app().routes) if _checked(r)]
    assert len(routes) > 80
    offenders = [
        f"{route.endpoint.__module__}.{route.endpoint.__name__} ({route.path})"
        for route in routes
        if inspect.iscoroutinefunction(route.endpoint)
        and any(d.call is _UNIT_OF_WORK for d in route.dependant.dependencies)
    ]
    assert offenders == [], "make these plain def routes: " + ", ".join(offenders)


def _needs_login(route: APIRoute) -> bool:
    """Whether anything in the route's dependencies looks up who is asking (that lookup runs
    in the thread pool and takes the write lock first)."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if dependency.call is _AUTHENTICATE:
            return True
        pending.extend(dependency.dependencies)
    return False


def test_no_route_reachable_without_a_login_is_a_coroutine_that_takes_the_database() -> None:
    """The login form and the website chat are posted by anyone: their first query may wait
    for the write lock, so they must not run on the event loop either."""
    routes = list(_routes(create_app().routes))
    offenders = [
        f"{route.endpoint.__module__}.{route.endpoint.__name__} ({route.path})"
        for route in routes
        if inspect.iscoroutinefunction(route.endpoint)
        and any(d.call is _UNIT_OF_WORK for d in route.dependant.dependencies)
        and not _needs_login(route)
    ]
    assert offenders == [], "make these plain def routes: " + ", ".join(offenders)


# Logged-in routes that are coroutines on purpose. A server-sent-event stream awaits the live
# events for as long as the page stays open; its only database work is the login, which runs
# in the thread pool before it. Anything else belongs in the thread pool (a plain ``def``).
ASYNC_ON_PURPOSE = frozenset({"socialdesk.events.api.desk_stream"})


def _name(route: APIRoute) -> str:
    return f"{route.endpoint.__module__}.{route.endpoint.__name__}"


def test_no_logged_in_route_is_a_coroutine_unless_it_streams() -> None:
    """Every logged-in page and form of the desk works with the database after the login
    (through ``db``, or the member's own lazily loaded rows): as a coroutine, that work runs on
    the event loop, where waiting for SQLite's write lock blocks every other request. A form
    is read through ``forms.PostedForm`` instead of ``await request.form()``."""
    routes = [r for r in _routes(create_app().routes) if _needs_login(r)]
    assert len([r for r in routes if r.endpoint.__module__.startswith("socialdesk.web.")]) > 100
    coroutines = [r for r in routes if inspect.iscoroutinefunction(r.endpoint)]
    offenders = [
        f"{_name(route)} ({route.path})"
        for route in coroutines
        if _name(route) not in ASYNC_ON_PURPOSE
    ]
    assert offenders == [], "make these plain def routes: " + ", ".join(offenders)
    stale = ASYNC_ON_PURPOSE - {_name(route) for route in coroutines}
    assert not stale, f"no longer logged-in coroutine routes: drop them from the list: {stale}"
