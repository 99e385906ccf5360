"""Cells of the CSV files people open in spreadsheets."""

from __future__ import annotations

# A cell starting with one of these is read as a formula by Excel and LibreOffice (CSV injection, OWASP).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """``text`` made inert for a spreadsheet: a leading apostrophe keeps a formula-like cell as text."""
    return "'" + text if text[:1] in FORMULA_STARTS else text
