"""Native JSON item files: lossless round trip, and imports that report every problem and change nothing."""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from item_bank.formats.errors import ImportFailed, ImportProblem
from item_bank.formats.items_json import FORMAT_NAME, dumps_items, loads_items
from item_bank.items import LANGUAGES, TRANSLATION_STATES, ItemSpec, LanguageVersion, Stimulus


def sample_stimuli() -> list[Stimulus]:
    return [
        Stimulus(
            code="CASE-1",
            texts={
                "kk": "Азамат Б. сотқа талап арыз берді.\nЖауапкер шартты орындамады.",
                "ru": "Гражданин Б. подал иск в суд.\nОтветчик не исполнил договор.",
                "en": "Mr B. filed a claim.\nThe defendant did not perform the contract.",
            },
            title={"ru": "Дело о договоре", "en": "The contract case"},
        )
    ]


def _version(stem: str, options: list[str], state: str = "reviewed") -> LanguageVersion:
    return LanguageVersion(stem=stem, options=tuple(options), state=state)


def sample_bank() -> list[ItemSpec]:
    """One item of every format, in kk/ru/en, with tags, enemies, a shared stimulus and scoring options."""
    return [
        ItemSpec(
            code="K-001",
            format="single_best",
            versions={
                "kk": _version(
                    "Талап қою мерзімі қанша?", ["1 жыл", "2 жыл", "3 жыл", "10 жыл"], "translated"
                ),
                "ru": _version("Каков общий срок исковой давности?", ["1 год", "2 года", "3 года", "10 лет"]),
                "en": _version(
                    "What is the general limitation period?",
                    ["1 year", "2 years", "3 years", "10 years"],
                    "draft",
                ),
            },
            key={"correct": 2},
            status="operational",
            domain="civil",
            topic="limitation",
            tags=("2024", "civil-code"),
            enemies=("K-002",),
            stimulus="CASE-1",
        ),
        ItemSpec(
            code="K-002",
            format="single_best",
            versions={
                "ru": _version(
                    "Кто рассматривает дело?\nВыберите один ответ.",
                    ["Суд", "Прокурор", "Нотариус", "Аким", "Полиция"],
                ),
                "en": _version(
                    "Who hears the case?\nChoose one answer.",
                    ["Court", "Prosecutor", "Notary", "Akim", "Police"],
                ),
            },
            key={"correct": 0},
            status="pretest",
            domain="civil-procedure",
            enemies=("K-001",),
        ),
        ItemSpec(
            code="S-001",
            format="sjt_rate",
            versions={
                lang: _version(
                    f"{lang}: A party interrupts the hearing.", [f"{lang} option {i}" for i in range(4)]
                )
                for lang in LANGUAGES
            },
            key={"ratings": [1, 4, 2, 3]},
            status="review",
            competence="integrity",
            tags=("hearing",),
            stimulus="CASE-1",
            scoring={"rule": "exact"},
        ),
        ItemSpec(
            code="S-002",
            format="sjt_rate",
            versions={"ru": _version("Коллега просит совета.", [f"Вариант {i}" for i in range(1, 7)])},
            key={"ratings": [4, 3, 3, 2, 1, 1]},
            competence="communication",
        ),
        ItemSpec(
            code="S-003",
            format="sjt_most_least",
            versions={
                "kk": _version("Тарап сот отырысын бұзады.", [f"Нұсқа {i}" for i in range(1, 6)]),
                "ru": _version("Сторона нарушает порядок.", [f"Вариант {i}" for i in range(1, 6)]),
            },
            key={"most": 1, "least": 3},
            status="pretest",
            competence="integrity",
        ),
        ItemSpec(
            code="S-004",
            format="sjt_rank",
            versions={
                lang: _version(f"{lang}: rank the actions.", [f"{lang} action {i}" for i in range(4)])
                for lang in LANGUAGES
            },
            key={"rank": [2, 1, 4, 3]},
            competence="judgement",
            enemies=("S-003",),
        ),
    ]


def problems_of(call) -> list[ImportProblem]:
    with pytest.raises(ImportFailed) as caught:
        call()
    return caught.value.problems


def document() -> dict:
    return json.loads(dumps_items(sample_bank(), sample_stimuli()))


def load(doc: dict, **kwargs):
    return loads_items(json.dumps(doc, ensure_ascii=False), "bank.json", **kwargs)


# Round trip and layout --------------------------------------------------------------------------------


def test_every_format_round_trips_with_languages_stimuli_tags_and_enemies():
    items, stimuli = loads_items(dumps_items(sample_bank(), sample_stimuli()))
    assert items == sample_bank()
    assert stimuli == sample_stimuli()
    assert {item.format for item in items} == {"single_best", "sjt_rate", "sjt_most_least", "sjt_rank"}


def test_document_has_the_documented_header_and_field_order():
    doc = document()
    assert list(doc) == ["format", "version", "stimuli", "items"]
    assert doc["format"] == FORMAT_NAME and doc["version"] == 1
    assert list(doc["items"][0]) == [
        "code", "format", "status", "domain", "topic", "competence", "tags", "enemies", "stimulus", "key",
        "scoring", "versions",
    ]  # fmt: skip
    assert list(doc["items"][0]["versions"]) == ["kk", "ru", "en"]
    assert list(doc["stimuli"][0]) == ["code", "texts", "title"]


def test_output_is_stable_and_keeps_cyrillic_readable():
    text = dumps_items(sample_bank(), sample_stimuli())
    assert text == dumps_items(sample_bank(), sample_stimuli())
    assert "Каков общий срок" in text and "\\u" not in text


def test_utf8_bytes_with_a_byte_order_mark_are_read():
    data = "\ufeff".encode() + dumps_items(sample_bank(), sample_stimuli()).encode("utf-8")
    assert loads_items(data)[0] == sample_bank()


def test_optional_fields_may_be_left_out_of_a_hand_written_file():
    doc = {
        "format": FORMAT_NAME,
        "version": 1,
        "items": [
            {
                "code": "K-9",
                "format": "single_best",
                "domain": "civil",
                "key": {"correct": 0},
                "versions": {"ru": {"stem": "Вопрос?", "options": ["а", "б", "в", "г"]}},
            }
        ],
    }
    (item,), stimuli = load(doc)
    assert item.status == "draft" and item.versions["ru"].state == "draft" and stimuli == []


# Problems ------------------------------------------------------------------------------------------


def test_problem_reads_as_file_line_item_field_message():
    problem = ImportProblem("bank.csv", "K-001", "key", "must be A to D, got 'G'", line=7)
    assert str(problem) == "bank.csv:7: item K-001: field key: must be A to D, got 'G'"
    assert str(ImportProblem("bank.json", None, None, "is empty")) == "bank.json: is empty"


def test_import_failed_lists_one_line_per_problem_and_survives_pickling():
    problems = [ImportProblem("a.json", "K-1", "code", "one"), ImportProblem("a.json", "K-2", "key", "two")]
    failure = ImportFailed(problems)
    assert str(failure).splitlines() == [str(p) for p in problems]
    assert pickle.loads(pickle.dumps(failure)).problems == problems  # noqa: S301 - bytes made just above


def test_syntax_error_names_the_line():
    text = '{\n  "format": "tandau-items",\n  "version": 1,\n  "items": [,]\n}'
    (problem,) = problems_of(lambda: loads_items(text, "bank.json"))
    assert (problem.file, problem.line) == ("bank.json", 4)
    assert "not valid JSON" in problem.message


@pytest.mark.parametrize(
    ("header", "field", "fragment"),
    [
        ({"format": "qti"}, "format", "'qti'"),
        ({"version": 2}, "version", "newer Tandau"),
        ({"version": "1"}, "version", "'1'"),
    ],
)
def test_foreign_or_newer_documents_are_refused(header, field, fragment):
    doc = document() | header
    (problem,) = problems_of(lambda: load(doc))
    assert problem.field == field and fragment in problem.message


def test_every_problem_of_every_item_is_reported_at_once_and_nothing_is_returned():
    doc = document()
    doc["items"][0]["key"] = {"correct": 7}
    doc["items"][1]["tags"] = "civil"
    doc["items"][2]["versions"]["ru"]["options"] = "not a list"
    doc["items"][3]["stme"] = "typo"
    doc["items"][4]["versions"]["ru"]["stem"] = "   "
    doc["items"][5]["key"] = {"rank": [1, "2", 3, 4]}
    problems = problems_of(lambda: load(doc))
    found = {(p.item, p.field) for p in problems}
    assert found == {
        ("K-001", "key.correct"),
        ("K-002", "tags"),
        ("S-001", "versions.ru.options"),
        ("S-002", "stme"),
        ("S-003", "versions.ru.stem"),
        ("S-004", "key.rank"),
    }
    assert all(p.file == "bank.json" for p in problems)
    assert "got 7" in next(p.message for p in problems if p.field == "key.correct")


def test_wrong_types_name_the_type_and_value():
    doc = document()
    doc["items"][0]["domain"] = 12
    (problem,) = problems_of(lambda: load(doc))
    assert problem.field == "domain" and problem.message == "must be a string, got number 12"


def test_an_item_that_is_not_an_object_is_named_by_its_position():
    doc = document()
    doc["items"].append(["K-9"])
    (problem,) = problems_of(lambda: load(doc))
    assert problem.item == "items[6]" and "must be an object" in problem.message


def test_a_code_used_twice_is_refused():
    doc = document()
    doc["items"].append(doc["items"][1])
    (problem,) = problems_of(lambda: load(doc))
    assert (problem.item, problem.field) == ("K-002", "code") and "items[1]" in problem.message


def test_a_key_given_twice_in_one_object_is_refused():
    text = dumps_items(sample_bank()[:1]).replace(
        '"status": "operational"', '"status": "draft", "status": "retired"'
    )
    (problem,) = problems_of(lambda: loads_items(text, "bank.json"))
    assert problem.field == "status" and "twice" in problem.message


def test_nan_is_refused():
    text = dumps_items(sample_bank()[:1]).replace('"scoring": {}', '"scoring": {"weight": NaN}')
    (problem,) = problems_of(lambda: loads_items(text, "bank.json"))
    assert "NaN" in problem.message


def test_enemies_and_stimuli_must_point_into_the_file_or_the_bank():
    items = sample_bank()
    text = dumps_items(items[:1])  # K-001 names enemy K-002 and stimulus CASE-1, neither in this file
    problems = problems_of(lambda: loads_items(text, "one.json"))
    assert {(p.item, p.field) for p in problems} == {("K-001", "enemies"), ("K-001", "stimulus")}
    assert "'K-002'" in str(problems[0])
    loaded, _ = loads_items(text, known_codes={"K-002"}, known_stimuli={"CASE-1"})
    assert loaded == items[:1]


def test_stimulus_problems_name_their_place():
    doc = document()
    doc["stimuli"].append({"code": "CASE-2", "texts": {"de": "Fall", "ru": " "}})
    doc["stimuli"].append(doc["stimuli"][0])
    problems = problems_of(lambda: load(doc))
    assert {p.field for p in problems} == {"stimuli[1].texts.de", "stimuli[1].texts.ru", "stimuli"}


def test_non_utf8_bytes_are_refused_with_the_line():
    data = dumps_items(sample_bank()[:1]).encode("utf-8").replace("Каков".encode(), "Каков".encode("cp1251"))
    (problem,) = problems_of(lambda: loads_items(data, "bank.json"))
    assert problem.line is not None and "UTF-8" in problem.message


# Properties ----------------------------------------------------------------------------------------

_text = st.text(min_size=1, max_size=20).filter(lambda s: s.strip())
_words = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)


@st.composite
def banks(draw, text=_text, words=_words):
    """Valid banks: items of every format with 1-3 languages, enemies within the bank, optional stimuli."""
    n_items = draw(st.integers(1, 5))
    codes = [f"I-{i}" for i in range(n_items)]
    stimuli = [
        Stimulus(code=f"ST-{i}", texts=draw(st.dictionaries(st.sampled_from(LANGUAGES), text, min_size=1)),
                 title=draw(st.dictionaries(st.sampled_from(LANGUAGES), words)))
        for i in range(draw(st.integers(0, 2)))
    ]  # fmt: skip
    items = []
    for code in codes:
        item_format = draw(st.sampled_from(["single_best", "sjt_rate", "sjt_most_least", "sjt_rank"]))
        n = draw(st.integers(4, 5) if item_format == "single_best" else st.integers(4, 6))
        languages = draw(st.lists(st.sampled_from(LANGUAGES), min_size=1, max_size=3, unique=True))
        versions = {
            lang: LanguageVersion(draw(text), tuple(draw(st.lists(text, min_size=n, max_size=n))),
                                  draw(st.sampled_from(TRANSLATION_STATES)))
            for lang in languages
        }  # fmt: skip
        if item_format == "single_best":
            key = {"correct": draw(st.integers(0, n - 1))}
        elif item_format == "sjt_rate":
            key = {"ratings": draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))}
        elif item_format == "sjt_most_least":
            most, least = draw(st.lists(st.integers(0, n - 1), min_size=2, max_size=2, unique=True))
            key = {"most": most, "least": least}
        else:
            key = {"rank": draw(st.permutations(list(range(1, n + 1))))}
        knowledge = item_format == "single_best"
        items.append(
            ItemSpec(
                code=code,
                format=item_format,
                versions=versions,
                key=key,
                status=draw(st.sampled_from(["draft", "review", "pretest", "operational", "retired"])),
                domain=draw(words) if knowledge else draw(st.none() | words),
                topic=draw(st.none() | words),
                competence=None if knowledge else draw(words),
                tags=tuple(draw(st.lists(words, max_size=3))),
                enemies=tuple(
                    draw(st.lists(st.sampled_from(codes).filter(lambda c, me=code: c != me), max_size=2))
                ),
                stimulus=draw(st.none() | st.sampled_from([s.code for s in stimuli])) if stimuli else None,
                scoring=draw(st.sampled_from([{}, {"rule": "exact"}, {"rule": "graded"}]))
                if item_format == "sjt_rate"
                else {},
            )
        )
    return items, stimuli


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(banks())
def test_any_valid_bank_round_trips_exactly(bank):
    items, stimuli = bank
    assert loads_items(dumps_items(items, stimuli)) == (items, stimuli)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 5),
    st.sampled_from(
        ["code", "format", "status", "tags", "key", "scoring", "versions", "stimulus", "enemies"]
    ),
    _json_values,
)
def test_any_damaged_field_gives_import_failed_and_never_a_crash(index, field, value):
    doc = document()
    doc["items"][index][field] = value
    try:
        load(doc)
    except ImportFailed as failure:
        problems = failure.problems
    else:
        return
    assert problems and all(p.file == "bank.json" for p in problems)
