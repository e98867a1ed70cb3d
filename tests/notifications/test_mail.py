"""The desk's own mail: reading SOCIALDESK_MAIL_URL and building a message."""

from __future__ import annotations

import pytest

from socialdesk.common.clock import FrozenClock
from socialdesk.config import Settings
from socialdesk.notifications import mail


@pytest.mark.parametrize(
    ("url", "host", "port", "security", "user", "password"),
    [
        ("smtp://mail.example.org", "mail.example.org", 25, "none", "", ""),
        ("smtp://u:p@mail.example.org:2525", "mail.example.org", 2525, "none", "u", "p"),
        ("smtp://mail.example.org?starttls=1", "mail.example.org", 587, "starttls", "", ""),
        (
            "smtps://desk%40example.org:p%2Fw@smtp.example.org",
            "smtp.example.org",
            465,
            "ssl",
            "desk@example.org",
            "p/w",
        ),
    ],
)
def test_server_from_url(
    url: str, host: str, port: int, security: str, user: str, password: str
) -> None:
    server = mail.server_from_url(url)
    assert (server.host, server.port, server.security) == (host, port, security)
    assert (server.username, server.password) == (user, password)


@pytest.mark.parametrize(
    ("url", "says"),
    [("http://mail.example.org", "smtp:// or smtps://"), ("smtp://", "names no host")],
)
def test_a_bad_mail_url_says_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        mail.server_from_url(url)


def test_build_makes_a_one_line_subject_and_marks_the_mail_automatic(clock: FrozenClock) -> None:
    settings = Settings(mail_from="desk@acme.example", mail_url="smtp://localhost")
    message = mail.build(
        settings=settings,
        to="ana@acme.example",
        subject="Alex asks Billing:\nplease refund\r\norder 123" + " x" * 200,
        body="Body text",
    )
    # A line break in a header would make the message unsendable.
    assert "\n" not in message["Subject"]
    assert message["Subject"].startswith("Alex asks Billing: please refund order 123")
    assert len(message["Subject"]) <= mail.SUBJECT_MAX
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@acme.example>")
    assert message["Date"] == "Mon, 05 Jan 2026 09:00:00 +0000"  # the desk's clock
    assert message.get_content().strip() == "Body text"
