"""RESPONSES.csv, PARAMS.csv, SCORES.csv and FIT.csv readers and writers, and their error messages."""

import os

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from item_bank.formats import responses_csv
from item_bank.formats.params_csv import read_params, write_fit, write_params
from item_bank.formats.responses_csv import (
    FormatError,
    ResponseTable,
    column_letter,
    read_responses,
    write_responses,
    write_scores,
)
from item_bank.irt.calibration import ItemStandardErrors
from item_bank.irt.fit import RaschFit, SX2Result
from item_bank.irt.models import ItemParameters, random_item_parameters


def _write(tmp_path, text, name="responses.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    return path


def test_responses_round_trip_with_person_ids_and_missing_cells(tmp_path):
    x = np.array([[1, 0, -1], [0, 2, 1], [-1, -1, 0]])
    table = ResponseTable(("q1", "q2", "q3"), x, ("p1", "p2", "p3"), np.array([2, 3, 4]))
    write_responses(tmp_path / "r.csv", table)
    assert (tmp_path / "r.csv").read_text() == "person_id,q1,q2,q3\np1,1,0,\np2,0,2,1\np3,,,0\n"
    back = read_responses(tmp_path / "r.csv")
    assert back.item_ids == ("q1", "q2", "q3") and back.person_ids == ("p1", "p2", "p3")
    assert_array_equal(back.responses, x)
    assert back.rows.tolist() == [2, 3, 4]


def test_spreadsheet_exports_are_accepted(tmp_path):
    # Excel's UTF-8 byte-order mark, R's NA, "1.0" for whole numbers, spaces, a blank line; no person_id.
    path = _write(tmp_path, "q1,q2\r\n1.0, 0\r\n\r\nNA,1\r\n", encoding="utf-8-sig")
    table = read_responses(path)
    assert table.person_ids == ("1", "2")
    assert_array_equal(table.responses, [[1, 0], [-1, 1]])
    assert table.rows.tolist() == [2, 4]  # spreadsheet rows: the blank line still counts


def test_semicolon_and_tab_separated_files_from_localised_excel_are_read(tmp_path):
    table = read_responses(_write(tmp_path, "person_id;q1;q2\np1;1;\np2;0;1\n"))
    assert_array_equal(table.responses, [[1, -1], [0, 1]])
    assert read_responses(_write(tmp_path, "q1\tq2\n1\t0\n", "t.csv")).item_ids == ("q1", "q2")
    params = read_params(_write(tmp_path, "item_id;model;a;b;c\nq1;3pl;1,25;-0,5;0,2\n", "p.csv")).params
    assert (params.a[0], params.b[0, 0], params.c[0]) == (1.25, -0.5, 0.2)  # decimal commas


def test_a_row_of_empty_cells_is_a_person_but_trailing_ones_are_residue(tmp_path):
    # Without person ids persons are numbered by position: dropping the empty middle row would shift them.
    table = read_responses(_write(tmp_path, "q1,q2\n1,0\n,\n0,1\n,\n,\n"))
    assert table.person_ids == ("1", "2", "3")
    assert_array_equal(table.responses, [[1, 0], [-1, -1], [0, 1]])


@pytest.mark.parametrize(
    ("text", "row", "column", "message"),
    [
        ("person_id,q1,q2\np1,1,0\np2,x,1\n", 3, "q1", "'x' is not a category number"),
        ("q1,q2\n1,0\n0,0.5\n", 3, "q2", "'0.5' is not a category number"),
        ("q1,q2\n1,-1\n", 2, "q2", "category -1 is negative"),
        ("q1,q2,q1\n1,0,1\n", 1, "q1", "duplicate item id: also in column A"),
        ("q1,q2\n1,0,1\n", 2, None, "expected 2 cells as in the header, got 3"),
        ("q1,q2\n1,\n0,\n", None, "q2", "nobody answered this item"),
        ("person_id,q1\np1,1\np1,0\n", 3, "person_id", "duplicate person id 'p1': also in row 2"),
        ("", None, None, "the file is empty"),
    ],
)
def test_bad_response_files_name_the_row_and_column(tmp_path, text, row, column, message):
    path = _write(tmp_path, text)
    with pytest.raises(FormatError, match=message) as caught:
        read_responses(path)
    assert caught.value.row == row
    assert caught.value.column == column
    assert str(path) in str(caught.value)
    if row is not None:
        assert f"row {row}" in str(caught.value)
    if column is not None:
        assert f"column {column!r}" in str(caught.value)


def test_error_message_gives_the_spreadsheet_column_letter(tmp_path):
    path = _write(tmp_path, "person_id,q1,q2\np1,1,zero\n")
    with pytest.raises(FormatError) as caught:
        read_responses(path)
    assert str(caught.value) == (
        f"{path}, row 2, column 'q2' (C): 'zero' is not a category number (use 0, 1, 2, ...; "
        "leave the cell empty for 'not presented')"
    )
    assert [column_letter(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]


def test_binary_and_non_utf8_files_are_not_csv(tmp_path):
    (tmp_path / "b.csv").write_bytes(b"PK\x03\x04\x00\x00binary")
    with pytest.raises(FormatError, match="not a CSV file: it contains NUL bytes"):
        read_responses(tmp_path / "b.csv")
    (tmp_path / "l.csv").write_bytes("q1\n\xe9\n".encode("latin-1"))
    with pytest.raises(FormatError, match="not a CSV file: byte 3 is not UTF-8"):
        read_responses(tmp_path / "l.csv")
    with pytest.raises(FormatError, match="cannot read the file"):
        read_responses(tmp_path / "missing.csv")


def test_categories_are_checked_against_the_parameters(tmp_path):
    path = _write(tmp_path, "q1,q2\n1,3\n0,2\n")
    with pytest.raises(
        FormatError, match=r"category 3 is out of range: the item has 3 categories \(0..2\)"
    ) as e:
        read_responses(path, n_categories={"q1": 2, "q2": 3})
    assert (e.value.row, e.value.column) == (2, "q2")
    with pytest.raises(FormatError, match="no parameters for this item"):
        read_responses(path, n_categories={"q1": 2})
    assert read_responses(path, n_categories={"q1": 2, "q2": 4}).responses.max() == 3


def test_large_files_are_read_in_vectorised_form(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.integers(-1, 2, size=(3000, 50))
    x[0] = 1  # every column answered
    ids = tuple(f"i{j}" for j in range(50))
    write_responses(
        tmp_path / "big.csv", ResponseTable(ids, x, tuple(map(str, range(3000))), np.arange(3000))
    )
    assert_array_equal(read_responses(tmp_path / "big.csv").responses, x)


@pytest.fixture
def mixed_params():
    return ItemParameters.from_arrays(
        ["r1", "d1", "g1", "s1", "s2", "p1"],
        ["rasch", "2pl", "3pl", "grm", "gpcm", "pcm"],
        [1.0, 1.37, 0.81, 1.2, 0.6, 1.0],
        [
            [-0.4, np.nan, np.nan],
            [0.25, np.nan, np.nan],
            [1.1, np.nan, np.nan],
            [-1.0, 0.1, 1.3],
            [0.5, -0.2, np.nan],
            [0.3, 0.9, np.nan],
        ],
        [0, 0, 0.18, 0, 0, 0],
    )


def test_params_round_trip_with_standard_errors(tmp_path, mixed_params):
    rng = np.random.default_rng(4)
    se = ItemStandardErrors(
        mixed_params.item_ids,
        mixed_params.model,
        rng.uniform(0.05, 0.2, 6),
        np.where(np.isfinite(mixed_params.b), 0.07, np.nan),
        np.array([np.nan] * 2 + [0.03] + [np.nan] * 3),
    )
    write_params(tmp_path / "p.csv", mixed_params, se)
    lines = (tmp_path / "p.csv").read_text().splitlines()
    assert lines[0] == "item_id,model,a,b,c,b1,b2,b3,se_a,se_b,se_c,se_b1,se_b2,se_b3"
    assert lines[4].startswith("s1,grm,1.2,,,-1,0.1,1.3,")
    back = read_params(tmp_path / "p.csv")
    assert back.params.item_ids == mixed_params.item_ids and back.params.model == mixed_params.model
    # Ten significant digits in the file: values come back to within 1e-10 relative.
    assert_allclose(back.params.a, mixed_params.a, rtol=1e-10)
    assert_allclose(back.params.b, mixed_params.b, rtol=1e-10)
    assert_allclose(back.params.c, mixed_params.c, rtol=1e-10)
    assert back.se is not None
    assert_allclose(back.se.a, se.a, rtol=1e-9)
    assert_allclose(back.se.b, se.b, rtol=1e-9)
    assert_allclose(back.se.c, se.c, rtol=1e-9)
    write_params(tmp_path / "q.csv", mixed_params)
    assert read_params(tmp_path / "q.csv").se is None


def test_params_of_dichotomous_banks_have_no_threshold_columns(tmp_path):
    params = random_item_parameters(3, "3pl", np.random.default_rng(5))
    write_params(tmp_path / "p.csv", params)
    assert (tmp_path / "p.csv").read_text().splitlines()[0] == "item_id,model,a,b,c"


@pytest.mark.parametrize(
    ("text", "row", "column", "message"),
    [
        ("item_id,model,a,b,c\nq1,2pl,x,0.1,\n", 2, "a", "'x' is not a number"),
        ("item_id,model,a,b,c\nq1,4pl,1,0.1,\n", 2, "model", "unknown model '4pl'"),
        ("item_id,model,a,b,c\nq1,3pl,1,0.1,1.2\n", 2, "c", r"c must lie in \[0, 1\), got 1.2"),
        ("item_id,model,a,b,c\nq1,2pl,1,0.1,0.2\n", 2, "c", "c must be empty or 0 for a 2pl item"),
        ("item_id,model,a,b,c\nq1,2pl,1,,\n", 2, "b", "a value is required here"),
        ("item_id,model,a,b,c,b1,b2\nq1,grm,1,,,0.5,0.2\n", 2, "b1", "grm thresholds must increase"),
        ("item_id,model,a,b,c,b1,b2,b3\nq1,gpcm,1,,,0.5,,0.2\n", 2, "b3", "gap in the thresholds"),
        ("item_id,model,a,b,c,b1\nq1,gpcm,1,0.3,,0.5\n", 2, "b", "leave b empty for a gpcm item"),
        (
            "item_id,model,a,b\nq1,2pl,1,0\nq1,2pl,1,0\n",
            3,
            "item_id",
            "duplicate item id 'q1': also in row 2",
        ),
        ("item_id,a,b\nq1,1,0\n", 1, None, r"missing required column\(s\) \['model'\]"),
        ("item_id,model,a,b\nq1,2pl,inf,0\n", 2, "a", "not a finite number"),
    ],
)
def test_bad_parameter_files_name_the_row_and_column(tmp_path, text, row, column, message):
    path = _write(tmp_path, text, "params.csv")
    with pytest.raises(FormatError, match=message) as caught:
        read_params(path)
    assert (caught.value.row, caught.value.column) == (row, column)


def test_unknown_parameter_columns_are_ignored(tmp_path):
    path = _write(tmp_path, "item_id,model,a,b,content\nq1,2pl,1.5,0.2,civil law\n", "params.csv")
    assert read_params(path).params.a.tolist() == [1.5]


def test_scores_and_fit_files(tmp_path):
    write_scores(tmp_path / "s.csv", ["p1", "p2"], np.array([0.1234567, np.nan]), np.array([0.3, np.nan]))
    assert (tmp_path / "s.csv").read_text() == "person_id,theta,se\np1,0.123457,0.300000\np2,,\n"
    sx2 = SX2Result(
        ("q1", "q2"), np.array([3.5, np.nan]), np.array([4, 0]), np.array([0.48, np.nan]), 100, (), ()
    )
    rasch = RaschFit(
        ("q1", "q2"),
        np.array([1.02, 0.9]),
        np.array([1.1, 0.85]),
        np.array([0.3, -1.2]),
        np.array([0.9, -1.5]),
    )
    write_fit(tmp_path / "f.csv", sx2, rasch)
    assert (tmp_path / "f.csv").read_text().splitlines() == [
        "item_id,S_X2,df,p,infit,outfit,infit_t,outfit_t",
        "q1,3.5,4,0.48,1.02,1.1,0.3,0.9",
        "q2,,0,,0.9,0.85,-1.2,-1.5",
    ]


def test_a_failed_write_leaves_neither_the_target_nor_a_temporary_file(tmp_path, monkeypatch):
    def refuse(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(responses_csv.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_scores(tmp_path / "s.csv", ["p1"], np.array([0.0]), np.array([1.0]))
    assert os.listdir(tmp_path) == []
