"""The CSV files the reports export: cells safe to open in a spreadsheet, and the download."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from fastapi.responses import Response

# A cell starting with one of these is a formula to a spreadsheet; names and words come from
# people, so such a cell is written as text instead.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> object:
    """``value`` as a CSV cell: text that could be read as a formula quoted as text, a float
    with at most four decimals, nothing for None."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".")
    return "" if value is None else value


def table(columns: Sequence[str], rows: Iterable[Iterable[object]]) -> str:
    """A CSV file: the header, then each row with every value made a safe ``cell``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([cell(value) for value in row])
    return out.getvalue()


def download(body: str, filename: str) -> Response:
    """A CSV file the browser saves as ``filename``, never kept by a cache."""
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
