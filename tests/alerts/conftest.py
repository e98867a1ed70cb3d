"""The routing tests' small desk (an organization, two teams, three agents, a website and an X
account) serves the alerts tests too."""

from tests.routing.conftest import Desk, desk

__all__ = ["Desk", "desk"]
