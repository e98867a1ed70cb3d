"""The files that came with messages, downloaded from the desk (``/attachments/{id}``)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from socialdesk.common import files
from socialdesk.common.deps import DB, Reader
from socialdesk.conversations import attachments
from socialdesk.web.forms import PathId

router = APIRouter(include_in_schema=False)


@router.get("/attachments/{attachment_id}")
def download(attachment_id: PathId, actor: Reader, db: DB) -> Response:
    """A file a message carried into the desk (an email's attachment), for any member of its
    organization; it is always saved, never opened as a page."""
    found = attachments.download(
        db, organization_id=actor.organization_id, attachment_id=attachment_id
    )
    return files.download(found.content, name=found.name, mime_type=found.mime_type)
