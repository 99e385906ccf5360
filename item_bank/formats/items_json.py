"""Tandau's native item file: JSON that carries every field of :class:`ItemSpec` and :class:`Stimulus`.

This is the lossless format (backups, moving a bank between Tandau installations); CSV and QTI each drop
something. A document looks like this (keys always in this order; language versions in the order kk, ru, en)::

    {
      "format": "tandau-items",
      "version": 1,
      "stimuli": [
        {"code": "S-1", "texts": {"kk": "...", "ru": "..."}, "title": {"ru": "..."}}
      ],
      "items": [
        {
          "code": "K-001", "format": "single_best", "status": "operational",
          "domain": "civil", "topic": "contracts", "competence": null,
          "tags": ["2024"], "enemies": ["K-002"], "stimulus": "S-1",
          "key": {"correct": 2}, "scoring": {},
          "versions": {
            "ru": {"state": "reviewed", "stem": "...", "options": ["...", "...", "...", "..."]}
          }
        }
      ]
    }

``key`` and ``scoring`` are as in :mod:`item_bank.items`; lists in them come back as lists. In a hand-written
file ``stimuli``, ``status`` (``"draft"``), ``domain``, ``topic``, ``competence``, ``stimulus`` (null),
``tags``, ``enemies``, ``scoring`` (empty) and a version's ``state`` (``"draft"``) may be left out; unknown
fields are errors, since a misspelt field would otherwise be dropped without a word.

:func:`dumps_items` writes what it is given without validating it (a backup should hold even an item that a
later rule rejects); :func:`loads_items` validates everything and returns either all items or none.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
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
from item_bank.items import LANGUAGES, ItemSpec, LanguageVersion, Stimulus

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "dumps_items", "loads_items"]

FORMAT_NAME: Final = "tandau-items"
FORMAT_VERSION: Final = 1

_TOP_FIELDS: Final = ("format", "version", "stimuli", "items")
_ITEM_FIELDS: Final = (
    "code",
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
    "versions",
)
_VERSION_FIELDS: Final = ("state", "stem", "options")
_STIMULUS_FIELDS: Final = ("code", "texts", "title")


def _language_order(languages: Iterable[str]) -> list[str]:
    known = [lang for lang in LANGUAGES if lang in languages]
    return known + sorted(lang for lang in languages if lang not in LANGUAGES)


def _item_document(item: ItemSpec) -> dict[str, Any]:
    return {
        "code": item.code,
        "format": item.format,
        "status": item.status,
        "domain": item.domain,
        "topic": item.topic,
        "competence": item.competence,
        "tags": list(item.tags),
        "enemies": list(item.enemies),
        "stimulus": item.stimulus,
        "key": {name: item.key[name] for name in sorted(item.key)},
        "scoring": {name: item.scoring[name] for name in sorted(item.scoring)},
        "versions": {
            lang: {
                "state": item.versions[lang].state,
                "stem": item.versions[lang].stem,
                "options": list(item.versions[lang].options),
            }
            for lang in _language_order(item.versions)
        },
    }


def _stimulus_document(stimulus: Stimulus) -> dict[str, Any]:
    return {
        "code": stimulus.code,
        "texts": {lang: stimulus.texts[lang] for lang in _language_order(stimulus.texts)},
        "title": {lang: stimulus.title[lang] for lang in _language_order(stimulus.title)},
    }


def dumps_items(items: Iterable[ItemSpec], stimuli: Iterable[Stimulus] = ()) -> str:
    """The native JSON document of ``items`` and ``stimuli``, in the order given.

    Returns
    -------
    str
        Indented JSON with non-ASCII text as is (Kazakh and Russian stay readable); encode it as UTF-8.
    """
    document = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "stimuli": [_stimulus_document(stimulus) for stimulus in stimuli],
        "items": [_item_document(item) for item in items],
    }
    return json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


class _NonFiniteNumberError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    raise _NonFiniteNumberError(name)


def _parse_json(source: str, filename: str) -> tuple[Any, list[ImportProblem]]:
    duplicates: list[ImportProblem] = []

    def object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, value in pairs:
            if name in result:
                message = f"appears twice in one object (values {result[name]!r} and {value!r})"
                duplicates.append(ImportProblem(filename, None, name, message))
            result[name] = value
        return result

    def fail(message: str, line: int | None = None) -> ImportFailed:
        return ImportFailed([ImportProblem(filename, None, None, message, line)])

    try:
        document = json.loads(
            source, object_pairs_hook=object_without_duplicates, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON: {exc.msg} (column {exc.colno})", exc.lineno) from None
    except _NonFiniteNumberError as exc:
        raise fail(f"not valid JSON: {exc.args[0]!r} is not a number JSON allows") from None
    except RecursionError:
        raise fail("not valid JSON: nested too deeply") from None
    except ValueError as exc:  # integers with more digits than Python converts
        raise fail(f"not valid JSON: {exc}") from None
    return document, duplicates


def _type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


class _Fields:
    """Typed access to one JSON object's fields, recording a problem for each field of the wrong type."""

    def __init__(self, obj: Mapping[str, Any], allowed: Iterable[str], prefix: str, locate: Locate) -> None:
        self.obj = obj
        self.prefix = prefix
        self.locate = locate
        self.problems: list[ImportProblem] = []
        for name in obj:
            if name not in allowed:
                self.problem(name, f"is not a known field; expected some of {list(allowed)}")

    def problem(self, name: str, message: str) -> None:
        self.problems.append(self.locate(self.prefix + name, message))

    def wrong_type(self, name: str, expected: str) -> None:
        value = self.obj[name]
        self.problem(name, f"must be {expected}, got {_type_name(value)} {value!r}")

    def text(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        if name not in self.obj:
            if required:
                self.problem(name, "is missing")
            return default
        value = self.obj[name]
        if isinstance(value, str):
            return value
        self.wrong_type(name, "a string")
        return default

    def optional_text(self, name: str) -> str | None:
        if self.obj.get(name) is None:
            return None
        return self.text(name)

    def texts(self, name: str) -> tuple[str, ...]:
        value = self.obj.get(name, [])
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        self.wrong_type(name, "an array of strings")
        return ()

    def mapping(self, name: str, *, required: bool = False) -> dict[str, Any]:
        if name not in self.obj:
            if required:
                self.problem(name, "is missing")
            return {}
        value = self.obj[name]
        if isinstance(value, dict):
            return value
        self.wrong_type(name, "an object")
        return {}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_version(
    lang: str, value: Any, locate: Locate
) -> tuple[LanguageVersion | None, list[ImportProblem]]:
    where = f"versions.{lang}"
    if not isinstance(value, dict):
        found = f"{_type_name(value)} {value!r}"
        return None, [locate(where, f"must be an object with stem, options and state, got {found}")]
    fields = _Fields(value, _VERSION_FIELDS, where + ".", locate)
    stem = fields.text("stem", required=True)
    options = value.get("options")
    if "options" not in value:
        fields.problem("options", "is missing")
    elif not (isinstance(options, list) and all(isinstance(o, str) for o in options)):
        fields.wrong_type("options", "an array of strings")
    state = fields.text("state", "draft")
    if fields.problems or stem is None or state is None:
        return None, fields.problems
    return LanguageVersion(stem=stem, options=tuple(options or ()), state=state), []


def _parse_item(obj: Any, locate: Locate) -> tuple[ItemSpec | None, list[ImportProblem]]:
    if not isinstance(obj, dict):
        return None, [locate(None, f"must be an object, got {_type_name(obj)} {obj!r}")]
    fields = _Fields(obj, _ITEM_FIELDS, "", locate)
    code = fields.text("code", required=True)
    item_format = fields.text("format", required=True)
    status = fields.text("status", "draft")
    domain, topic, competence = (fields.optional_text(name) for name in ("domain", "topic", "competence"))
    stimulus = fields.optional_text("stimulus")
    tags, enemies = fields.texts("tags"), fields.texts("enemies")
    key = fields.mapping("key", required=True)
    for name, value in key.items():
        if not (_is_int(value) or (isinstance(value, list) and all(_is_int(v) for v in value))):
            fields.problem(f"key.{name}", f"must be an integer or an array of integers, got {value!r}")
    scoring = fields.mapping("scoring")
    for name, value in scoring.items():
        if not isinstance(value, str | int | float | bool):
            fields.problem(f"scoring.{name}", f"must be a string, number or boolean, got {value!r}")
    versions: dict[str, LanguageVersion] = {}
    problems = fields.problems
    for lang, value in fields.mapping("versions", required=True).items():
        version, version_problems = _parse_version(lang, value, locate)
        problems.extend(version_problems)
        if version is not None:
            versions[lang] = version
    if problems or code is None or item_format is None or status is None:
        return None, problems
    item = ItemSpec(
        code=code,
        format=item_format,
        versions=versions,
        key=key,
        status=status,
        domain=domain,
        topic=topic,
        competence=competence,
        tags=tags,
        enemies=enemies,
        stimulus=stimulus,
        scoring=scoring,
    )
    return item, validation_problems(item, locate)


def _parse_stimulus(obj: Any, position: str, filename: str) -> tuple[Stimulus | None, list[ImportProblem]]:
    def locate(field: str | None, message: str) -> ImportProblem:
        return ImportProblem(filename, None, position if field is None else f"{position}.{field}", message)

    if not isinstance(obj, dict):
        return None, [locate(None, f"must be an object, got {_type_name(obj)} {obj!r}")]
    fields = _Fields(obj, _STIMULUS_FIELDS, "", locate)
    code = fields.text("code", required=True)
    maps = {name: fields.mapping(name, required=name == "texts") for name in ("texts", "title")}
    for name, mapping in maps.items():
        for lang, value in mapping.items():
            if not isinstance(value, str):
                fields.problem(f"{name}.{lang}", f"must be a string, got {_type_name(value)} {value!r}")
    if fields.problems or code is None:
        return None, fields.problems
    stimulus = Stimulus(code=code, texts=maps["texts"], title=maps["title"])
    found = stimulus_problems(stimulus)
    return stimulus, [locate(field, f"{message} (stimulus {code!r})") for field, message in found]


def _array(document: Mapping[str, Any], name: str, filename: str, problems: list[ImportProblem]) -> list[Any]:
    value = document.get(name, [])
    if isinstance(value, list):
        return value
    message = f"must be an array, got {_type_name(value)} {value!r}"
    problems.append(ImportProblem(filename, None, name, message))
    return []


def _codes(document: Mapping[str, Any], name: str) -> set[str]:
    entries = document.get(name)
    if not isinstance(entries, list):
        return set()
    return {obj["code"] for obj in entries if isinstance(obj, dict) and isinstance(obj.get("code"), str)}


def loads_items(
    text: str | bytes,
    filename: str = "items.json",
    *,
    known_codes: Collection[str] = (),
    known_stimuli: Collection[str] = (),
) -> tuple[list[ItemSpec], list[Stimulus]]:
    """Items and stimuli of a native JSON document, all validated.

    Parameters
    ----------
    text : str or bytes
        The document; bytes must be UTF-8 (a byte-order mark is allowed).
    filename : str
        Name used in problem reports.
    known_codes, known_stimuli : collection of str
        Codes of items and stimuli already in the bank: enemies and stimulus references may point to them as
        well as into the file.

    Returns
    -------
    items : list of ItemSpec
        In file order.
    stimuli : list of Stimulus
        In file order.

    Raises
    ------
    ImportFailed
        Listing every problem: JSON syntax (with its line), wrong types, unknown fields, items that fail
        :meth:`ItemSpec.validate`, codes used twice, enemies and stimuli that point nowhere.
    """
    document, problems = _parse_json(decode_text(text, filename), filename)
    if not isinstance(document, dict):
        message = f"must be a JSON object, got {_type_name(document)}"
        problems.append(ImportProblem(filename, None, None, message))
        raise ImportFailed(problems)
    if document.get("format") != FORMAT_NAME:
        message = f"must be {FORMAT_NAME!r} (a Tandau item file), got {document.get('format')!r}"
        problems.append(ImportProblem(filename, None, "format", message))
    version = document.get("version")
    if version != FORMAT_VERSION:
        newer = (
            " (written by a newer Tandau)" if isinstance(version, int) and version > FORMAT_VERSION else ""
        )
        message = f"must be {FORMAT_VERSION}{newer}, got {version!r}"
        problems.append(ImportProblem(filename, None, "version", message))
    if problems:
        raise ImportFailed(problems)
    for name in document:
        if name not in _TOP_FIELDS:
            message = f"is not a known field; expected {list(_TOP_FIELDS)}"
            problems.append(ImportProblem(filename, None, name, message))
    if "items" not in document:
        problems.append(ImportProblem(filename, None, "items", "is missing"))

    stimuli: list[Stimulus] = []
    for index, obj in enumerate(_array(document, "stimuli", filename, problems)):
        parsed, stimulus_found = _parse_stimulus(obj, f"stimuli[{index}]", filename)
        problems.extend(stimulus_found)
        if parsed is not None:
            stimuli.append(parsed)
    for stimulus_code, count in Counter(s.code for s in stimuli).items():
        if count > 1:
            message = f"stimulus code {stimulus_code!r} is used {count} times"
            problems.append(ImportProblem(filename, None, "stimuli", message))

    items: list[tuple[ItemSpec, Locate]] = []
    first_index: dict[str, int] = {}
    for index, obj in enumerate(_array(document, "items", filename, problems)):
        code = obj.get("code") if isinstance(obj, dict) else None
        label = code if isinstance(code, str) and code.strip() else f"items[{index}]"

        def locate(field: str | None, message: str, label: str = label) -> ImportProblem:
            return ImportProblem(filename, label, field, message)

        item, found = _parse_item(obj, locate)
        problems.extend(found)
        if item is None:
            continue
        if item.code in first_index:
            message = f"code {item.code!r} is already used by items[{first_index[item.code]}]"
            problems.append(locate("code", message))
        first_index.setdefault(item.code, index)
        items.append((item, locate))
    # Items and stimuli refused for other problems are still in the file: references to them are fine.
    stimulus_codes = _codes(document, "stimuli")
    problems.extend(
        reference_problems(items, stimulus_codes, {*known_codes, *_codes(document, "items")}, known_stimuli)
    )
    if problems:
        raise ImportFailed(problems)
    return [item for item, _ in items], stimuli
