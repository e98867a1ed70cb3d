"""Email: IMAP in, SMTP out, threaded by Message-ID. See README.md."""

from socialdesk.connectors.email.connector import EmailConnector

__all__ = ["EmailConnector"]
