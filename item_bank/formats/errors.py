"""What an item import reports when a file cannot be used, and the checks every item importer shares.

Imports are all-or-nothing: a reader collects every problem it finds in a file (or package) and then raises
:class:`ImportFailed` once, carrying the list, so that a psychometrician can fix everything in one pass and
the bank is never left holding half a file. Each :class:`ImportProblem` names the file (for a QTI package,
the member inside the zip: ``bank.zip/items/K-001.ru.xml``), the item, the field and, for spreadsheets, the
line as the spreadsheet shows it (the header is line 1).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from item_bank.items import LANGUAGES, ItemSpec, ItemValidationError, Stimulus

__all__ = ["ImportFailed", "ImportProblem"]


@dataclass(frozen=True)
class ImportProblem:
    """One problem found while importing items.

    Attributes
    ----------
    file : str
        The file, or ``package.zip/member`` for a member of a package.
    item : str or None
        The item's code (or, before a code is known, its position such as ``items[3]``); None for problems
        that concern the whole file.
    field : str or None
        The field (``key.correct``, ``versions.ru.stem``) or CSV column (``option_3``); None when the problem
        is not in one field.
    message : str
        What is wrong, with the offending value.
    line : int or None
        1-based line: for CSV the spreadsheet row (header = 1), for JSON and XML the line of a syntax error.
    """

    file: str
    item: str | None
    field: str | None
    message: str
    line: int | None = None

    def __str__(self) -> str:
        parts = [self.file if self.line is None else f"{self.file}:{self.line}"]
        if self.item is not None:
            parts.append(f"item {self.item}")
        if self.field is not None:
            parts.append(f"field {self.field}")
        parts.append(self.message)
        return ": ".join(parts)


class ImportFailed(Exception):  # noqa: N818 - names the outcome (nothing was imported), not a fault class
    """An import that changed nothing because of the listed problems; ``str()`` gives one line per problem."""

    def __init__(self, problems: Iterable[ImportProblem]) -> None:
        self.problems: list[ImportProblem] = list(problems)
        if not self.problems:
            raise ValueError("ImportFailed needs at least one problem")
        super().__init__("\n".join(str(problem) for problem in self.problems))

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions pickle their ``args`` (here the joined text), which would not rebuild the list; a job
        # queue that carries the failure back to the web process needs the problems themselves.
        return (type(self), (self.problems,))


Locate = Callable[[str | None, str], ImportProblem]
"""Builds the problem for ``(field, message)`` of one item, filling in file, item and line."""


def decode_text(data: str | bytes, filename: str) -> str:
    """Text of a file given as ``str`` or UTF-8 ``bytes``, without a leading byte-order mark.

    Raises
    ------
    ImportFailed
        If the bytes are not UTF-8, naming the line of the first bad byte.
    """
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1]
        message = (
            f"is not UTF-8 text (byte {byte!r} at offset {exc.start}); save it as UTF-8, "
            "in Excel as 'CSV UTF-8 (comma delimited)'"
        )
        raise ImportFailed([ImportProblem(filename, None, None, message, line)]) from None


def validation_problems(item: ItemSpec, locate: Locate) -> list[ImportProblem]:
    """Every problem :meth:`ItemSpec.validate` finds in ``item``, placed by ``locate``."""
    try:
        item.validate()
    except ItemValidationError as exc:
        return [locate(field_name, message) for field_name, message in exc.problems]
    return []


def reference_problems(
    items: Sequence[tuple[ItemSpec, Locate]],
    stimulus_codes: Collection[str],
    known_codes: Collection[str] = (),
    known_stimuli: Collection[str] = (),
) -> list[ImportProblem]:
    """Enemies and stimuli that point neither into the imported file nor into the bank.

    Parameters
    ----------
    items : sequence of (ItemSpec, Locate)
        The imported items, each with the function that places its problems.
    stimulus_codes : collection of str
        Codes of the stimuli imported together with the items.
    known_codes, known_stimuli : collection of str
        Codes of items and stimuli already in the bank, which references may also name.
    """
    codes = {item.code for item, _ in items}
    problems: list[ImportProblem] = []
    for item, locate in items:
        for enemy in item.enemies:
            if enemy != item.code and enemy not in codes and enemy not in known_codes:
                problems.append(locate("enemies", f"enemy {enemy!r} is neither in this file nor in the bank"))
        stimulus = item.stimulus
        if stimulus is not None and stimulus not in stimulus_codes and stimulus not in known_stimuli:
            message = f"stimulus {stimulus!r} is neither in this file nor in the bank"
            problems.append(locate("stimulus", message))
    return problems


def stimulus_problems(stimulus: Stimulus) -> list[tuple[str, str]]:
    """Problems of one stimulus as ``(field, message)``: a code, a non-empty text per known language."""
    problems: list[tuple[str, str]] = []
    if not stimulus.code.strip():
        problems.append(("code", "must not be empty"))
    if not stimulus.texts:
        problems.append(("texts", "a stimulus needs its text in at least one language"))
    for name, mapping in (("texts", stimulus.texts), ("title", stimulus.title)):
        for lang, text in mapping.items():
            if lang not in LANGUAGES:
                message = f"language must be one of {list(LANGUAGES)}, got {lang!r}"
                problems.append((f"{name}.{lang}", message))
            elif name == "texts" and not text.strip():
                problems.append((f"{name}.{lang}", "must not be empty"))
    return problems
