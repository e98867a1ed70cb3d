"""My notifications in the desk and over the API: the page, opening one, marking read, the
header's count; nobody reads or marks another member's notification."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from socialdesk.accounts import service as accounts_service
from socialdesk.common.clock import FrozenClock
from socialdesk.db.session import get_sessionmaker
from socialdesk.notifications import service
from socialdesk.notifications.models import Notification
from tests.notifications.conftest import Org
from tests.web.conftest import login


def _add(session: Session, org: Org, member_id: int, title: str, link: str | None = None) -> int:
    (row,) = service.notify(
        session,
        organization_id=org.org.id,
        member_ids=[member_id],
        kind="escalation.requested",
        title=title,
        body=f"body of {title}",
        link=link,
    )
    session.commit()
    return row.id


def _stored(notification_id: int) -> Notification:
    with get_sessionmaker(write=False)() as reader:
        row = reader.get(Notification, notification_id)
        assert row is not None
        return row


def _bearer(session: Session, member_id: int, org: Org) -> dict[str, str]:
    member = org.agent if member_id == org.agent.id else org.stranger
    token = accounts_service.create_api_token(session, member=member, name="t").token
    session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_the_page_shows_my_notifications_newest_first_unread_highlighted(
    client: TestClient, session: Session, org: Org, clock: FrozenClock
) -> None:
    older = _add(session, org, org.agent.id, "Older one", "/conversations/1")
    clock.advance(timedelta(minutes=5))
    newer = _add(session, org, org.agent.id, "Newer one")
    _add(session, org, org.lead.id, "Lena's own")
    service.mark_read(session, member=org.agent, notification_id=older)
    session.commit()
    login(client, org.agent)
    page = client.get("/notifications")
    assert page.status_code == 200
    html = page.text
    assert html.index("Newer one") < html.index("Older one")
    assert "Lena's own" not in html
    assert f'class="notif-item notif-unread" id="notification-{newer}"' in html
    assert f'class="notif-item" id="notification-{older}"' in html
    assert "(1 unread)" in html
    unread = client.get("/notifications?unread=1").text
    assert "Newer one" in unread
    assert "Older one" not in unread


def test_opening_a_notification_marks_it_read_and_goes_to_its_link(
    client: TestClient, session: Session, org: Org
) -> None:
    one = _add(session, org, org.agent.id, "Go there", "/conversations/42")
    evil = _add(session, org, org.agent.id, "Elsewhere", "//evil.example/phish")
    csrf = login(client, org.agent)
    opened = client.post(f"/notifications/{one}/read", data={"csrf_token": csrf, "open": "1"})
    assert opened.status_code == 303
    assert opened.headers["location"] == "/conversations/42"
    assert _stored(one).read_at is not None
    # Only paths of the desk: a link that would leave it falls back to the list.
    away = client.post(f"/notifications/{evil}/read", data={"csrf_token": csrf, "open": "1"})
    assert away.headers["location"] == "/notifications"


def test_mark_all_read_and_the_header_badge(client: TestClient, session: Session, org: Org) -> None:
    for n in range(3):
        _add(session, org, org.agent.id, f"n{n}")
    lenas = _add(session, org, org.lead.id, "Lena's")
    csrf = login(client, org.agent)
    badge = client.get("/notifications/badge", headers={"HX-Request": "true"})
    assert badge.status_code == 200
    assert 'aria-label="3 unread"' in badge.text
    assert badge.headers["cache-control"] == "no-store"
    done = client.post("/notifications/read-all", data={"csrf_token": csrf})
    assert done.status_code == 303
    assert done.headers["hx-trigger"] == "sd-notifications-changed"
    assert "unread" not in client.get("/notifications/badge").text
    assert _stored(lenas).read_at is None  # someone else's are untouched


def test_the_badge_caps_at_99(client: TestClient, session: Session, org: Org) -> None:
    for _ in range(100):
        service.notify(
            session, organization_id=org.org.id, member_ids=[org.agent.id], kind="x", title="t"
        )
    session.commit()
    login(client, org.agent)
    assert ">99+<" in client.get("/notifications/badge").text


def test_nobody_reads_or_marks_another_members_notification(
    client: TestClient, session: Session, org: Org
) -> None:
    lenas = _add(session, org, org.lead.id, "Lena's secret")
    csrf = login(client, org.agent)
    refused = client.post(f"/notifications/{lenas}/read", data={"csrf_token": csrf})
    assert refused.status_code == 404
    assert _stored(lenas).read_at is None
    agent = _bearer(session, org.agent.id, org)
    assert client.get(f"/api/notifications/{lenas}", headers=agent).status_code == 404
    assert client.post(f"/api/notifications/{lenas}/read", headers=agent).status_code == 404
    stranger = _bearer(session, org.stranger.id, org)
    assert client.get(f"/api/notifications/{lenas}", headers=stranger).status_code == 404
    assert _stored(lenas).read_at is None


def test_marking_needs_the_forms_csrf_token(client: TestClient, session: Session, org: Org) -> None:
    mine = _add(session, org, org.agent.id, "Mine")
    login(client, org.agent)
    assert client.post(f"/notifications/{mine}/read").status_code == 403
    assert client.post("/notifications/read-all", data={"csrf_token": "forged"}).status_code == 403
    assert _stored(mine).read_at is None


def test_every_role_has_its_own_notifications(
    client: TestClient, session: Session, org: Org
) -> None:
    _add(session, org, org.viewer.id, "For the viewer")
    login(client, org.viewer)
    assert "For the viewer" in client.get("/notifications").text


def test_logged_out_visitors_are_sent_to_log_in(client: TestClient, org: Org) -> None:
    page = client.get("/notifications")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/login")
    assert client.get("/api/notifications").status_code == 401


def test_the_api_lists_counts_and_marks_my_notifications(
    client: TestClient, session: Session, org: Org, clock: FrozenClock
) -> None:
    first = _add(session, org, org.agent.id, "First", "/conversations/9")
    clock.advance(timedelta(seconds=30))
    second = _add(session, org, org.agent.id, "Second")
    _add(session, org, org.lead.id, "Not mine")
    agent = _bearer(session, org.agent.id, org)

    listed = client.get("/api/notifications", headers=agent).json()
    assert [n["id"] for n in listed["items"]] == [second, first]
    assert listed["items"][1]["link"] == "/conversations/9"
    assert listed["items"][1]["created_at"].endswith("+00:00")
    assert client.get("/api/notifications/unread-count", headers=agent).json() == {"unread": 2}

    page = client.get("/api/notifications?limit=1", headers=agent).json()
    assert [n["id"] for n in page["items"]] == [second]
    more = client.get(
        f"/api/notifications?limit=1&cursor={page['next_cursor']}", headers=agent
    ).json()
    assert [n["id"] for n in more["items"]] == [first]
    assert more["next_cursor"] is None

    read = client.post(f"/api/notifications/{first}/read", headers=agent)
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    unread = client.get("/api/notifications?unread=true", headers=agent).json()
    assert [n["id"] for n in unread["items"]] == [second]
    assert client.post("/api/notifications/read-all", headers=agent).json() == {"marked": 1}
    assert client.get("/api/notifications/unread-count", headers=agent).json() == {"unread": 0}
