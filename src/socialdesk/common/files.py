"""Files the desk hands to a browser that it did not make itself (a customer's attachment).

Such a file may be anything its sender chose, so it is always a download, never a page: the
browser is told not to guess its type, the response may run no script and load nothing even
if opened, and no shared cache keeps it.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

# Images a browser may show from the desk itself: no SVG (it can hold scripts).
INLINE_IMAGES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def _ascii_name(name: str) -> str:
    kept = "".join(c if c.isascii() and c.isprintable() and c not in '"\\;' else "_" for c in name)
    return kept.strip() or "attachment"


def download(content: bytes, *, name: str | None, mime_type: str | None) -> Response:
    """``content`` as a file saved under ``name``. Only the image types a browser shows safely
    keep their type (so an ``<img>`` of the desk can show them); anything else is sent as
    bytes of no known type."""
    shown_name = name or "attachment"
    disposition = (
        f'attachment; filename="{_ascii_name(shown_name)}"; '
        f"filename*=UTF-8''{quote(shown_name, safe='')}"
    )
    return Response(
        content,
        media_type=mime_type if mime_type in INLINE_IMAGES else "application/octet-stream",
        headers={
            "Content-Disposition": disposition,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cross-Origin-Resource-Policy": "same-origin",
            "Cache-Control": "private, no-store",
        },
    )
