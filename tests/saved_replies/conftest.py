"""The routing tests' small desk (an organization, two teams, three agents, a website and an X
account), its API client and token headers serve the saved replies tests too."""

from tests.routing.conftest import Desk, api_headers, client, desk

__all__ = ["Desk", "api_headers", "client", "desk"]
