"""Input no row could match is refused with a 422 that names it, never answered with a 500.

Found by fuzzing the API against its OpenAPI document: SQLite cannot compare a column with a
number beyond 64 bits (OverflowError), so an id like 2**64 anywhere in a request crashed it.
The routes are read from the app's own OpenAPI document, so a new route with an id is checked
without anyone remembering to add it here.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.api.conftest import Desk, bearer

from socialdesk.app import create_app

TOO_BIG = 2**64
PARAM = re.compile(r"{(\w+)}")
HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


def _integer_parameters() -> list[tuple[str, str, str, str]]:
    """(method, path, where, name) of every integer path or query parameter naming an id."""
    paths: dict[str, dict[str, Any]] = create_app().openapi()["paths"]
    found = []
    for path, operations in sorted(paths.items()):
        if not path.startswith("/api/"):
            continue
        for method, operation in sorted(operations.items()):
            if method not in HTTP_METHODS:
                continue
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                types = {s.get("type") for s in schema.get("anyOf", [schema])}
                if "integer" in types and parameter["name"].endswith("_id"):
                    found.append((method.upper(), path, parameter["in"], parameter["name"]))
    return found


def _fill(template: str, too_big: str) -> str:
    """The path with ``too_big`` beyond 64 bits and every other id 1."""
    return PARAM.sub(lambda m: str(TOO_BIG) if m.group(1) == too_big else "1", template)


def test_the_app_has_id_parameters_to_check() -> None:
    found = _integer_parameters()
    assert ("GET", "/api/conversations/{conversation_id}", "path", "conversation_id") in found
    assert ("GET", "/api/conversations", "query", "team_id") in found
    assert len(found) >= 40


def test_an_id_beyond_64_bits_is_a_422_naming_the_parameter(client: TestClient, desk: Desk) -> None:
    owner = bearer(desk.a.owner_token)
    for method, template, where, name in _integer_parameters():
        path = _fill(template, name)
        params = {name: TOO_BIG} if where == "query" else None
        response = client.request(method, path, params=params, json={}, headers=owner)
        assert response.status_code == 422, (method, path, where, name, response.text)
        assert response.json()["error"]["field"] == name, (method, path, response.text)


def test_zero_and_negative_ids_are_refused_too(client: TestClient, desk: Desk) -> None:
    owner = bearer(desk.a.owner_token)
    for bad in (0, -1, -(2**64)):
        response = client.get(f"/api/conversations/{bad}", headers=owner)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["field"] == "conversation_id"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/conversations/{c}/assign", {"assignee_id": TOO_BIG}, "assignee_id"),
        ("/api/conversations/{c}/team", {"team_id": TOO_BIG}, "team_id"),
        ("/api/contacts/{contact}/merge", {"into_id": TOO_BIG}, "into_id"),
        ("/api/conversations/{c}/escalations", {"text": "x", "member_id": TOO_BIG}, "member_id"),
        ("/api/conversations/{c}/commitments", {"text": "x", "owner_id": TOO_BIG}, "owner_id"),
        ("/api/policy/check", {"text": "x", "brand_account_id": TOO_BIG}, "brand_account_id"),
        ("/api/admin/routing/rules/reorder", {"ids": [1, TOO_BIG]}, "ids.1"),
    ],
)
def test_an_id_beyond_64_bits_in_a_body_is_a_422(
    client: TestClient, desk: Desk, path: str, body: dict[str, Any], field: str
) -> None:
    url = path.format(c=desk.a.conversation_id, contact=desk.a.contact_id)
    response = client.post(url, json=body, headers=bearer(desk.a.owner_token))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize("value", [str(TOO_BIG), "99999999999999999999", "²", "0"])
def test_a_member_id_given_as_text_must_be_a_row_id(
    client: TestClient, desk: Desk, value: str
) -> None:
    owner = bearer(desk.a.owner_token)
    inbox = client.get("/api/conversations", params={"assignee": value}, headers=owner)
    assert inbox.status_code == 422, inbox.text
    assert inbox.json()["error"]["field"] == "assignee"
    promises = client.get("/api/commitments", params={"owner": value}, headers=owner)
    assert promises.status_code == 422, promises.text
    assert promises.json()["error"]["field"] == "owner"


@pytest.mark.parametrize(
    "when",
    ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59+00:00"],
)
@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("status", {"status": "snoozed"}, "snoozed_until"),
        ("commitments", {"text": "Call back"}, "due_at"),
        ("escalations", {"text": "Refund please", "member_id": 1}, "due_at"),
    ],
)
def test_a_time_at_the_edge_of_the_calendar_is_a_422(
    client: TestClient, desk: Desk, when: str, path: str, body: dict[str, Any], field: str
) -> None:
    """Moving such a time to UTC or a local zone overflowed (a 500); year 9999 was stored."""
    url = f"/api/conversations/{desk.a.conversation_id}/{path}"
    response = client.post(url, json={**body, field: when}, headers=bearer(desk.a.owner_token))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert "1970 to 9998" in error["message"]


def test_policy_versions_of_an_unknown_brand_account_is_a_documented_404(
    client: TestClient, desk: Desk
) -> None:
    response = client.get(
        "/api/policy/versions",
        params={"brand_account_id": 987_654},
        headers=bearer(desk.a.owner_token),
    )
    assert response.status_code == 404
    operation = client.get("/openapi.json").json()["paths"]["/api/policy/versions"]["get"]
    assert "404" in operation["responses"]


def test_a_forged_cursor_with_an_id_beyond_64_bits_is_a_422(client: TestClient, desk: Desk) -> None:
    forged = (
        base64.urlsafe_b64encode(json.dumps(["2026-01-01T00:00:00+00:00", TOO_BIG]).encode())
        .decode()
        .rstrip("=")
    )
    response = client.get(
        "/api/conversations", params={"cursor": forged}, headers=bearer(desk.a.owner_token)
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "cursor"
    assert "not one this server issued" in error["message"]


@pytest.mark.parametrize("value", [True, False])
@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/conversations/{c}/priority", {}, "priority"),
        ("POST", "/api/conversations/{c}/assign", {}, "assignee_id"),
        ("POST", "/api/admin/sla/policies", {"name": "Care"}, "first_response_minutes"),
        ("POST", "/api/admin/sla/policies", {"name": "Care"}, "warn_before_minutes"),
    ],
)
def test_true_or_false_is_not_a_number(
    client: TestClient,
    desk: Desk,
    value: bool,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    """pydantic alone reads true and false as 1 and 0: "minutes": false meant zero minutes."""
    url = path.format(c=desk.a.conversation_id)
    response = client.request(
        method, url, json={**body, field: value}, headers=bearer(desk.a.owner_token)
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert "not true or false" in error["message"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/admin/sla/policies", "GET, POST"),
        ("POST", "/api/admin/sla/policies/1", "DELETE, GET, PATCH"),
        ("PUT", "/login", "GET, POST"),
    ],
)
def test_a_method_not_allowed_names_every_method_the_path_serves(
    client: TestClient, method: str, path: str, allowed: str
) -> None:
    """Starlette named only the first route it matched (GET), though POST is served too."""
    response = client.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_a_body_that_is_not_json_says_so_and_where(client: TestClient, desk: Desk) -> None:
    response = client.post(
        f"/api/conversations/{desk.a.conversation_id}/notes",
        content=b'{"text": "Call her back",}',
        headers={**bearer(desk.a.owner_token), "content-type": "application/json"},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] is None  # the offset is not a field
    assert error["message"] == (
        "the body is not valid JSON (at character 25: expecting property name enclosed in "
        "double quotes)"
    )
