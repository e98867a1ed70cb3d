"""Facebook Pages: feed comments and Messenger messages in by webhook, replies out. See
README.md."""

from socialdesk.connectors.facebook.connector import FacebookConnector

__all__ = ["FacebookConnector"]
