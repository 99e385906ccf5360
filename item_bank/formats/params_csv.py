"""Item parameter and item fit CSV files: pure readers and writers.

PARAMS.csv
    One row per item: ``item_id, model, a, b, c, b1..bK`` and optionally ``se_a, se_b, se_c, se_b1..se_bK``.
    Dichotomous items (rasch, 1pl, 2pl, 3pl) use ``a, b, c`` (``c`` may be empty = 0 except that it must be 0
    for models without guessing); polytomous items (grm, gpcm, pcm) use ``a`` and their K-1 thresholds (grm,
    strictly increasing) or step difficulties (gpcm, pcm) in ``b1..b{K-1}``, left-aligned, with ``b`` and
    ``c`` empty. Logistic metric (no 1.702). Other columns are ignored, so bank exports may carry e.g. a
    content code.

FIT.csv
    ``item_id, S_X2, df, p`` and, for Rasch-family tests, ``infit, outfit, infit_t, outfit_t``.

Errors are :class:`~item_bank.formats.responses_csv.FormatError` naming the file, row and column; writers are
atomic (see :func:`~item_bank.formats.responses_csv.atomic_write_text`).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from item_bank.formats.responses_csv import (
    FormatError,
    atomic_write_text,
    column_letter,
    csv_text,
    read_csv_rows,
)
from item_bank.irt.calibration import ItemStandardErrors
from item_bank.irt.fit import RaschFit, SX2Result
from item_bank.irt.models import DICHOTOMOUS, MODELS, ItemParameters

__all__ = ["ParameterTable", "read_params", "write_fit", "write_params"]

FloatArray = NDArray[np.float64]
REQUIRED = ("item_id", "model", "a")


@dataclass(frozen=True)
class ParameterTable:
    """Parameters read from a file, with their standard errors when the file has ``se_*`` columns."""

    params: ItemParameters
    se: ItemStandardErrors | None


def _number(text: str) -> float | None:
    """A cell as a number; None for empty or ``NA``; a decimal comma (``1,25``, Russian Excel) is accepted."""
    text = text.strip()
    if text in ("", "NA"):
        return None
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    return float(text)


def read_params(path: str | os.PathLike[str]) -> ParameterTable:
    """Read a PARAMS.csv file (see the module docstring).

    Raises
    ------
    FormatError
        Missing columns, duplicate item ids, unknown models, non-numeric or missing values, c out of [0, 1),
        thresholds with gaps or (grm) not increasing; the message names the row and column.
    """
    records = read_csv_rows(path)
    header_row, header_cells = records[0]
    header = [h.strip().lower() for h in header_cells]
    position: dict[str, int] = {}
    for col, name in enumerate(header):
        if name in position and name:
            raise FormatError(
                path,
                f"duplicate column, also column {column_letter(position[name])}",
                row=header_row,
                column=header_cells[col].strip(),
                column_index=col,
            )
        position[name] = col
    missing = [name for name in REQUIRED if name not in position]
    if missing:
        raise FormatError(
            path, f"missing required column(s) {missing}; the header has {header}", row=header_row
        )
    thresholds: list[str] = []
    while f"b{len(thresholds) + 1}" in position:
        thresholds.append(f"b{len(thresholds) + 1}")
    has_se = any(name.startswith("se_") for name in header)
    ids: list[str] = []
    models: list[str] = []
    a_values: list[float] = []
    b_rows: list[list[float]] = []
    c_values: list[float] = []
    se_rows: list[tuple[float, list[float], float]] = []
    first_row: dict[str, int] = {}

    for number, cells in records[1:]:

        def cell(name: str, cells: list[str] = cells) -> str:
            col = position.get(name)
            return cells[col].strip() if col is not None and col < len(cells) else ""

        def fail(name: str, message: str, number: int = number) -> FormatError:
            col = position.get(name)
            return FormatError(path, message, row=number, column=name, column_index=col)

        def value(name: str, *, required: bool) -> float | None:
            try:
                v = _number(cell(name))
            except ValueError:
                raise fail(name, f"{cell(name)!r} is not a number") from None
            if v is None:
                if required:
                    raise fail(name, "a value is required here")
                return None
            if not np.isfinite(v):
                raise fail(name, f"{cell(name)!r} is not a finite number")
            return v

        if len(cells) != len(header):
            raise FormatError(
                path, f"expected {len(header)} cells as in the header, got {len(cells)}", row=number
            )
        item = cell("item_id")
        if not item:
            raise fail("item_id", "empty item id")
        if item in first_row:
            raise fail("item_id", f"duplicate item id {item!r}: also in row {first_row[item]}")
        first_row[item] = number
        model = cell("model").lower()
        if model not in MODELS:
            raise fail("model", f"unknown model {cell('model')!r}; use one of {', '.join(MODELS)}")
        a = value("a", required=True)
        assert a is not None  # required=True raises instead of returning None
        if model in DICHOTOMOUS:
            b = value("b", required=True)
            assert b is not None  # required=True raises instead of returning None
            c = value("c", required=False) or 0.0
            if model == "3pl" and not 0.0 <= c < 1.0:
                raise fail("c", f"c must lie in [0, 1), got {c!r}")
            if model != "3pl" and c != 0.0:
                raise fail("c", f"c must be empty or 0 for a {model} item, got {c!r}")
            for name in thresholds:
                if cell(name):
                    raise fail(name, f"a {model} item has one difficulty, in column 'b'; leave {name} empty")
            row_b: list[float] = [b]
        else:
            for name in ("b", "c"):
                if cell(name):
                    raise fail(name, f"leave {name} empty for a {model} item: its thresholds go in b1..bK")
            row_b = []
            for name in thresholds:
                v = value(name, required=False)
                if v is None:
                    break
                row_b.append(v)
            for name in thresholds[len(row_b) :]:
                if cell(name):
                    raise fail(name, f"gap in the thresholds: b{len(row_b) + 1} is empty but {name} is not")
            if not row_b:
                raise fail("b1" if thresholds else "model", f"a {model} item needs thresholds in b1, b2, ...")
            if model == "grm" and any(y <= x for x, y in itertools.pairwise(row_b)):
                raise fail(thresholds[0], f"grm thresholds must increase, got {row_b}")
            c = 0.0
        ids.append(item)
        models.append(model)
        a_values.append(a)
        b_rows.append([float(v) for v in row_b if v is not None])
        c_values.append(c)
        if has_se:
            se_rows.append(
                (
                    _nan(value("se_a", required=False)),
                    [
                        _nan(value(f"se_{name}", required=False))
                        for name in (["b"] if model in DICHOTOMOUS else thresholds[: len(row_b)])
                    ],
                    _nan(value("se_c", required=False)),
                )
            )
    if not ids:
        raise FormatError(path, "no item rows after the header")
    width = max(len(row) for row in b_rows)
    b_matrix = np.full((len(ids), width), np.nan)
    for j, row in enumerate(b_rows):
        b_matrix[j, : len(row)] = row
    try:
        params = ItemParameters(tuple(ids), tuple(models), np.array(a_values), b_matrix, np.array(c_values))
    except ValueError as exc:
        raise FormatError(path, str(exc)) from exc
    se = None
    if has_se:
        se_b = np.full((len(ids), width), np.nan)
        for j, (_, row, _) in enumerate(se_rows):
            se_b[j, : len(row)] = row
        se = ItemStandardErrors(
            params.item_ids,
            params.model,
            np.array([r[0] for r in se_rows]),
            se_b,
            np.array([r[2] for r in se_rows]),
        )
    return ParameterTable(params=params, se=se)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def _fmt(value: float) -> str:
    return format(float(value), ".10g") if np.isfinite(value) else ""


def write_params(
    path: str | os.PathLike[str], params: ItemParameters, se: ItemStandardErrors | None = None
) -> None:
    """Write PARAMS.csv (``se_*`` columns when ``se`` is given), atomically."""
    poly = [j for j, m in enumerate(params.model) if m not in DICHOTOMOUS]
    width = max((int(params.n_categories[j]) - 1 for j in poly), default=0)
    thresholds = [f"b{k}" for k in range(1, width + 1)]
    header = ["item_id", "model", "a", "b", "c", *thresholds]
    if se is not None:
        if se.item_ids != params.item_ids:
            raise ValueError("se must describe the same items, in the same order, as params")
        header += ["se_a", "se_b", "se_c", *(f"se_{t}" for t in thresholds)]
    rows = []
    for j, item in enumerate(params.item_ids):
        k = int(params.n_categories[j]) - 1
        dich = params.model[j] in DICHOTOMOUS

        def block(a: float, b: FloatArray, c: float, k: int = k, dich: bool = dich) -> list[str]:
            steps = [] if dich else [_fmt(v) for v in b[:k]]
            return [
                _fmt(a),
                _fmt(b[0]) if dich else "",
                _fmt(c) if dich else "",
                *steps,
                *([""] * (width - len(steps))),
            ]

        row = [item, params.model[j], *block(params.a[j], params.b[j], params.c[j])]
        if se is not None:
            row += block(se.a[j], se.b[j], se.c[j])
        rows.append(row)
    atomic_write_text(path, csv_text(header, rows))


def write_fit(path: str | os.PathLike[str], sx2: SX2Result, rasch: RaschFit | None = None) -> None:
    """Write FIT.csv: ``item_id, S_X2, df, p`` (+ ``infit, outfit, infit_t, outfit_t``), atomically."""
    header = ["item_id", "S_X2", "df", "p"]
    if rasch is not None:
        if rasch.item_ids != sx2.item_ids:
            raise ValueError("rasch and sx2 must describe the same items in the same order")
        header += ["infit", "outfit", "infit_t", "outfit_t"]
    rows: list[Sequence[str]] = []
    for j, item in enumerate(sx2.item_ids):
        row = [item, _fmt(sx2.statistic[j]), str(int(sx2.df[j])), _fmt(sx2.p[j])]
        if rasch is not None:
            row += [_fmt(v[j]) for v in (rasch.infit, rasch.outfit, rasch.infit_t, rasch.outfit_t)]
        rows.append(row)
    atomic_write_text(path, csv_text(header, rows))
