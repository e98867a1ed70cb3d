"""The API of a customer's data: export and erasure, for owners and admins only, never of
another organization's customer; and the details agents correct (name, VIP)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from tests.api.conftest import Desk, bearer


def test_agents_and_viewers_may_neither_export_nor_erase(client: TestClient, desk: Desk) -> None:
    contact = desk.a.contact_id
    for token in (desk.a.agent_token, desk.a.viewer_token):
        for method, path in (
            ("POST", f"/api/contacts/{contact}/export"),
            ("DELETE", f"/api/contacts/{contact}"),
        ):
            answer = client.request(method, path, headers=bearer(token))
            assert answer.status_code == 403, (method, path, answer.text)
            assert "contacts.privacy" in answer.json()["error"]["message"]
    assert client.get(f"/api/contacts/{contact}", headers=bearer(desk.a.owner_token)).is_success


def test_another_organizations_customer_is_unknown(client: TestClient, desk: Desk) -> None:
    theirs = desk.b.contact_id
    owner = bearer(desk.a.owner_token)
    assert client.post(f"/api/contacts/{theirs}/export", headers=owner).status_code == 404
    assert client.delete(f"/api/contacts/{theirs}", headers=owner).status_code == 404
    assert client.get(f"/api/contacts/{theirs}", headers=bearer(desk.b.owner_token)).is_success


def test_export_then_erase(client: TestClient, desk: Desk) -> None:
    owner = bearer(desk.a.owner_token)
    contact, conversation = desk.a.contact_id, desk.a.conversation_id

    exported = client.post(f"/api/contacts/{contact}/export", headers=owner)
    assert exported.status_code == 200
    assert exported.headers["content-disposition"] == (
        f'attachment; filename="contact-{contact}.json"'
    )
    assert exported.headers["cache-control"] == "no-store"
    document = exported.json()
    assert document["contact"]["id"] == contact
    assert [c["id"] for c in document["conversations"]] == [conversation]

    erased = client.delete(f"/api/contacts/{contact}", headers=owner)
    assert erased.status_code == 200, erased.text
    counts = erased.json()
    assert counts["contact_id"] == contact
    assert counts["conversations"] == 1
    assert counts["messages"] >= 1

    assert client.get(f"/api/contacts/{contact}", headers=owner).status_code == 404
    assert client.get(f"/api/conversations/{conversation}", headers=owner).status_code == 404
    assert client.delete(f"/api/contacts/{contact}", headers=owner).status_code == 404
    # The other organization's desk is untouched.
    b = bearer(desk.b.owner_token)
    assert client.get(f"/api/conversations/{desk.b.conversation_id}", headers=b).is_success


def test_agents_correct_names_and_mark_vips(client: TestClient, desk: Desk) -> None:
    contact = desk.a.contact_id
    agent = bearer(desk.a.agent_token)
    answer = client.patch(f"/api/contacts/{contact}", json={"is_vip": True}, headers=agent)
    assert answer.status_code == 200, answer.text
    assert answer.json()["is_vip"] is True
    renamed = client.patch(f"/api/contacts/{contact}", json={"name": "Ada L."}, headers=agent)
    assert (renamed.json()["name"], renamed.json()["is_vip"]) == ("Ada L.", True)
    empty = client.patch(f"/api/contacts/{contact}", json={"name": " "}, headers=agent)
    assert empty.status_code == 422
    assert empty.json()["error"]["field"] == "name"
    unknown = client.patch(f"/api/contacts/{contact}", json={"vip": True}, headers=agent)
    assert unknown.status_code == 422
    viewer = bearer(desk.a.viewer_token)
    assert client.patch(f"/api/contacts/{contact}", json={}, headers=viewer).status_code == 403
    theirs = client.patch(f"/api/contacts/{desk.b.contact_id}", json={}, headers=agent)
    assert theirs.status_code == 404

    noted = client.patch(
        f"/api/contacts/{contact}", json={"note": "  Answers in Polish\r\n"}, headers=agent
    )
    assert noted.json()["attributes"] == {"note": "Answers in Polish"}
    assert noted.json()["name"] == "Ada L."  # left out: left as it is
    long = client.patch(f"/api/contacts/{contact}", json={"note": "x" * 1001}, headers=agent)
    assert long.status_code == 422
    assert "note" in long.text
    cleared = client.patch(f"/api/contacts/{contact}", json={"note": ""}, headers=agent)
    assert cleared.json()["attributes"] == {}
