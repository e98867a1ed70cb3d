"""The API tests' two organizations and HTTP client serve the polls API tests too."""

from tests.api.conftest import Desk, bearer, client, desk

__all__ = ["Desk", "bearer", "client", "desk"]
