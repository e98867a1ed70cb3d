"""X (API v2): mentions and direct messages in, replies out. See README.md."""

from socialdesk.connectors.x.connector import XConnector

__all__ = ["XConnector"]
