"""Fixtures for the security tests: the app and the routes it serves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from socialdesk.common.clock import FrozenClock
from tests.security.routes import RouteInfo, app_routes


@pytest.fixture
def app(database_url: str, clock: FrozenClock) -> FastAPI:
    from socialdesk.app import create_app

    return create_app()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture
def routes(app: FastAPI) -> list[RouteInfo]:
    return app_routes(app)
