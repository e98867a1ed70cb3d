"""The OpenAPI document builds and describes the API an integrator needs."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient


def test_openapi_document_builds_and_documents_the_api(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    paths = document["paths"]
    for path, method in [
        ("/api/me", "get"),
        ("/api/tokens", "post"),
        ("/api/tokens/{token_id}", "delete"),
        ("/api/conversations", "get"),
        ("/api/conversations/counts", "get"),
        ("/api/conversations/{conversation_id}/replies", "post"),
        ("/api/messages/{message_id}/retry", "post"),
        ("/api/contacts/{contact_id}/merge", "post"),
        ("/api/brand-accounts", "post"),
        ("/api/brand-accounts/{brand_account_id}/events", "post"),
        ("/api/members", "get"),
        ("/api/teams", "get"),
    ]:
        operation = paths[path][method]
        assert operation["summary"], path
        assert operation["security"] == [{"APIToken": []}], path
        assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/ErrorResponse"
        }

    schemas = document["components"]["schemas"]
    assert document["components"]["securitySchemes"]["APIToken"]["scheme"] == "bearer"
    # Credentials may be written, never read.
    assert "credentials" in schemas["BrandAccountCreate"]["properties"]
    assert "credentials" not in schemas["BrandAccountRead"]["properties"]
    assert "has_credentials" in schemas["BrandAccountRead"]["properties"]
    assert "token" not in schemas["ApiTokenRead"]["properties"]
    assert "token" in schemas["ApiTokenCreated"]["properties"]
    assert set(schemas["ConversationPage"]["properties"]) == {"items", "next_cursor"}
    timestamp = schemas["ConversationRead"]["properties"]["created_at"]
    assert timestamp["format"] == "date-time"


def test_interactive_docs_are_served(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "openapi.json" in response.text


def test_docs_describe_every_api_route(client: TestClient) -> None:
    """docs/api.md lists every route the app serves under /api, with its method."""
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "api.md"
    ids = re.compile(r"{\w+}")
    text = ids.sub("{}", docs.read_text(encoding="utf-8"))
    paths: dict[str, dict[str, Any]] = client.get("/openapi.json").json()["paths"]
    missing = [
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        if path.startswith("/api/")
        for method in operations
        if f"{method.upper()} {ids.sub('{}', path.removeprefix('/api'))}" not in text
    ]
    assert missing == [], f"add these routes to docs/api.md: {missing}"
