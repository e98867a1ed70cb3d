"""Cells of the CSV files the reports export, safe to open in a spreadsheet."""

from __future__ import annotations

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
