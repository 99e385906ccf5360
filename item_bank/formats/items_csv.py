"""Items as spreadsheet CSV: one row per item *per language*, and stimuli in a second file.

Items file (``items.csv``), columns in this order::

    code, language, format, status, domain, topic, competence, tags, enemies, stimulus,
    state, stem, option_1, option_2, option_3, option_4, option_5, option_6, key, scoring

- ``language`` (kk, ru or en), ``state`` (the translation state), ``stem`` and ``option_1..option_6``
  belong to the row's language version; options fill ``option_1`` onwards without gaps, in the same order
  in every language.
- Every other column describes the whole item and must read the same on all rows of one item (an error
  names both lines otherwise). ``tags`` and ``enemies`` are separated by ``|``.
- ``key`` is written for people: ``single_best`` the letter of the correct option (``C``; A is option_1);
  ``sjt_rate`` the expert rating 1-4 of each option in order (``1 4 2 3``); ``sjt_most_least``
  ``most=B least=D``; ``sjt_rank`` the expert rank of each option in order (``2 1 4 3``: option_1 is
  ranked second).
- ``scoring`` holds the scoring options as ``name=value`` separated by ``|`` (``rule=exact``), empty for
  the format's default rule; values are read back as text.
- Empty ``status`` and ``state`` mean ``draft``; empty ``domain``, ``topic``, ``competence`` and
  ``stimulus`` mean none.

Stimuli (shared case texts) are long and belong to several items, so they do not fit an item row: they go
in a second file (``stimuli.csv``) with columns ``code, language, title, text``, one row per stimulus per
language, and items name them in their ``stimulus`` column. An empty ``title`` means no title. Excel keeps
at most 32,767 characters in a cell and cuts longer case texts; keep banks with such texts in JSON.

Reading is forgiving about what spreadsheets do: a UTF-8 byte-order mark, ``;`` or tab instead of ``,``
(Excel in a Russian or Kazakh locale saves with ``;``), column names in any case and order, optional
columns left out (``code``, ``language``, ``format``, ``stem``, ``option_1`` and ``key`` are required),
blank rows. It is strict about content: every problem is reported with the file, the line as the
spreadsheet counts it (header = line 1; a cell with line breaks still counts as one line) and the column,
and nothing is returned unless the whole file is sound.

Cells that start with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be run as formulas by
spreadsheet programs (CSV injection), so the writer puts an apostrophe in front of them, as OWASP advises,
and in front of cells that start with an apostrophe; the reader removes it again. Such cells show the
apostrophe in the spreadsheet.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from item_bank.formats.errors import (
    ImportFailed,
    ImportProblem,
    Locate,
    decode_text,
    reference_problems,
    stimulus_problems,
    validation_problems,
)
from item_bank.items import FORMATS, LANGUAGES, ItemSpec, LanguageVersion, Stimulus, format_key, parse_key

__all__ = [
    "ITEM_COLUMNS",
    "STIMULUS_COLUMNS",
    "dumps_items_csv",
    "dumps_stimuli_csv",
    "loads_items_csv",
]

MAX_OPTIONS: Final = 6
OPTION_COLUMNS: Final = tuple(f"option_{i}" for i in range(1, MAX_OPTIONS + 1))
ITEM_COLUMNS: Final = (
    "code",
    "language",
    "format",
    "status",
    "domain",
    "topic",
    "competence",
    "tags",
    "enemies",
    "stimulus",
    "state",
    "stem",
    *OPTION_COLUMNS,
    "key",
    "scoring",
)
STIMULUS_COLUMNS: Final = ("code", "language", "title", "text")
_REQUIRED_ITEM_COLUMNS: Final = ("code", "language", "format", "stem", "option_1", "key")
_REQUIRED_STIMULUS_COLUMNS: Final = ("code", "language", "text")
# Columns that describe the whole item rather than one language version.
_ITEM_LEVEL: Final = (
    "format",
    "status",
    "domain",
    "topic",
    "competence",
    "tags",
    "enemies",
    "stimulus",
    "key",
    "scoring",
)
_DELIMITERS: Final = (",", ";", "\t")
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r", "'")
_LIST_SEPARATOR: Final = "|"


# Scoring options and lists ---------------------------------------------------------------------------------


def _format_scoring(scoring: Mapping[str, Any]) -> str:
    return _LIST_SEPARATOR.join(f"{name}={scoring[name]}" for name in sorted(scoring))


def _parse_scoring(text: str) -> dict[str, Any]:
    scoring: dict[str, Any] = {}
    for part in _split_list(text):
        name, equals, value = part.partition("=")
        if not equals or not name.strip() or not value.strip():
            raise ValueError(f"must be name=value options separated by '|', like 'rule=exact', got {text!r}")
        scoring[name.strip()] = value.strip()
    return scoring


def _split_list(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(_LIST_SEPARATOR) if part.strip())


# Writing ---------------------------------------------------------------------------------------------------


def _protect(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_STARTS) else cell


def _unprotect(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_STARTS) else cell


def _write(rows: Iterable[Sequence[str]], header: Sequence[str], delimiter: str) -> str:
    if delimiter not in _DELIMITERS:
        raise ValueError(f"delimiter must be one of {list(_DELIMITERS)}, got {delimiter!r}")
    buffer = io.StringIO()
    # Excel reads a CSV file as UTF-8 only when it starts with a byte-order mark; without one it takes the
    # ANSI code page and shows Kazakh and Russian text as mojibake.
    buffer.write("\ufeff")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([_protect(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def _language_order(languages: Iterable[str]) -> list[str]:
    return [lang for lang in LANGUAGES if lang in languages] + sorted(set(languages) - set(LANGUAGES))


def _list_cell(values: Sequence[str], item: ItemSpec, column: str) -> str:
    for value in values:
        if _LIST_SEPARATOR in value:
            raise ValueError(f"item {item.code!r}: {column} value {value!r} contains the separator '|'")
    return _LIST_SEPARATOR.join(values)


def dumps_items_csv(items: Iterable[ItemSpec], *, delimiter: str = ",") -> str:
    """The items file: one row per item per language version, languages in the order kk, ru, en.

    Parameters
    ----------
    items : iterable of ItemSpec
        Valid items (each is validated first).
    delimiter : {",", ";", "\\t"}
        ``;`` suits Excel in Russian and Kazakh locales, which expect it.

    Returns
    -------
    str
        CSV text starting with a byte-order mark; write it as UTF-8.

    Raises
    ------
    ItemValidationError
        If an item is not valid.
    ValueError
        If a tag or enemy contains ``|``, which the layout uses as separator.
    """
    rows: list[list[str]] = []
    for item in items:
        item.validate()
        shared = [
            item.format,
            item.status,
            item.domain or "",
            item.topic or "",
            item.competence or "",
            _list_cell(item.tags, item, "tags"),
            _list_cell(item.enemies, item, "enemies"),
            item.stimulus or "",
        ]
        for lang in _language_order(item.versions):
            version = item.versions[lang]
            options = list(version.options) + [""] * (MAX_OPTIONS - len(version.options))
            rows.append(
                [
                    item.code,
                    lang,
                    *shared,
                    version.state,
                    version.stem,
                    *options,
                    format_key(item.format, item.key),
                    _format_scoring(item.scoring),
                ]
            )
    return _write(rows, ITEM_COLUMNS, delimiter)


def dumps_stimuli_csv(stimuli: Iterable[Stimulus], *, delimiter: str = ",") -> str:
    """The stimuli file: ``code, language, title, text``, one row per stimulus per language."""
    rows = [
        [stimulus.code, lang, stimulus.title.get(lang, ""), stimulus.texts[lang]]
        for stimulus in stimuli
        for lang in _language_order(stimulus.texts)
    ]
    return _write(rows, STIMULUS_COLUMNS, delimiter)


# Reading ---------------------------------------------------------------------------------------------------


@dataclass
class _Row:
    line: int
    cells: dict[str, str]

    def get(self, column: str) -> str:
        return self.cells.get(column, "")


def _sniff_delimiter(text: str, columns: Sequence[str]) -> str:
    first_line = text.split("\n", 1)[0]

    def known(delimiter: str) -> int:
        return sum(cell.strip().lower() in columns for cell in first_line.split(delimiter))

    return max(_DELIMITERS, key=known)


def _read_table(
    data: str | bytes,
    filename: str,
    columns: Sequence[str],
    required: Sequence[str],
    problems: list[ImportProblem],
) -> list[_Row]:
    """Rows of a CSV file as cells by column, skipping blank rows; header problems stop the reading."""
    try:
        text = decode_text(data, filename)
    except ImportFailed as exc:
        problems.extend(exc.problems)
        return []
    if not text.strip():
        problems.append(
            ImportProblem(filename, None, None, f"is empty; line 1 must be the header {list(columns)}")
        )
        return []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text, columns))
    header: list[str] = []
    rows: list[_Row] = []
    line = 0
    try:
        for line, record in enumerate(reader, start=1):
            if line == 1:
                header = [cell.strip().lower() for cell in record]
                if _header_problems(header, filename, columns, required, problems):
                    return []
                continue
            if not any(cell.strip() for cell in record):
                continue
            # Spreadsheets often save empty columns after the last one; only cells with content matter.
            names = header + [""] * (len(record) - len(header))
            extra = [cell for name, cell in zip(names, record, strict=False) if not name and cell.strip()]
            if extra:
                message = f"has cells {extra!r} in columns without a name in the header (line 1)"
                problems.append(ImportProblem(filename, None, None, message, line))
            cells = {name: _unprotect(cell) for name, cell in zip(header, record, strict=False) if name}
            rows.append(_Row(line, cells))
    except csv.Error as exc:
        problems.append(ImportProblem(filename, None, None, f"is not readable CSV: {exc}", line + 1))
        return []
    return rows


def _header_problems(
    header: list[str],
    filename: str,
    columns: Sequence[str],
    required: Sequence[str],
    problems: list[ImportProblem],
) -> bool:
    found: list[ImportProblem] = []
    for position, name in enumerate(header):
        if not name:
            continue  # an unnamed column may be empty; cells under it are checked row by row
        if name not in columns:
            message = f"is not a column of this layout (header cell {position + 1}); expected {list(columns)}"
            found.append(ImportProblem(filename, None, name, message, 1))
        elif header.index(name) != position:
            found.append(ImportProblem(filename, None, name, "appears twice in the header", 1))
    found.extend(
        ImportProblem(filename, None, name, "is a required column but is missing from the header", 1)
        for name in required
        if name not in header
    )
    problems.extend(found)
    return bool(found)


_VERSION_FIELD: Final = re.compile(r"versions\.([^.]+)(?:\.(stem|state|options)(?:\[(\d+)\])?)?$")


def _column_of(field_name: str) -> tuple[str | None, str]:
    """The language (if any) and the CSV column of an :meth:`ItemSpec.validate` field name."""
    match = _VERSION_FIELD.match(field_name)
    if match:
        lang, part, index = match.groups()
        if part == "options":
            column = "option_1..option_6" if index is None else f"option_{int(index) + 1}"
        else:
            column = part or "language"
        return lang, column
    if field_name == "versions":
        return None, "option_1..option_6"
    return None, field_name.split(".", 1)[0]


@dataclass
class _ItemRows:
    code: str
    rows: list[_Row] = field(default_factory=list)
    by_language: dict[str, _Row] = field(default_factory=dict)

    def locate(self, filename: str) -> Locate:
        def locate(field_name: str | None, message: str) -> ImportProblem:
            if field_name is None:
                return ImportProblem(filename, self.code, None, message, self.rows[0].line)
            lang, column = _column_of(field_name)
            row = self.by_language.get(lang, self.rows[0]) if lang is not None else self.rows[0]
            return ImportProblem(filename, self.code, column, message, row.line)

        return locate


def _comparable(column: str, value: str) -> object:
    if column in ("tags", "enemies", "scoring"):
        return _split_list(value)
    if column == "key":
        return tuple(re.findall(r"[A-Z]+|\d+", value.upper()))
    return value.strip()


def _options(row: _Row) -> tuple[str, ...]:
    """Options up to the last filled cell; gaps stay as empty options for validation to name."""
    cells = [row.get(column) for column in OPTION_COLUMNS]
    filled = [i for i, cell in enumerate(cells) if cell.strip()]
    return tuple(cells[: filled[-1] + 1]) if filled else ()


def _build_item(group: _ItemRows, filename: str, problems: list[ImportProblem]) -> tuple[ItemSpec, bool]:
    """The item of a group of rows, and whether its key could be read at all."""
    first = group.rows[0]
    for row in group.rows[1:]:
        for column in _ITEM_LEVEL:
            if _comparable(column, row.get(column)) != _comparable(column, first.get(column)):
                message = (
                    f"{row.get(column)!r} differs from {first.get(column)!r} on line {first.line}; columns "
                    "that describe the whole item must read the same on every language's row"
                )
                problems.append(ImportProblem(filename, group.code, column, message, row.line))
    versions: dict[str, LanguageVersion] = {}
    for row in group.rows:
        lang = row.get("language").strip().lower()
        if not lang:
            message = f"must not be empty; one of {list(LANGUAGES)}"
            problems.append(ImportProblem(filename, group.code, "language", message, row.line))
            continue
        if lang in group.by_language:
            message = f"item already has a {lang!r} row on line {group.by_language[lang].line}"
            problems.append(ImportProblem(filename, group.code, "language", message, row.line))
            continue
        group.by_language[lang] = row
        state = row.get("state").strip() or "draft"
        versions[lang] = LanguageVersion(row.get("stem"), _options(row), state)
    item_format = first.get("format").strip()
    key: dict[str, Any] = {}
    key_read = True
    try:
        key = parse_key(item_format, first.get("key"))
    except ValueError as exc:
        key_read = False
        if item_format in FORMATS:
            problems.append(ImportProblem(filename, group.code, "key", str(exc), first.line))
    scoring: dict[str, Any] = {}
    try:
        scoring = _parse_scoring(first.get("scoring"))
    except ValueError as exc:
        problems.append(ImportProblem(filename, group.code, "scoring", str(exc), first.line))
    item = ItemSpec(
        code=group.code,
        format=item_format,
        versions=versions,
        key=key,
        status=first.get("status").strip() or "draft",
        domain=first.get("domain").strip() or None,
        topic=first.get("topic").strip() or None,
        competence=first.get("competence").strip() or None,
        tags=_split_list(first.get("tags")),
        enemies=_split_list(first.get("enemies")),
        stimulus=first.get("stimulus").strip() or None,
        scoring=scoring,
    )
    return item, key_read


def _read_stimuli(rows: list[_Row], filename: str, problems: list[ImportProblem]) -> list[Stimulus]:
    groups: dict[str, list[_Row]] = {}
    for row in rows:
        code = row.get("code").strip()
        if not code:
            problems.append(ImportProblem(filename, None, "code", "must not be empty", row.line))
        else:
            groups.setdefault(code, []).append(row)
    stimuli: list[Stimulus] = []
    for code, group in groups.items():
        texts: dict[str, str] = {}
        titles: dict[str, str] = {}
        lines: dict[str, int] = {}
        for row in group:
            lang = row.get("language").strip().lower()
            if lang not in LANGUAGES:
                message = f"must be one of {list(LANGUAGES)}, got {lang!r} (stimulus {code!r})"
                problems.append(ImportProblem(filename, None, "language", message, row.line))
                continue
            if lang in lines:
                message = f"stimulus {code!r} already has a {lang!r} row on line {lines[lang]}"
                problems.append(ImportProblem(filename, None, "language", message, row.line))
                continue
            lines[lang] = row.line
            texts[lang] = row.get("text")
            if row.get("title").strip():
                titles[lang] = row.get("title")
        stimulus = Stimulus(code=code, texts=texts, title=titles)
        for field_name, message in stimulus_problems(stimulus):
            line = lines.get(field_name.partition(".")[2], group[0].line)
            problems.append(ImportProblem(filename, None, "text", f"{message} (stimulus {code!r})", line))
        stimuli.append(stimulus)
    return stimuli


def loads_items_csv(
    text: str | bytes,
    filename: str = "items.csv",
    *,
    stimuli_text: str | bytes | None = None,
    stimuli_filename: str = "stimuli.csv",
    known_codes: Collection[str] = (),
    known_stimuli: Collection[str] = (),
) -> tuple[list[ItemSpec], list[Stimulus]]:
    """Items (and stimuli, if their file is given) from the spreadsheet layout, all validated.

    Parameters
    ----------
    text : str or bytes
        The items file; bytes must be UTF-8 (with or without a byte-order mark).
    filename : str
        Name used in problem reports.
    stimuli_text : str or bytes, optional
        The stimuli file, checked together with the items so that one report lists the problems of both.
    stimuli_filename : str
        Name of the stimuli file in problem reports.
    known_codes, known_stimuli : collection of str
        Codes of items and stimuli already in the bank, which enemies and stimulus references may name.

    Returns
    -------
    items : list of ItemSpec
        In the order of their first rows.
    stimuli : list of Stimulus
        In the order of their first rows; empty without ``stimuli_text``.

    Raises
    ------
    ImportFailed
        Listing every problem with file, line, item and column.
    """
    problems: list[ImportProblem] = []
    stimuli: list[Stimulus] = []
    if stimuli_text is not None:
        stimulus_rows = _read_table(
            stimuli_text, stimuli_filename, STIMULUS_COLUMNS, _REQUIRED_STIMULUS_COLUMNS, problems
        )
        stimuli = _read_stimuli(stimulus_rows, stimuli_filename, problems)
    groups: dict[str, _ItemRows] = {}
    for row in _read_table(text, filename, ITEM_COLUMNS, _REQUIRED_ITEM_COLUMNS, problems):
        code = row.get("code").strip()
        if not code:
            problems.append(ImportProblem(filename, None, "code", "must not be empty", row.line))
            continue
        groups.setdefault(code, _ItemRows(code)).rows.append(row)
    items: list[tuple[ItemSpec, Locate]] = []
    for group in groups.values():
        found: list[ImportProblem] = []
        item, key_read = _build_item(group, filename, found)
        locate = group.locate(filename)
        found.extend(
            problem for problem in validation_problems(item, locate) if key_read or problem.field != "key"
        )
        problems.extend(found)
        items.append((item, locate))
    problems.extend(reference_problems(items, {s.code for s in stimuli}, known_codes, known_stimuli))
    if problems:
        raise ImportFailed(problems)
    return [item for item, _ in items], stimuli
