"""Response and score CSV files: pure readers and writers.

RESPONSES.csv
    A header row of item ids, optionally preceded by a ``person_id`` column; one row per person; each cell is
    the category of the person's answer to that item (``0``/``1`` for dichotomous items, ``0..K-1`` for
    polytomous items). An empty cell (or R's ``NA``) means *not presented*, which is different from a wrong
    answer. Empty lines, and rows of empty cells after the last person, are ignored; a row of empty cells
    between persons is a person who was presented nothing. Spreadsheet exports are accepted as they come:
    UTF-8 with or without a byte-order mark, cells separated by commas, semicolons (Excel in a Russian or
    Kazakh locale) or tabs, whole numbers written as ``1.0``.

SCORES.csv
    ``person_id, theta, se``: one row per person, in the order of the responses file.

Every problem with a file raises :class:`FormatError`, whose message names the file, the row as a spreadsheet
user counts it (the header is row 1, the first person row 2) and the column (its header and its spreadsheet
letter). Writers never leave a partial file behind: they write a temporary file in the target directory and
rename it over the target only once everything has been written.
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "DELIMITERS",
    "PERSON_ID",
    "FormatError",
    "ResponseTable",
    "atomic_write_text",
    "column_letter",
    "csv_text",
    "read_csv_rows",
    "read_responses",
    "write_responses",
    "write_scores",
]

PERSON_ID = "person_id"
MISSING_TOKENS = frozenset({"", "NA"})
"""Cell contents that mean "not presented": empty, or ``NA`` as written by R's ``write.csv``."""


class FormatError(ValueError):
    """A file that cannot be used, with the place of the problem.

    Attributes
    ----------
    path : str
        The file.
    row : int or None
        1-based row as a spreadsheet counts it (header = 1), or None when the problem is not in one row.
    column : str or None
        Header of the offending column, or None.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        column_index: int | None = None,
    ) -> None:
        self.path = str(path)
        self.row = row
        self.column = column
        self.detail = message
        where = [self.path]
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            letter = f" ({column_letter(column_index)})" if column_index is not None else ""
            where.append(f"column {column!r}{letter}")
        super().__init__(f"{', '.join(where)}: {message}")


def column_letter(index: int) -> str:
    """Spreadsheet letter of a 0-based column index: 0 -> ``A``, 25 -> ``Z``, 26 -> ``AA``."""
    letters = ""
    index += 1
    while index > 0:
        index, remainder = divmod(index - 1, 26)
        letters = chr(ord("A") + remainder) + letters
    return letters


@dataclass(frozen=True)
class ResponseTable:
    """Responses read from a file.

    Attributes
    ----------
    item_ids : tuple of str, length J
    responses : ndarray of int64, shape (N, J)
        Category 0..K-1, or -1 for not presented.
    person_ids : tuple of str, length N
        From the ``person_id`` column, or ``"1"``, ``"2"``, ... (person order) when the file has none.
    rows : ndarray of int64, shape (N,)
        Spreadsheet row of each person (header = 1), for error messages downstream.
    """

    item_ids: tuple[str, ...]
    responses: NDArray[np.int64]
    person_ids: tuple[str, ...]
    rows: NDArray[np.int64]


def read_csv_rows(path: str | os.PathLike[str]) -> list[tuple[int, list[str]]]:
    """Read a UTF-8 CSV file into ``(spreadsheet row, cells)`` pairs, skipping empty lines.

    Cells may be separated by commas, semicolons or tabs (see :data:`DELIMITERS`), detected on the header.

    Raises
    ------
    FormatError
        The file is missing, not UTF-8 text, binary, empty or malformed CSV.
    """
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise FormatError(path, f"cannot read the file: {exc.strerror or exc}") from exc
    if b"\x00" in raw:
        raise FormatError(path, "not a CSV file: it contains NUL bytes (a binary file?)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormatError(path, f"not a CSV file: byte {exc.start} is not UTF-8 text") from exc
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    rows: list[tuple[int, list[str]]] = []
    try:
        for number, cells in enumerate(reader, start=1):
            if cells:  # an empty line is skipped but still counted, as a spreadsheet shows it
                rows.append((number, cells))
    except csv.Error as exc:
        raise FormatError(path, f"not a valid CSV file: {exc}", row=reader.line_num) from exc
    # Rows of empty cells at the end are spreadsheet residue; inside the file they are persons with no
    # answer and must stay, or persons numbered by position would shift.
    while rows and not any(cell.strip() for cell in rows[-1][1]):
        rows.pop()
    if not rows:
        raise FormatError(path, "the file is empty: expected a header row")
    return rows


DELIMITERS = (",", ";", "\t")
"""Accepted cell separators: Excel in a Russian or Kazakh locale saves "CSV" with semicolons."""


def _delimiter(text: str) -> str:
    """The separator that splits the first line into the most cells (a comma when none does)."""
    first_line = text.split("\n", 1)[0]
    counts = [first_line.count(d) for d in DELIMITERS]
    return DELIMITERS[int(np.argmax(counts))] if max(counts) > 0 else ","


def _parse_cells(
    path: str | os.PathLike[str],
    cells: NDArray[np.str_],
    rows: Sequence[int],
    columns: Sequence[str],
    offset: int,
) -> NDArray[np.int64]:
    """Cells (N, J) of text -> categories, -1 for missing; errors name the first bad cell."""
    digits = _plain_digits(cells)
    if digits is not None:
        return digits
    stripped = np.char.strip(cells)
    missing = np.isin(stripped, list(MISSING_TOKENS))
    filled = np.where(missing, "-1", stripped)
    try:
        values = filled.astype(np.int64)
    except (ValueError, OverflowError):
        values = np.empty(filled.shape, dtype=np.int64)
        for (i, j), text in np.ndenumerate(filled):
            try:
                values[i, j] = int(text)
            except ValueError:
                number = _integral_float(str(text))
                if number is None:
                    raise FormatError(
                        path,
                        f"{str(text)!r} is not a category number (use 0, 1, 2, ...; "
                        "leave the cell empty for 'not presented')",
                        row=rows[i],
                        column=columns[j],
                        column_index=j + offset,
                    ) from None
                values[i, j] = number
    negative = (values < 0) & ~missing
    if negative.any():
        i, j = np.argwhere(negative)[0]
        raise FormatError(
            path,
            f"category {int(values[i, j])} is negative (categories are 0, 1, 2, ...; "
            "leave the cell empty for 'not presented')",
            row=rows[i],
            column=columns[j],
            column_index=j + offset,
        )
    return values


def _plain_digits(cells: NDArray[np.str_]) -> NDArray[np.int64] | None:
    """Fast path: cells that are empty, ``NA`` or plain decimal digits, parsed from their code points.

    numpy's text-to-integer cast goes through Python's ``int`` cell by cell (about 0.25 us each, 5 s for a
    100,000 x 200 file); here each character position is one vectorised step. Returns None when any cell is
    something else (spaces, signs, decimals, words), which the general path then parses or reports.
    """
    if cells.size == 0 or cells.dtype.kind != "U":
        return None
    missing = cells == "NA"
    width = cells.dtype.itemsize // 4
    codes = cells.view(np.uint32).reshape(*cells.shape, width).astype(np.int64)
    codes[missing] = 0
    digit = (codes >= ord("0")) & (codes <= ord("9"))
    if not np.all(digit | (codes == 0)):
        return None
    values = np.zeros(cells.shape, dtype=np.int64)
    for position in range(width):  # numpy pads text with trailing NULs, so digits come first
        column = digit[..., position]
        values = np.where(column, values * 10 + (codes[..., position] - ord("0")), values)
    values[~digit[..., 0]] = -1  # empty or NA
    return values


def _integral_float(text: str) -> int | None:
    """``"1.0"`` or ``"1,0"`` -> 1 (spreadsheets export whole numbers that way); anything else -> None."""
    try:
        number = float(text.replace(",", "."))
    except ValueError:
        return None
    if not np.isfinite(number) or number != int(number):
        return None
    return int(number)


def read_responses(
    path: str | os.PathLike[str],
    *,
    n_categories: Mapping[str, int] | None = None,
    allow_unanswered_items: bool = False,
) -> ResponseTable:
    """Read a RESPONSES.csv file.

    Parameters
    ----------
    path : path-like
    n_categories : mapping item id -> K, optional
        When given (e.g. from a parameter file), every category must lie in ``0..K-1``.
    allow_unanswered_items : bool
        By default a column that nobody answered is an error: nothing can be estimated or checked for it.

    Returns
    -------
    ResponseTable

    Raises
    ------
    FormatError
        Not a CSV, empty header cells, duplicate item or person ids, rows of the wrong length, non-numeric or
        negative cells, categories out of range, unanswered columns.
    """
    records = read_csv_rows(path)
    header_row, header = records[0]
    header = [cell.strip() for cell in header]
    has_person = header[0].lower() == PERSON_ID
    offset = 1 if has_person else 0
    item_ids = header[offset:]
    if not item_ids:
        raise FormatError(path, "the header names no item columns", row=header_row)
    seen: dict[str, int] = {}
    for j, item in enumerate(item_ids):
        if not item:
            raise FormatError(
                path, "empty item id in the header", row=header_row, column="", column_index=j + offset
            )
        if item in seen:
            raise FormatError(
                path,
                f"duplicate item id: also in column {column_letter(seen[item] + offset)}",
                row=header_row,
                column=item,
                column_index=j + offset,
            )
        seen[item] = j
    data = records[1:]
    width = len(header)
    for number, cells in data:
        if len(cells) != width:
            raise FormatError(path, f"expected {width} cells as in the header, got {len(cells)}", row=number)
    rows = np.array([number for number, _ in data], dtype=np.int64)
    if has_person:
        person_ids = tuple(cells[0].strip() for _, cells in data)
        first_row: dict[str, int] = {}
        for number, person in zip(rows.tolist(), person_ids, strict=True):
            if not person:
                raise FormatError(path, "empty person id", row=number, column=PERSON_ID, column_index=0)
            if person in first_row:
                raise FormatError(
                    path,
                    f"duplicate person id {person!r}: also in row {first_row[person]}",
                    row=number,
                    column=PERSON_ID,
                    column_index=0,
                )
            first_row[person] = number
    else:
        person_ids = tuple(str(n) for n in range(1, len(data) + 1))
    if data:
        cells_array = np.array([cells[offset:] for _, cells in data], dtype=np.str_)
        responses = _parse_cells(path, cells_array, rows.tolist(), item_ids, offset)
    else:
        responses = np.empty((0, len(item_ids)), dtype=np.int64)
    if n_categories is not None:
        _check_categories(path, responses, item_ids, rows, n_categories, offset)
    if not allow_unanswered_items:
        answered = (responses >= 0).any(axis=0)
        if not answered.all():
            j = int(np.flatnonzero(~answered)[0])
            raise FormatError(
                path,
                "nobody answered this item (every cell is empty)",
                column=item_ids[j],
                column_index=j + offset,
            )
    return ResponseTable(item_ids=tuple(item_ids), responses=responses, person_ids=person_ids, rows=rows)


def _check_categories(
    path: str | os.PathLike[str],
    responses: NDArray[np.int64],
    item_ids: Sequence[str],
    rows: NDArray[np.int64],
    n_categories: Mapping[str, int],
    offset: int,
) -> None:
    unknown = [item for item in item_ids if item not in n_categories]
    if unknown:
        j = list(item_ids).index(unknown[0])
        raise FormatError(path, "no parameters for this item", column=unknown[0], column_index=j + offset)
    limits = np.array([n_categories[item] for item in item_ids], dtype=np.int64)
    too_high = responses >= limits[None, :]
    if too_high.any():
        i, j = np.argwhere(too_high)[0]
        raise FormatError(
            path,
            f"category {int(responses[i, j])} is out of range: the item has "
            f"{int(limits[j])} categories (0..{int(limits[j]) - 1})",
            row=int(rows[i]),
            column=item_ids[j],
            column_index=j + offset,
        )


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` all at once: a temporary file in the same directory, then a rename.

    On any failure the temporary file is removed and ``path`` is left as it was (absent or old).
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed explicitly before the rename
        "w",
        encoding="utf-8",
        newline="",
        dir=directory,
        prefix=f".{target.name}.",
        suffix=".tmp",
        delete=False,
    )
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, target)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise


def csv_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A header and rows of cells as comma-separated text (RFC 4180 quoting, ``\\n`` line ends)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def write_responses(
    path: str | os.PathLike[str], table: ResponseTable, *, with_person_ids: bool = True
) -> None:
    """Write a RESPONSES.csv file (empty cells for -1), atomically."""
    header = ([PERSON_ID] if with_person_ids else []) + list(table.item_ids)
    x = np.asarray(table.responses)
    # Categories are small integers: one lookup table turns the whole matrix into cell text.
    labels = np.array(["", *(str(k) for k in range(int(x.max(initial=0)) + 1))])
    text = labels[np.maximum(x, -1) + 1]
    rows = [
        ([person] if with_person_ids else []) + cells
        for person, cells in zip(table.person_ids, text.tolist(), strict=True)
    ]
    atomic_write_text(path, csv_text(header, rows))


def write_scores(
    path: str | os.PathLike[str],
    person_ids: Sequence[str],
    theta: NDArray[np.float64],
    se: NDArray[np.float64],
) -> None:
    """Write SCORES.csv (``person_id, theta, se``; an undefined estimate is an empty cell), atomically."""
    if not len(person_ids) == len(theta) == len(se):
        raise ValueError(f"lengths differ: {len(person_ids)} persons, {len(theta)} thetas, {len(se)} SEs")

    def cell(value: float) -> str:
        return f"{value:.6f}" if np.isfinite(value) else ""

    rows = [
        [person, cell(t), cell(s)]
        for person, t, s in zip(person_ids, theta.tolist(), se.tolist(), strict=True)
    ]
    atomic_write_text(path, csv_text([PERSON_ID, "theta", "se"], rows))
