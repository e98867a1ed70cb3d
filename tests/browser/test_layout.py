"""The desk's pages fit the screen: at a laptop's width and at a phone's, no page is wider than
the window (a wide table scrolls on its own), and the header's menu labels never break in
two nor run under the controls at the end of the bar. Only a browser lays pages out, so only a
browser can show this."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Role
from socialdesk.alerts import service as alerts_service
from socialdesk.commitments import service as commitments_service
from socialdesk.contacts import service as contacts_service
from socialdesk.escalations import service as escalations_service
from socialdesk.notifications import service as notifications_service
from socialdesk.saved_replies import service as saved_replies_service
from socialdesk.sla import service as sla_service
from socialdesk.sla.schemas import SlaPolicyCreate
from tests.browser.chromium import chromium, expect, log_in
from tests.browser.desk_time import add_members, add_website
from tests.browser.server import LiveDesk, live_desk
from tests.factories.conversations import inbound, ingest

pytestmark = pytest.mark.browser

WIDTHS = (1366, 390)
PAGES = (
    "/",
    "/contacts",
    "/contacts/1/privacy",  # the first customer's data (the owner may see it)
    "/contacts/1/merge?q=a",  # the same person as another?
    "/contacts/2/merge",  # a merge into the second customer, with its undo button
    "/contacts/1",  # a customer's own page, with the promise made to them
    "/commitments",
    "/escalations",
    "/escalations?scope=asked&status=all",
    "/polls",
    "/reports",
    "/reports/care",
    "/reports/topics",
    "/reports/polls",
    "/conduct",
    "/approvals",
    "/account",
    "/notifications",
    "/admin/members",
    "/admin/accounts",
    "/admin/business-hours",
    "/admin/sla",
    "/admin/routing",
    "/admin/alerts",
    "/admin/alerts/new",
    "/admin/saved-replies",
    "/admin/retention",
    "/admin/audit",
)

# Every element of the header that sticks out of the window or of its own row, and every menu
# link whose text wrapped onto a second line.
_HEADER_FAULTS = """() => {
  const width = document.documentElement.clientWidth;
  const faults = [];
  const nav = document.querySelector('.topnav');
  const navBox = nav.getBoundingClientRect();
  for (const link of nav.querySelectorAll('a')) {
    if (link.getClientRects().length > 1) faults.push('wrapped: ' + link.textContent.trim());
  }
  const end = document.querySelector('.topbar-end').getBoundingClientRect();
  for (const el of document.querySelectorAll('.topbar-end > *')) {
    const r = el.getBoundingClientRect();
    if (r.width && r.right > width + 1) faults.push('off the window: ' + el.className);
  }
  // The menu and the end of the bar may share a row, but must not overlap on it.
  const sameRow = navBox.top < end.bottom && end.top < navBox.bottom;
  const navClips = getComputedStyle(nav).overflowX !== 'visible';
  if (sameRow && !navClips && nav.scrollWidth > nav.clientWidth + 1) {
    faults.push('the menu runs under the end of the bar');
  }
  if (sameRow && navBox.right > end.left + 1) faults.push('the menu overlaps the end of the bar');
  return faults;
}"""


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[LiveDesk]:
    with live_desk(tmp_path) as live:
        with live.sessions() as session:
            org = accounts_service.create_organization(
                session, name="Kestrel Valley Transit Authority", timezone="Europe/Amsterdam"
            )
            people = add_members(
                session,
                org.id,
                (
                    ("maren@example.org", "Maren Holt", Role.OWNER),
                    ("lukas@example.org", "Lukas Meyer", Role.AGENT),
                ),
            )
            owner, fitter = people["Maren Holt"], people["Lukas Meyer"]
            web = add_website(session, org.id, "Kestrel Valley website")
            # A list longer than the window, so the inbox's filter panel sticks.
            conversations = [
                ingest(
                    session,
                    web,
                    inbound(text=f"Is line {n} running today?", author=f"rider-{n}"),
                ).conversation
                for n in range(25)
            ]
            # A merge for the merge page's list of merges.
            contacts_service.merge(
                session,
                organization_id=org.id,
                source_id=conversations[2].contact_id or 0,
                target_id=conversations[1].contact_id or 0,
                actor=owner,
            )
            # Rows for the tables of promises and requests.
            team = accounts_service.create_team(session, organization_id=org.id, name="Field")
            accounts_service.add_to_team(session, team=team, member=fitter)
            commitments_service.create(
                session,
                conversation=conversations[0],
                actor=owner,
                text="Call the rider back about kestrelvalley.example/timetables/line-4-weekday",
                owner_id=owner.id,
            )
            escalations_service.create(
                session,
                conversation=conversations[0],
                requested_by=owner,
                text="Please check the tram 4 timetable at the depot",
                team_id=team.id,
            )
            # A row in the SLA policies' table, whose last heading is hidden text.
            sla_service.create(
                session,
                organization_id=org.id,
                data=SlaPolicyCreate(
                    name="Urgent: answer within 30 minutes",
                    priority=3,
                    first_response_minutes=30,
                    next_response_minutes=30,
                    resolution_minutes=240,
                ),
            )
            # A saved reply with a long address in its text.
            saved_replies_service.create(
                session,
                organization_id=org.id,
                draft=saved_replies_service.Draft(
                    "timetable-line-4",
                    "Where the line 4 timetable is",
                    "Hi {name}, the timetable is at "
                    "kestrelvalley.example/timetables/line-4-weekday-and-weekend-services",
                ),
                actor=owner,
            )
            # A notification whose title quotes a customer's long address, which has no
            # place to break.
            notifications_service.notify(
                session,
                organization_id=org.id,
                member_ids=[owner.id],
                kind="sla.breached",
                title="SLA breached: first response on “line 4 trams not running?? "
                "@transit.kestrelvalley.example.timetables.weekday”",
                conversation_id=conversations[1].id,
                email=False,
            )
            # An alert that is over, so its page shows the state line and a firing.
            alert = alerts_service.create(
                session,
                organization_id=org.id,
                spec=alerts_service.AlertSpec(
                    name="Questions about the timetable of every line on the network",
                    window_minutes=60,
                    threshold=10,
                    baseline_factor=2.5,
                    notify_to="team",
                    team_id=team.id,
                    filters={"intent": "question", "words": ["line", "running", "timetable"]},
                ),
                actor=owner,
            )
            alerts_service.check(session, alert)
            session.commit()
        yield live


def test_every_inbox_filter_can_be_reached_beside_a_long_list(desk: LiveDesk) -> None:
    """The filter panel sticks below the header while the list scrolls. Taller than a laptop's
    window, its last fields and Apply stayed below the bottom edge until the very end of the
    list; where the header takes two rows the panel slid under it."""
    base = desk.base_url
    with chromium(desk) as browser:
        page = browser.new_page(viewport={"width": 1366, "height": 768})
        log_in(page, base, "maren@example.org")
        expect(page.locator(".conv-row")).to_have_count(25)
        for width in (1366, 1024):
            page.set_viewport_size({"width": width, "height": 768})
            page.evaluate("window.scrollTo(0, 0)")
            apply = page.locator("#filters").get_by_role("button", name="Apply")
            apply.focus()
            box = apply.bounding_box()
            header = page.locator(".topbar").bounding_box()
            panel = page.locator(".filters-panel").bounding_box()
            assert box is not None
            assert header is not None
            assert panel is not None
            assert box["y"] + box["height"] <= 768, f"Apply is below the window at {width}px"
            assert panel["y"] >= header["y"] + header["height"], (
                f"the filter panel is under the header at {width}px"
            )


def test_pages_fit_a_laptop_and_a_phone(desk: LiveDesk) -> None:
    base = desk.base_url
    with chromium(desk) as browser:
        page = browser.new_page(viewport={"width": WIDTHS[0], "height": 768})
        log_in(page, base, "maren@example.org")
        problems: list[str] = []
        for path in PAGES:
            response = page.goto(f"{base}{path}")
            assert response is not None, path
            assert response.status == 200, path
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 800})
                wider = page.evaluate(
                    "document.documentElement.scrollWidth - document.documentElement.clientWidth"
                )
                if wider > 0:
                    problems.append(f"{path} at {width}px: {wider}px wider than the window")
                for fault in page.evaluate(_HEADER_FAULTS):
                    problems.append(f"{path} at {width}px: header: {fault}")
                # Two rows at most: the controls beside the logo, then the menu.
                bar = page.locator(".topbar").bounding_box()
                if bar is not None and bar["height"] > 90:
                    problems.append(f"{path} at {width}px: header {bar['height']:.0f}px high")
            page.set_viewport_size({"width": WIDTHS[0], "height": 768})
        assert not problems, "\n".join(problems)


def test_a_phone_sees_the_inbox_list_on_its_first_screen(desk: LiveDesk) -> None:
    """On a phone the filters come first; only the most used ones are unfolded, so the first
    conversation is on the first screen. A filter that is on keeps its group unfolded."""
    base = desk.base_url
    with chromium(desk) as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        log_in(page, base, "maren@example.org")
        first = page.locator(".conv-row").first.bounding_box()
        assert first is not None
        assert first["y"] < 844, f"the first conversation starts {first['y']:.0f}px down"
        assert not page.locator("#intent").is_visible()
        page.locator(".triage-filters summary").click()
        page.locator("#sort").select_option("priority")
        page.goto(f"{base}/?sort=priority")
        expect(page.locator("#sort")).to_be_visible()
        expect(page.locator(".triage-filters summary .count")).to_have_text("on")
