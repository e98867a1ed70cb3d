"""Concurrent writes against a real server on SQLite all go through.

Who is asking is looked up in FastAPI's thread pool, not on the event loop: a lookup there
waited for SQLite's write lock (a request that writes takes it with its first query) while the
request holding the lock needed the event loop to commit, and the whole server stalled. Eight
notes at once hung it before the fix.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from tests.browser.server import live_desk
from tests.factories.conversations import inbound, ingest

from socialdesk.accounts import service as accounts_service
from socialdesk.accounts.models import Role
from socialdesk.channels import service as channels_service

WRITERS = 8
# Far longer than a note takes; the stalled server answered none of them within it.
ANSWER_TIMEOUT_S = 60


def test_eight_notes_at_once_all_land(tmp_path: Path) -> None:
    with live_desk(tmp_path) as live:
        with live.sessions() as session:
            org = accounts_service.create_organization(session, name="Acme", slug="acme")
            owner = accounts_service.create_member(
                session,
                organization_id=org.id,
                email="olivia@example.org",
                name="Olivia",
                role=Role.OWNER,
                password="correct horse battery staple",
            )
            token = accounts_service.create_api_token(session, member=owner, name="load").token
            account = channels_service.create(
                session, organization_id=org.id, kind="web", handle="site"
            )
            conversation_id = ingest(session, account, inbound(native_id="m1")).conversation.id
            session.commit()

        answers: list[int | str] = []

        def note(n: int) -> None:
            request = urllib.request.Request(
                f"{live.base_url}/api/conversations/{conversation_id}/notes",
                data=json.dumps({"text": f"note {n}"}).encode(),
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                method="POST",
            )
            try:
                with urllib.request.urlopen(request, timeout=ANSWER_TIMEOUT_S) as response:
                    answers.append(response.status)
            except urllib.error.HTTPError as exc:
                answers.append(exc.code)
            except OSError as exc:  # a timeout: the server stalled
                answers.append(repr(exc))

        threads = [threading.Thread(target=note, args=(n,)) for n in range(WRITERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=ANSWER_TIMEOUT_S + 10)
        if answers != [201] * WRITERS:
            pytest.fail(f"answers {answers}\n{live.logs()}")
