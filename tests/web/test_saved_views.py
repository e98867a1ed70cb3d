"""The inbox's saved views: the filters on screen saved under a name, listed under the filters
(the team's first), opened in one click, deleted; the form follows the filters as they change."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.db.session import get_sessionmaker
from socialdesk.saved_views.models import SavedView
from tests.web.conftest import Desk, login


def _views(client: TestClient, path: str = "/") -> str:
    page = client.get(path).text
    start = page.index('id="saved-views-list"')
    return page[start : page.index("</ul>", start)]


def test_an_agent_saves_opens_and_deletes_a_view(client: TestClient, desk: Desk) -> None:
    csrf = login(client, desk.agent)
    page = client.get("/").text
    assert "Save these filters" in page
    assert '<input type="hidden" name="query" id="save-view-query" value="">' in page
    # The list refresh after a filter change brings the form's filters along.
    listed = client.get(
        "/inbox/list", params={"status": "all", "complaint": "1"}, headers={"HX-Request": "true"}
    ).text
    assert 'id="save-view-query" value="status=all&amp;complaint=1" hx-swap-oob="true"' in listed

    saved = client.post(
        "/inbox/views",
        data={"csrf_token": csrf, "name": "Complaints", "query": "complaint=1&status=all"},
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == "/?status=all&complaint=1"
    views = _views(client, "/?status=all&complaint=1")
    assert '<a href="/?status=all&amp;complaint=1" aria-current="page">Complaints</a>' in views
    assert 'aria-current="page"' not in _views(client)
    assert f'name="csrf_token" value="{csrf}"' in views  # the delete button's form

    for data, said in (
        ({"name": "Complaints", "query": ""}, "your views already have one called"),
        ({"name": "Odd", "query": "status=bogus"}, "status must be one of"),
        ({"name": "", "query": ""}, "give the view a name"),
        ({"name": "Team", "query": "", "shared": "1"}, "only admins may share"),
    ):
        refused = client.post("/inbox/views", data={"csrf_token": csrf, **data})
        assert refused.status_code == 422, data
        assert said in refused.text, data
    assert client.post("/inbox/views", data={"name": "x", "query": ""}).status_code == 403

    with get_sessionmaker(write=False)() as reader:
        view_id = reader.scalars(select(SavedView.id)).one()
    deleted = client.post(
        f"/inbox/views/{view_id}/delete", data={"csrf_token": csrf, "next": "/?status=all"}
    )
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/?status=all"
    assert "Complaints" not in _views(client)


def test_the_teams_views_are_made_by_admins(
    client: TestClient, desk: Desk, session: Session
) -> None:
    csrf = login(client, desk.owner)
    assert 'name="shared"' in client.get("/").text
    shared = client.post(
        "/inbox/views",
        data={
            "csrf_token": csrf,
            "name": "Unassigned",
            "query": "assignee=unassigned",
            "shared": "1",
        },
    )
    assert shared.status_code == 303
    with get_sessionmaker(write=False)() as reader:
        view_id = reader.scalars(select(SavedView.id)).one()

    client.cookies.clear()
    csrf = login(client, desk.viewer)
    views = _views(client)
    assert '<a href="/?assignee=unassigned">Unassigned</a> <span class="chip chip-team"' in views
    assert "/delete" not in views  # not theirs to delete
    assert (
        client.post(f"/inbox/views/{view_id}/delete", data={"csrf_token": csrf}).status_code == 403
    )
    # A viewer keeps views of their own.
    own = client.post("/inbox/views", data={"csrf_token": csrf, "name": "Mine", "query": ""})
    assert own.status_code == 303
    assert own.headers["location"] == "/"
    assert '<a href="/" aria-current="page">Mine</a>' in _views(client)


def test_a_taken_name_offers_to_replace_that_views_filters(client: TestClient, desk: Desk) -> None:
    csrf = login(client, desk.agent)
    first = client.post(
        "/inbox/views", data={"csrf_token": csrf, "name": "Mine", "query": "assignee=me"}
    )
    assert first.status_code == 303
    taken = client.post(
        "/inbox/views",
        data={"csrf_token": csrf, "name": "mine", "query": "assignee=me&sort=priority"},
    )
    assert taken.status_code == 422
    assert "your views already have one called &#39;mine&#39;" in taken.text
    assert 'name="replace" value="1"' in taken.text
    replaced = client.post(
        "/inbox/views",
        data={
            "csrf_token": csrf,
            "name": "mine",
            "query": "assignee=me&sort=priority",
            "replace": "1",
        },
    )
    assert replaced.status_code == 303
    assert replaced.headers["location"] == "/?assignee=me&sort=priority"
    with get_sessionmaker(write=False)() as reader:
        views = reader.scalars(select(SavedView).where(SavedView.member_id == desk.agent.id))
        assert [(v.name, v.query) for v in views] == [("Mine", "assignee=me&sort=priority")]
    # A name nobody uses offers nothing to replace.
    bad = client.post("/inbox/views", data={"csrf_token": csrf, "name": "", "query": "assignee=me"})
    assert bad.status_code == 422
    assert 'name="replace"' not in bad.text


def test_a_views_colleague_is_kept_and_unknown_ids_are_refused_by_field(
    client: TestClient, desk: Desk, session: Session
) -> None:
    from socialdesk.accounts import service as accounts_service
    from tests.factories import accounts, channels

    elsewhere = accounts.organization(session)
    stranger = accounts.member(session, elsewhere)
    their_team = accounts_service.create_team(session, organization_id=elsewhere.id, name="T")
    their_account = channels.brand_account(session, elsewhere)
    session.commit()
    csrf = login(client, desk.agent)

    saved = client.post(
        "/inbox/views",
        data={"csrf_token": csrf, "name": "Olivia's", "query": f"assignee={desk.owner.id}"},
    )
    assert saved.status_code == 303
    assert saved.headers["location"] == f"/?assignee={desk.owner.id}"
    opened = client.get(saved.headers["location"]).text
    assert f'<option value="{desk.owner.id}" selected>Olivia Owner</option>' in opened
    assert f'<a href="/?assignee={desk.owner.id}" aria-current="page">Olivia&#39;s</a>' in (
        _views(client, saved.headers["location"])
    )

    for query, said in (
        (f"assignee={stranger.id}", f"assignee {stranger.id} is not a member of this organization"),
        ("assignee=987654321", "assignee 987654321 is not a member of this organization"),
        (f"team={their_team.id}", f"team {their_team.id} is not one of this organization&#39;s"),
        ("team=987654321", "team 987654321 is not one of this organization&#39;s teams"),
        (
            f"channel=account:{their_account.id}",
            f"channel account:{their_account.id} is not one of this organization&#39;s brand",
        ),
    ):
        refused = client.post(
            "/inbox/views", data={"csrf_token": csrf, "name": "Elsewhere", "query": query}
        )
        assert refused.status_code == 422, query
        assert said in refused.text, query
        # The inbox behind the refusal shows as it opens, not the refused filters.
        assert '<input type="hidden" name="query" id="save-view-query" value="">' in refused.text
    with get_sessionmaker(write=False)() as reader:
        assert reader.scalars(select(SavedView.name)).all() == ["Olivia's"]


def test_deleting_a_view_asks_first(client: TestClient, desk: Desk) -> None:
    csrf = login(client, desk.agent)
    client.post("/inbox/views", data={"csrf_token": csrf, "name": "Complaints", "query": ""})
    views = _views(client)
    # The cross only opens the question; the form and its button are inside it, so nothing is
    # deleted without a second, explicit press (with or without JavaScript).
    question = views.index('<details class="saved-view-delete">')
    summary = views.index(
        '<summary aria-label="Delete the view Complaints" title="Delete the view">\u00d7</summary>',
        question,
    )
    form = views.index('<form method="post" action="/inbox/views/', summary)
    assert views.index("Delete the view “Complaints”?", form) < views.index(
        '<button type="submit" class="button small warn">Delete it</button>', form
    )
    assert views.index("</details>", form) > form
    assert '<button type="submit" class="link-button"' not in views
