"""Spreadsheet CSV: a row per item and language, keys people read, problems placed by line and column."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from item_bank.formats.errors import ImportFailed
from item_bank.formats.items_csv import ITEM_COLUMNS, dumps_items_csv, dumps_stimuli_csv, loads_items_csv
from item_bank.items import LANGUAGES, ItemSpec, LanguageVersion
from tests.item_bank.test_formats_items_json import sample_bank, sample_stimuli


def rows(text: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), delimiter=delimiter))


def write_rows(table: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(table)
    return buffer.getvalue()


def problems_of(call):
    with pytest.raises(ImportFailed) as caught:
        call()
    return caught.value.problems


def bank_files() -> tuple[str, str]:
    return dumps_items_csv(sample_bank()), dumps_stimuli_csv(sample_stimuli())


def edited(change) -> str:
    """The sample items file after ``change(table)`` edits its rows (header is table[0])."""
    table = rows(dumps_items_csv(sample_bank()))
    change(table)
    return write_rows(table)


def cell(table: list[list[str]], code: str, language: str, column: str) -> tuple[int, int]:
    """Row and column index of a cell, located by code and language."""
    header = table[0]
    row = next(i for i, r in enumerate(table) if r[:2] == [code, language])
    return row, header.index(column)


def set_cell(table, code, language, column, value) -> int:
    row, col = cell(table, code, language, column)
    table[row][col] = value
    return row + 1  # the spreadsheet line


def load_items(text: str, **kwargs):
    return loads_items_csv(text, "items.csv", stimuli_text=dumps_stimuli_csv(sample_stimuli()), **kwargs)


# Round trip and layout --------------------------------------------------------------------------------


def test_every_format_round_trips_with_languages_stimuli_tags_and_enemies():
    items_text, stimuli_text = bank_files()
    items, stimuli = loads_items_csv(items_text.encode("utf-8"), stimuli_text=stimuli_text.encode("utf-8"))
    assert items == sample_bank()
    assert stimuli == sample_stimuli()


def test_one_row_per_item_and_language_in_the_documented_columns():
    table = rows(dumps_items_csv(sample_bank()))
    assert tuple(table[0]) == ITEM_COLUMNS
    assert [r[:2] for r in table[1:4]] == [["K-001", "kk"], ["K-001", "ru"], ["K-001", "en"]]
    assert len(table) - 1 == sum(len(item.versions) for item in sample_bank())
    row = table[2]
    assert row[ITEM_COLUMNS.index("tags")] == "2024|civil-code"
    assert row[ITEM_COLUMNS.index("state")] == "reviewed"


def test_files_start_with_a_byte_order_mark_for_excel():
    items_text, stimuli_text = bank_files()
    assert items_text.startswith("\ufeffcode,") and stimuli_text.startswith("\ufeffcode,")


@pytest.mark.parametrize(
    ("code", "written"),
    [("K-001", "C"), ("S-001", "1 4 2 3"), ("S-003", "most=B least=D"), ("S-004", "2 1 4 3")],
)
def test_keys_are_written_in_a_form_people_read(code, written):
    table = rows(dumps_items_csv(sample_bank()))
    row = next(r for r in table if r[0] == code)
    assert row[ITEM_COLUMNS.index("key")] == written


def test_keys_are_read_in_their_human_form_whatever_the_case_and_separators():
    def change(table):
        for language in ("kk", "ru"):
            set_cell(table, "S-003", language, "key", "least=d, most=b")
        for language in LANGUAGES:
            set_cell(table, "S-001", language, "key", "1,4, 2 3")
            set_cell(table, "K-001", language, "key", " c ")

    assert load_items(edited(change))[0] == sample_bank()


def test_semicolon_files_round_trip_as_russian_excel_saves_them():
    text = dumps_items_csv(sample_bank(), delimiter=";")
    assert rows(text, ";")[0] == list(ITEM_COLUMNS)
    assert (
        loads_items_csv(text, stimuli_text=dumps_stimuli_csv(sample_stimuli(), delimiter=";"))[0]
        == sample_bank()
    )


def test_columns_in_any_order_and_case_without_optional_ones_are_read():
    table = rows(dumps_items_csv(sample_bank()))
    order = list(reversed(ITEM_COLUMNS))
    shuffled = [[r[ITEM_COLUMNS.index(c)] for c in order] for r in table]
    shuffled[0] = [c.upper() for c in order]
    items, _ = load_items(write_rows(shuffled))
    assert items == sample_bank()
    minimal = ["code", "language", "format", "domain", "competence", "stem"] + [
        f"option_{i}" for i in range(1, 5)
    ]
    minimal.append("key")
    table = [minimal, ["K-9", "ru", "single_best", "civil", "", "Вопрос?", "а", "б", "в", "г", "B"]]
    (item,), _ = loads_items_csv(write_rows(table))
    assert item.status == "draft" and item.key == {"correct": 1} and item.versions["ru"].state == "draft"


def test_formula_like_cells_are_defused_and_read_back():
    item = ItemSpec(
        code="K-9",
        format="single_best",
        versions={"ru": LanguageVersion('=HYPERLINK("http://x")', ("+1", "-1", "@A1", "'quoted"))},
        key={"correct": 0},
        domain="civil",
    )
    text = dumps_items_csv([item])
    row = rows(text)[1]
    assert row[ITEM_COLUMNS.index("stem")] == '\'=HYPERLINK("http://x")'
    assert row[ITEM_COLUMNS.index("option_1") : ITEM_COLUMNS.index("option_5")] == [
        "'+1",
        "'-1",
        "'@A1",
        "''quoted",
    ]
    assert loads_items_csv(text)[0] == [item]


def test_a_tag_holding_the_separator_cannot_be_written():
    item = sample_bank()[1]
    with pytest.raises(ValueError, match=r"K-002.*'a\|b'"):
        dumps_items_csv([ItemSpec(**{**item.__dict__, "tags": ("a|b",)})])


def test_blank_rows_are_skipped():
    text = edited(lambda t: t.insert(3, [""] * len(ITEM_COLUMNS)) or t.append([]))
    assert load_items(text)[0] == sample_bank()


# Problems ------------------------------------------------------------------------------------------


def test_problems_name_file_line_item_and_column():
    line = 0

    def change(table):
        nonlocal line
        line = set_cell(table, "K-002", "en", "option_2", "  ")

    (problem,) = problems_of(lambda: load_items(edited(change)))
    assert (problem.file, problem.line, problem.item, problem.field) == (
        "items.csv",
        line,
        "K-002",
        "option_2",
    )
    assert str(problem).startswith(f"items.csv:{line}: item K-002: field option_2: ")


def test_line_numbers_count_rows_as_the_spreadsheet_does_even_after_multi_line_cells():
    table = rows(dumps_items_csv(sample_bank()))
    assert "\n" in table[4][ITEM_COLUMNS.index("stem")]  # K-002 ru has a two-line stem
    line = set_cell(table, "S-001", "kk", "key", "1 4 2 9")
    problems = problems_of(lambda: load_items(write_rows(table)))
    assert line == 7  # header, K-001 x3, K-002 x2: S-001 kk is the spreadsheet's row 7
    assert {(p.line, p.field) for p in problems} == {(7, "key"), (8, "key"), (9, "key")}
    assert "must be 4 expert ratings" in next(p.message for p in problems if p.line == 7)
    assert "differs from '1 4 2 9' on line 7" in next(p.message for p in problems if p.line == 8)


def test_item_level_columns_must_agree_across_language_rows():
    lines = {}

    def change(table):
        lines["first"] = cell(table, "K-001", "kk", "domain")[0] + 1
        lines["ru"] = set_cell(table, "K-001", "ru", "domain", "criminal")

    (problem,) = problems_of(lambda: load_items(edited(change)))
    assert (problem.line, problem.item, problem.field) == (lines["ru"], "K-001", "domain")
    assert "'criminal'" in problem.message and f"line {lines['first']}" in problem.message


def test_every_problem_is_reported_and_nothing_is_returned():
    def change(table):
        set_cell(table, "K-001", "kk", "key", "G")
        set_cell(table, "K-002", "ru", "status", "published")
        set_cell(table, "S-001", "ru", "language", "de")
        set_cell(table, "S-003", "kk", "option_3", "")
        set_cell(table, "S-004", "en", "scoring", "rule")

    problems = problems_of(lambda: load_items(edited(change)))
    found = {(p.item, p.field) for p in problems}
    assert {("K-001", "key"), ("K-002", "status"), ("S-001", "language"), ("S-003", "option_3")} <= found
    assert ("S-004", "scoring") in found
    assert all(p.line is not None and p.file == "items.csv" for p in problems)


def test_a_language_given_twice_for_an_item_is_refused():
    text = edited(lambda t: t.append(list(t[2])))
    (problem,) = problems_of(lambda: load_items(text))
    assert (problem.item, problem.field, problem.line) == ("K-001", "language", 16)
    assert "line 3" in problem.message


def test_header_problems_are_reported_on_line_one():
    def change(table):
        table[0][table[0].index("stem")] = "stme"

    problems = problems_of(lambda: loads_items_csv(edited(change), "items.csv"))
    assert {(p.line, p.field) for p in problems} == {(1, "stme"), (1, "stem")}


def test_a_cell_beyond_the_header_is_refused_but_empty_trailing_columns_are_not():
    text = edited(lambda t: t[3].append("stray"))
    (problem,) = problems_of(lambda: load_items(text))
    assert problem.line == 4 and "'stray'" in problem.message
    padded = edited(lambda t: [row.extend(["", " "]) for row in t])
    assert load_items(padded)[0] == sample_bank()


def test_a_file_that_is_not_utf8_is_refused_with_the_line():
    data = dumps_items_csv(sample_bank()).encode("utf-8")
    data = data.replace("Каков".encode(), "Каков".encode("cp1251"))
    (problem,) = problems_of(
        lambda: loads_items_csv(data, "items.csv", stimuli_text=dumps_stimuli_csv(sample_stimuli()))
    )
    assert problem.line == 3 and "UTF-8" in problem.message


def test_empty_file_is_refused():
    (problem,) = problems_of(lambda: loads_items_csv("\ufeff\r\n", "items.csv"))
    assert "empty" in problem.message


def test_stimuli_must_be_in_the_stimuli_file_or_the_bank():
    items_text, _ = bank_files()
    problems = problems_of(lambda: loads_items_csv(items_text, "items.csv"))
    assert {(p.item, p.field) for p in problems} == {("K-001", "stimulus"), ("S-001", "stimulus")}
    items, stimuli = loads_items_csv(items_text, known_stimuli={"CASE-1"})
    assert items == sample_bank() and stimuli == []


def test_enemies_must_be_in_the_file_or_the_bank():
    text = dumps_items_csv(sample_bank()[:1])
    problems = problems_of(lambda: loads_items_csv(text, "items.csv", known_stimuli={"CASE-1"}))
    assert [(p.item, p.field, p.line) for p in problems] == [("K-001", "enemies", 2)]
    assert loads_items_csv(text, known_codes={"K-002"}, known_stimuli={"CASE-1"})[0] == sample_bank()[:1]


def test_problems_of_both_files_come_in_one_report():
    items_text, stimuli_text = bank_files()
    stimuli_table = rows(stimuli_text)
    stimuli_table[1][1] = "de"
    stimuli_table.append(list(stimuli_table[2]))
    items_table = rows(items_text)
    items_table[1][ITEM_COLUMNS.index("format")] = "essay"
    problems = problems_of(
        lambda: loads_items_csv(write_rows(items_table), "items.csv", stimuli_text=write_rows(stimuli_table))
    )
    assert {(p.file, p.line, p.field) for p in problems} >= {
        ("stimuli.csv", 2, "language"),
        ("stimuli.csv", 5, "language"),
        ("items.csv", 2, "format"),
    }


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 14), st.sampled_from(ITEM_COLUMNS), st.text(max_size=12))
def test_any_edited_cell_gives_import_failed_and_never_a_crash(row, column, value):
    def change(table):
        table[row][ITEM_COLUMNS.index(column)] = value

    try:
        load_items(edited(change))
    except ImportFailed as failure:
        problems = failure.problems
    else:
        return
    assert problems and all(p.line is not None or p.file == "stimuli.csv" for p in problems)
